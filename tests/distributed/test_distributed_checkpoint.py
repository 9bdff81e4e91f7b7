"""DCP checkpoints: saved by 2 FSDP2 ranks (sharded weights + AdamW state), loaded by one
plain process equal the full state; the newest complete folder wins; export is safetensors."""

from __future__ import annotations

import pytest
import torch
from dist_fixtures import make_pack, model_args, tiny_dit
from torch.distributed.tensor import DTensor

from chronotope.distributed.checkpoint import (
    export_pretrained,
    latest_complete,
    load_sharded,
    save_sharded,
)
from chronotope.distributed.launch import spawn
from chronotope.distributed.parallelize import parallelize
from chronotope.errors import CorruptFileError
from chronotope.model import DiT


def _full(t):
    return t.full_tensor() if isinstance(t, DTensor) else t


def _step(model, opt) -> None:
    pack = make_pack(seed=5)
    model(*model_args(pack)).square().mean().backward()
    opt.step()


def _rank(rank: int, world: int, root: str, expected: str) -> None:
    model = parallelize(tiny_dit(), mode="fsdp")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=False)
    _step(model, opt)
    save_sharded(root, 1, model, opt, meta={"note": "fsdp"})
    weights = {k: _full(v).detach() for k, v in model.state_dict().items()}
    moments = {n: _full(opt.state[p]["exp_avg"]).detach() for n, p in model.named_parameters()}
    if rank == 0:
        torch.save({"weights": weights, "exp_avg": moments}, expected)


def test_save_on_two_load_on_one(tmp_path):
    root, expected = tmp_path / "ckpt", str(tmp_path / "expected.pt")
    spawn(_rank, 2, str(root), expected)
    want = torch.load(expected)
    path = latest_complete(root)
    assert path is not None and path.name == "step-00000001"
    assert len(list(path.glob("*.distcp"))) == 2  # one shard file per rank

    model = tiny_dit(seed=123)  # different weights: the load must overwrite them all
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    meta = load_sharded(path, model, opt)  # one process, no process group
    assert meta == {"step": 1, "note": "fsdp"}
    for k, w in want["weights"].items():
        torch.testing.assert_close(model.state_dict()[k], w, rtol=0, atol=0, msg=k)
    for n, p in model.named_parameters():
        torch.testing.assert_close(opt.state[p]["exp_avg"], want["exp_avg"][n], rtol=0, atol=0)

    out = export_pretrained(path, tiny_dit(seed=7), tmp_path / "export")
    assert (out / "diffusion_pytorch_model.safetensors").exists()
    reloaded = DiT.from_pretrained(out)
    for k, w in want["weights"].items():
        torch.testing.assert_close(reloaded.state_dict()[k], w, rtol=0, atol=0, msg=k)


def test_incomplete_folders_are_skipped(tmp_path):
    model = tiny_dit(depth=1)
    save_sharded(tmp_path, 3, model)  # no process group: one process writes all
    newer = tmp_path / "step-00000009"  # a run killed before its marker
    newer.mkdir()
    assert latest_complete(tmp_path) == tmp_path / "step-00000003"
    with pytest.raises(CorruptFileError, match="completion marker"):
        load_sharded(newer, model)
