"""Process groups: join one started by torchrun, or spawn a local gloo group (tests, CPU).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; `init_from_env`
reads them, and `process_group` holds that group for the length of a command. `spawn` starts `world_size` processes on this machine over loopback, the way the
tests check every parallel path against the single-process oracle.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def world_size_from_env() -> int:
    """WORLD_SIZE as set by torchrun; 1 when not launched by it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(backend: str | None = None) -> tuple[int, int]:
    """Join the group torchrun described; returns (rank, world_size). NCCL on CUDA, else gloo.

    On CUDA each process takes the GPU of its LOCAL_RANK, before any CUDA tensor is made.
    """
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


@contextlib.contextmanager
def process_group() -> Iterator[tuple[int, int]]:
    """(rank, world_size) of this process for the block: launched by torchrun (WORLD_SIZE > 1),
    it joins the group and leaves it after; otherwise, or inside a group that already exists
    (tests, `spawn`), it changes nothing (one process is rank 0 of 1)."""
    if dist.is_initialized():
        yield dist.get_rank(), dist.get_world_size()
        return
    if world_size_from_env() == 1:
        yield 0, 1
        return
    joined = init_from_env()
    try:
        yield joined
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def group_rank_world() -> tuple[int, int]:
    """(rank, world_size) of the current process group; (0, 1) without one."""
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, fn: Callable, args: tuple, done: str) -> None:
    # one intra-op thread: `world_size` processes share the cores of one machine
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
        # leave together: a rank tearing its gloo pairs down while a peer still uses them
        # aborts the peer ("terminate called without an active exception", seen 1 run in 6)
        dist.barrier()
        Path(done, str(rank)).touch()  # this rank's work is over; only teardown is left
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, *args: Any) -> None:
    """Run `fn(rank, world_size, *args)` in `world_size` local processes joined over gloo.

    `fn` must be importable (a module-level function); results go through files or asserts:
    a failing rank makes `spawn` raise. A rank that gloo aborts (SIGABRT) while it tears its
    process group down, after every rank finished `fn` and met at the final barrier, is no
    failure of `fn` (it still happens with the barrier, rarely) and does not raise.
    """
    with tempfile.TemporaryDirectory() as done:
        try:
            mp.spawn(
                _entry, args=(world_size, free_port(), fn, args, done), nprocs=world_size, join=True
            )
        except mp.ProcessExitedException as e:
            finished = len(os.listdir(done)) == world_size
            if not (finished and e.signal_name == "SIGABRT"):
                raise
