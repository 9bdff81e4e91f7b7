"""The `Trainer` on 2 gloo ranks (DDP, FSDP2, Ulysses sequence parallel) equals the
one-process trainer on the same global batch within 1e-5 in fp32. 4 packs per step: each rank
accumulates 2 packs (no gradient sync on the first) under DDP / FSDP2."""

from __future__ import annotations

import pytest
import torch
from dist_fixtures import make_trainer, trainer_state

from chronotope.distributed.launch import spawn

TOL, STEPS, PACKS = 1e-5, 3, 4


def _rank(rank: int, world: int, out: str, kwargs: dict, path: str) -> None:
    trainer = make_trainer(out, steps=STEPS, packs_per_step=PACKS, **kwargs)
    assert len(trainer.next_batch().packs) == (PACKS if trainer.sequence_parallel else 2)
    trainer = make_trainer(out, steps=STEPS, packs_per_step=PACKS, **kwargs)  # afresh
    result = trainer.run()
    state = trainer_state(trainer)
    if rank == 0:
        torch.save({"state": state, "loss": result.loss}, path)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle")
    trainer = make_trainer(out, steps=STEPS, packs_per_step=PACKS)
    result = trainer.run()
    init = make_trainer(tmp_path_factory.mktemp("init"), packs_per_step=PACKS)
    return trainer_state(trainer), result.loss, trainer_state(init)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"parallel": "ddp"},
        {"parallel": "fsdp", "activation_checkpointing": True},
        {"sequence_parallel": True},
    ],
    ids=["ddp", "fsdp", "sequence"],
)
def test_two_ranks_match_one_process(tmp_path, oracle, kwargs):
    want, want_loss, init = oracle
    path = str(tmp_path / "rank0.pt")
    spawn(_rank, 2, str(tmp_path / "run"), kwargs, path)
    got = torch.load(path)
    assert got["state"].keys() == want.keys()
    for k, w in want.items():
        torch.testing.assert_close(got["state"][k], w, rtol=0, atol=TOL, msg=k)
    assert got["loss"] == pytest.approx(want_loss, abs=TOL)
    assert any((want[k] - init[k]).abs().max() > 1e-3 for k in want)  # training moved them
    final = tmp_path / "run" / "final" / "transformer" / "diffusion_pytorch_model.safetensors"
    assert final.is_file()
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == STEPS + 1  # rank 0
