"""`parallelize` with DDP and FSDP2 on 2 gloo ranks: a few AdamW steps on a global batch of 4
packs (2 per rank) give the single-process weights within 1e-5 in fp32; also checkpointing."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from dist_fixtures import make_pack, model_args, tiny_dit
from torch.distributed.tensor import DTensor

from chronotope.distributed.launch import spawn
from chronotope.distributed.parallelize import global_sample_mean, parallelize
from chronotope.errors import UsageError
from chronotope.flow import flow_loss

TOL, STEPS = 1e-5, 3
# packs of different shapes and sample counts (2 and 1 samples): the mean must be over samples
PACKS = [
    dict(seed=10),
    dict(seed=11, grids=((2, 2, 3), (1, 2, 2)), text_lens=(4, 1)),
    dict(seed=12, grids=((4, 2, 2),), text_lens=(3,)),
    dict(seed=13, grids=((1, 3, 3), (2, 1, 2), (1, 1, 1)), text_lens=(2, 2, 2)),
]


def _packs(step: int) -> list[dict]:
    return [make_pack(**{**p, "seed": p["seed"] + 100 * step}) for p in PACKS]


def _pack_loss(model, pack) -> tuple[torch.Tensor, int]:
    out = model(*model_args(pack))
    loss, _ = flow_loss(out, pack["target"], pack["weight"], pack["segments"])
    n = pack["segments"].num_samples
    return loss * n, n  # sum of per-sample losses (every sample here has a target)


def _optimizer(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, foreach=False)


def _train(model, packs_of_step, loss_of) -> None:
    opt = _optimizer(model)
    for step in range(STEPS):
        loss = loss_of(model, packs_of_step(step))
        opt.zero_grad()
        loss.backward()
        opt.step()


def _oracle() -> dict[str, torch.Tensor]:
    model = tiny_dit()

    def loss_of(m, packs):
        sums = [_pack_loss(m, p) for p in packs]
        return sum(s for s, _ in sums) / sum(n for _, n in sums)

    _train(model, _packs, loss_of)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rank(rank: int, world: int, mode: str, ckpt: bool, path: str) -> None:
    model = parallelize(tiny_dit(), mode=mode, activation_checkpointing=ckpt)

    def loss_of(m, packs):
        sums = [_pack_loss(m, p) for p in packs[rank::world]]  # this rank's half of the packs
        return global_sample_mean(sum(s for s, _ in sums), sum(n for _, n in sums))

    _train(model, _packs, loss_of)
    inner = model.module if mode == "ddp" else model
    state = {}
    for k, v in inner.state_dict().items():
        state[k] = v.full_tensor() if isinstance(v, DTensor) else v  # FSDP2: all-gather shards
    if mode == "fsdp":
        assert isinstance(next(inner.blocks[0].parameters()), DTensor)  # really sharded
    if rank == 0:
        torch.save({k: v.detach() for k, v in state.items()}, path)
    dist.barrier()


@pytest.mark.parametrize(("mode", "ckpt"), [("ddp", False), ("fsdp", True)])
def test_data_parallel_matches_single_process(tmp_path, mode, ckpt):
    path = str(tmp_path / "weights.pt")
    spawn(_rank, 2, mode, ckpt, path)
    got, want = torch.load(path), _oracle()
    assert got.keys() == want.keys()
    start = tiny_dit().state_dict()
    for k, w in want.items():
        torch.testing.assert_close(got[k], w, rtol=0, atol=TOL, msg=k)
    assert any((want[k] - start[k]).abs().max() > 1e-4 for k in want)  # training moved them


def test_parallelize_rejects_unknown_options():
    with pytest.raises(UsageError, match="unknown parallel mode"):
        parallelize(tiny_dit(depth=1), mode="tp")
    with pytest.raises(UsageError, match="mixed_precision"):
        parallelize(tiny_dit(depth=1), mode="none", mixed_precision=torch.bfloat16)
