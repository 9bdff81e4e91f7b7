"""`spawn`: a rank that fails its work raises; one that gloo aborts while it tears down, after
every rank finished and met at the last barrier, does not (that is no failure of the work)."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from chronotope.distributed.launch import spawn


def _abort_at_exit(rank: int, world: int, out: str) -> None:
    Path(out, f"worked-{rank}").touch()
    if rank == 1:
        atexit.register(os.abort)  # SIGABRT once the work is done: a teardown crash


def _abort_in_work(rank: int, world: int, out: str) -> None:
    if rank == 1:
        os.abort()
    Path(out, f"worked-{rank}").touch()


def test_an_abort_in_teardown_after_the_work_is_no_failure(tmp_path):
    spawn(_abort_at_exit, 2, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worked-0", "worked-1"]


def test_an_abort_during_the_work_raises(tmp_path):
    with pytest.raises(mp.ProcessExitedException, match="SIGABRT"):
        spawn(_abort_in_work, 2, str(tmp_path))
