"""DCP checkpoints: saved by 2 FSDP2 ranks (sharded weights + AdamW state), loaded by one
plain process equal the full state; no file of a checkpoint is a pickle; the newest complete
folder wins; export is safetensors."""

from __future__ import annotations

import pytest
import torch
from dist_fixtures import assert_no_pickle, make_pack, model_args, tiny_dit
from safetensors.torch import load_file, save_file
from torch.distributed.tensor import DTensor

from chronotope.distributed.checkpoint import (
    export_pretrained,
    latest_complete,
    load_files,
    load_sharded,
    save_sharded,
)
from chronotope.distributed.launch import spawn
from chronotope.distributed.parallelize import parallelize
from chronotope.errors import CorruptFileError, UsageError
from chronotope.model import DiT
from chronotope.utils.checkpoint import MARKER


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
    weights = {f"weights.{k}": _full(v).detach() for k, v in model.state_dict().items()}
    moments = {
        f"exp_avg.{n}": _full(opt.state[p]["exp_avg"]).detach() for n, p in model.named_parameters()
    }
    if rank == 0:
        save_file({**weights, **moments}, expected)


def test_save_on_two_load_on_one(tmp_path):
    root, expected = tmp_path / "ckpt", str(tmp_path / "expected.safetensors")
    spawn(_rank, 2, str(root), expected)
    saved = load_file(expected)
    want = {
        part: {k[len(part) + 1 :]: v for k, v in saved.items() if k.startswith(f"{part}.")}
        for part in ("weights", "exp_avg")
    }
    path = latest_complete(root)
    assert path is not None and path.name == "step-00000001"
    assert len(list((path / "state").glob("*.safetensors"))) == 2  # one shard file per rank
    assert_no_pickle(path)

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


def test_one_process_round_trip_is_exact_and_pickle_free(tmp_path):
    """Model, AdamW (moments, step counters, hyperparameters: tuples stay tuples) and an extra
    state (EMA) come back bit for bit; the data files beside them too."""
    model = tiny_dit(depth=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1)
    _step(model, opt)
    _step(model, opt)
    ema = {n: p.detach() * 0.5 for n, p in model.named_parameters()}
    data = {"buffer": torch.arange(5)}
    path = save_sharded(tmp_path, 2, model, opt, extra={"ema": ema}, files={"data": data})
    assert_no_pickle(path)

    other = tiny_dit(depth=1, seed=9)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1.0)
    other_ema = {n: torch.zeros_like(t) for n, t in ema.items()}
    assert load_sharded(path, other, other_opt, extra={"ema": other_ema}) == {"step": 2}
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    for k, v in ema.items():
        assert torch.equal(other_ema[k], v), k
    mine, theirs = opt.state_dict(), other_opt.state_dict()
    assert theirs["param_groups"] == mine["param_groups"]
    assert theirs["param_groups"][0]["betas"] == (0.8, 0.95)
    for i, state in mine["state"].items():
        assert state["step"] == 2
        for k, v in state.items():
            assert torch.equal(theirs["state"][i][k], v), (i, k)
    assert torch.equal(load_files(path)["data"]["buffer"], data["buffer"])


def test_an_old_pickled_dcp_folder_is_refused_unread(tmp_path):
    """A folder of DCP's default storage (pickled .metadata) is named and never unpickled."""
    old = tmp_path / "step-00000001"
    old.mkdir()
    (old / ".metadata").write_bytes(b"\x80\x04 not read")
    (old / MARKER).write_text("ok\n")
    (old / "meta.json").write_text("{}")
    with pytest.raises(UsageError, match=r"\.metadata\) is a pickle, never unpickled"):
        load_sharded(old, tiny_dit(depth=1))


def test_a_checkpoint_of_another_model_is_one_error(tmp_path):
    """DCP's own error is a BaseException (no `except Exception` sees it): it arrives as one
    CorruptFileError naming the folder and the missing tensor."""
    path = save_sharded(tmp_path, 1, tiny_dit(depth=1))
    with pytest.raises(CorruptFileError, match=r"Missing key .*blocks\.1\."):
        load_sharded(path, tiny_dit(depth=2))
