"""Sharded training checkpoints: saved by 2 ranks, resumed on 1 rank and on 2 ranks, give the
weights of an uninterrupted run; a rank killed in the middle of a save leaves the previous
complete checkpoint, and resume picks it."""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch
from dist_fixtures import assert_no_pickle, make_trainer, trainer_state

from chronotope.distributed.checkpoint import is_sharded, latest_complete
from chronotope.distributed.launch import spawn
from chronotope.errors import UsageError

TOL = 1e-5
PACKS = 2  # packs per step: the global batch, the same on any number of ranks
HALF = "shard-00002-model-00001-of-00001.safetensors"  # rank 1's shard file


def _compare(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, w in want.items():
        torch.testing.assert_close(got[k], w, rtol=0, atol=TOL, msg=k)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    trainer = make_trainer(tmp_path_factory.mktemp("full"), packs_per_step=PACKS)
    assert trainer.run().step == 4
    return trainer_state(trainer)


def _train(rank: int, world: int, out: str, parallel: str, max_steps, path) -> None:
    trainer = make_trainer(out, parallel=parallel, packs_per_step=PACKS)
    trainer.run(max_steps=max_steps)
    state = trainer_state(trainer)
    if rank == 0 and path is not None:
        torch.save({"state": state, "resumed_from": str(trainer.resumed_from)}, path)


def test_saved_on_two_ranks_resumes_on_one_and_on_two(tmp_path, uninterrupted):
    first = tmp_path / "first"
    spawn(_train, 2, str(first), "fsdp", 2, None)  # paused after step 2: a checkpoint, no final
    ckpt = latest_complete(first / "checkpoints")
    assert ckpt is not None and ckpt.name == "step-00000002" and is_sharded(ckpt)
    assert len(list((ckpt / "state").glob("*.safetensors"))) == 2  # one shard per rank
    assert_no_pickle(ckpt)
    assert not (first / "final").exists()
    shutil.copytree(first, tmp_path / "second")

    one = make_trainer(first, packs_per_step=PACKS)  # one process, no process group
    assert one.step == 2 and one.resumed_from == ckpt
    one.run()
    _compare(trainer_state(one), uninterrupted)

    path = str(tmp_path / "two.pt")
    spawn(_train, 2, str(tmp_path / "second"), "ddp", None, path)
    got = torch.load(path)
    assert got["resumed_from"].endswith("step-00000002")
    _compare(got["state"], uninterrupted)

    with pytest.raises(UsageError, match="packs-per-step"):
        make_trainer(first, packs_per_step=1)


def _killed_in_save(rank: int, world: int, out: str) -> None:
    import torch.distributed.checkpoint as dcp

    real_save = dcp.save

    def save(state, *, checkpoint_id, **kw):
        if rank == 1 and "step-00000004" in str(checkpoint_id):
            (checkpoint_id / HALF).write_bytes(b"half a shard")
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no goodbye to the peers
        return real_save(state, checkpoint_id=checkpoint_id, **kw)

    dcp.save = save
    make_trainer(out, parallel="ddp", packs_per_step=PACKS).run()


def test_rank_killed_during_save_leaves_previous_checkpoint(tmp_path, uninterrupted):
    out = tmp_path / "run"
    with pytest.raises(Exception, match="signal|SIGKILL|exited"):
        spawn(_killed_in_save, 2, str(out))
    root = out / "checkpoints"
    assert (root / ".step-00000004.tmp" / "state" / HALF).exists()  # the half-written save
    assert not (root / "step-00000004").exists() and not (out / "final").exists()
    assert latest_complete(root) == root / "step-00000002"

    path = str(tmp_path / "resumed.pt")
    spawn(_train, 2, str(out), "ddp", None, path)
    got = torch.load(path)
    assert got["resumed_from"].endswith("step-00000002")
    _compare(got["state"], uninterrupted)
    assert latest_complete(root) == root / "step-00000004"
    assert not (root / ".step-00000004.tmp").exists()  # the rerun's save replaced it
