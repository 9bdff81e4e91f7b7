"""Sharded checkpoints with torch.distributed.checkpoint (DCP): every rank writes its own shard
of the model and optimizer state in parallel, and any number of ranks can read them back (DCP
reshards on load: save on 8 GPUs, resume on 4, export on 1 CPU process).

Pickle-free: DCP's default storage writes a pickled `.metadata`; here its safetensors storage
(`HuggingFaceStorageWriter` / `Reader`) keeps each rank's tensors in
`state/shard-0000R-model-00001-of-00001.safetensors` with their offsets in the shard's header,
and the state's few non-tensor values (the optimizer's hyperparameters and parameter names) go
to `state.json`. Nothing in a checkpoint is ever unpickled.

Layout and completeness follow `chronotope.utils.checkpoint`: `root/step-XXXXXXXX/` counts only
once its `COMPLETE` marker exists, so `latest_complete` (the newest complete one) never picks a
folder a killed run left half written. All ranks write into a temporary folder (each shard
fsynced); after a barrier rank 0 adds state.json, meta.json and the marker and renames it into
place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import HuggingFaceStorageReader, HuggingFaceStorageWriter
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from chronotope.errors import CorruptFileError, UsageError
from chronotope.utils.checkpoint import (
    MARKER,
    atomic_save_safetensors,
    atomic_write_text,
    complete_checkpoints,
    fsync_dir,
    load_safetensors,
)
from chronotope.utils.weights import check_safetensors, one_line

_PREFIX = "step-"
STATE = "state"  # state/ holds the safetensors shards, state.json the non-tensor values


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """DCP warns that it runs in one process when no group exists: that is the intent here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _first_failure(e: CheckpointException) -> BaseException:
    """The error behind DCP's `CheckpointException` (a BaseException, which no `except
    Exception` sees): the first failing rank's."""
    failures = [failure[0] for _, failure in sorted(e.failures.items())]
    return failures[0] if failures else RuntimeError(str(e))


def _state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None, extra: dict | None = None
) -> dict:
    """Model (and optimizer) state keyed by parameter names (FQNs), not by rank-local ids:
    what lets another number of ranks, or another wrapper (DDP, FSDP2, none), load it.
    `extra` (e.g. EMA weights, plain or DTensor) is saved and loaded in place under its keys."""
    if optimizer is None:
        model_sd, _ = get_state_dict(model, optimizers=[])
        state = {"model": model_sd}
    else:
        model_sd, optim_sd = get_state_dict(model, optimizer)
        state = {"model": model_sd, "optimizer": optim_sd}
    for key in extra or {}:
        if key in state:
            raise ValueError(f"extra state key {key!r} is reserved")
    return {**state, **(extra or {})}


def _leaves(tree, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """(path, value) of every leaf of nested dicts and lists (the path: their keys and
    indices); a tensor is a leaf."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _leaves(value, (*path, i))
    else:
        yield path, tree


def _split(state: dict) -> tuple[dict[str, torch.Tensor], list[list]]:
    """The tensors of a nested state, flat by dotted path (DCP's keys), and the other leaves
    as JSON [[path, value], ...] (floats, bools, tuples, parameter names)."""
    tensors: dict[str, torch.Tensor] = {}
    values: list[list] = []
    for path, value in _leaves(state):
        if isinstance(value, torch.Tensor):
            key = ".".join(map(str, path))
            if key in tensors:
                raise ValueError(f"two state entries flatten to {key!r}")
            tensors[key] = value
        else:
            values.append([list(path), value])
    return tensors, values


def _restore(state: dict, values: list[list], source: Path) -> None:
    """Put the saved non-tensor leaves of `state` back in place (a tuple stays a tuple); the
    checkpoint may hold more (e.g. an optimizer when only the model loads), like DCP's."""
    mine = {tuple(path): value for path, value in _split(state)[1]}
    saved = {tuple(path): value for path, value in values}
    missing = sorted(map(str, mine.keys() - saved.keys()))
    if missing:
        raise CorruptFileError(f"{source}: does not fit this model and optimizer ({missing[0]})")
    for path, value in mine.items():
        parent = state
        for key in path[:-1]:
            parent = parent[key]
        new = saved[path]
        parent[path[-1]] = tuple(new) if isinstance(value, tuple) else new


def save_sharded(
    root: str | os.PathLike,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    meta: dict | None = None,
    keep: int = 3,
    extra: dict | None = None,
    files: dict[str, dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Every rank calls this; returns `root/step-XXXXXXXX` (complete when it returns).

    `extra`: more state dicts for DCP (sharded like the model, e.g. EMA weights). `files`:
    state every rank holds identically (e.g. the data buffer), written once by rank 0 as
    `{name}.safetensors` before the marker; read back with `load_files`.
    """
    root = Path(root)
    final = root / f"{_PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp"  # one name all ranks agree on (no pid)
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / STATE).mkdir(parents=True)
    _barrier()
    tensors, values = _split(_state(model, optimizer, extra))
    writer = HuggingFaceStorageWriter(str(tmp / STATE), save_distributed=True)
    try:
        with _quiet():
            dcp.save(
                tensors,
                checkpoint_id=tmp / STATE,
                storage_writer=writer,
                no_dist=not dist.is_initialized(),
            )
    except CheckpointException as e:  # a BaseException: the first rank's error instead
        raise _first_failure(e) from e
    _barrier()  # every shard is on disk (each fsynced by DCP)
    if _rank() == 0:
        fsync_dir(tmp / STATE)
        for name, file_tensors in (files or {}).items():
            atomic_save_safetensors(dict(file_tensors), tmp / f"{name}.safetensors")
        lines = ",\n".join(json.dumps(v) for v in values)  # one [path, value] a line
        atomic_write_text(tmp / f"{STATE}.json", f'{{"values": [\n{lines}\n]}}\n')
        atomic_write_text(tmp / "meta.json", json.dumps({"step": step, **(meta or {})}, indent=2))
        atomic_write_text(tmp / MARKER, "ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
        for old in complete_checkpoints(root)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def latest_complete(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under `root`, or None."""
    found = complete_checkpoints(root)
    return found[-1] if found else None


def load_sharded(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    extra: dict | None = None,
) -> dict:
    """Load a checkpoint into `model` (and `optimizer`, and the tensors of `extra`, in place)
    however they are sharded now; every rank calls this (or one process with no process
    group). Returns meta.json."""
    path = Path(path)
    if not (path / MARKER).exists():
        raise CorruptFileError(f"{path}: checkpoint has no completion marker (incomplete write)")
    check_sharded(path)
    state = _state(model, optimizer, extra)
    tensors, _ = _split(state)
    shards = sorted((path / STATE).glob("*.safetensors"))
    for shard in shards:
        check_safetensors(shard)  # a pickle or a truncated shard: one line naming it
    try:
        # fills `tensors` (views into `state`) in place, resharding to however the model is
        # sharded now
        with _quiet():
            dcp.load(
                tensors,
                storage_reader=HuggingFaceStorageReader(str(path / STATE)),
                no_dist=not dist.is_initialized(),
            )
    except CheckpointException as e:  # e.g. a tensor this model has and the checkpoint lacks
        why = one_line(_first_failure(e))
        raise CorruptFileError(f"{path}: cannot load the checkpoint ({why})") from e
    _restore(state, json.loads((path / f"{STATE}.json").read_text())["values"], path)
    set_state_dict(
        model,
        optimizers=[] if optimizer is None else optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state.get("optimizer", {}),
    )
    return json.loads((path / "meta.json").read_text())


def load_files(path: str | os.PathLike) -> dict[str, dict[str, torch.Tensor]]:
    """The `files` a checkpoint was saved with: {name: tensors}."""
    return {p.stem: load_safetensors(p) for p in sorted(Path(path).glob("*.safetensors"))}


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether a checkpoint folder was written by `save_sharded` (`state/` shards) rather than
    by the single-process `chronotope.utils.checkpoint.save_checkpoint`."""
    return (Path(path) / STATE).is_dir()


def check_sharded(path: str | os.PathLike) -> None:
    """Refuse a folder that is not a `save_sharded` checkpoint of this format, saying what it
    is: an older chronotope's DCP folder keeps its index in a pickled `.metadata`, which is
    never read."""
    path = Path(path)
    if is_sharded(path):
        return
    if (path / ".metadata").is_file():
        raise UsageError(
            f"{path} is an older chronotope's checkpoint whose index (.metadata) is a pickle, "
            "never unpickled; use another --out to start afresh"
        )
    raise UsageError(
        f"{path} is not a sharded checkpoint (an older chronotope's one-process trainer wrote "
        "it?); use another --out to start afresh"
    )


def export_pretrained(path: str | os.PathLike, model: nn.Module, out: str | os.PathLike) -> Path:
    """Sharded checkpoint -> one `save_pretrained` folder (config.json + safetensors).

    Run in one process with a plain (unwrapped) model of the checkpoint's config, e.g.
    `DiT.from_config(...)`: DCP gathers every shard into it.
    """
    load_sharded(path, model)
    model.save_pretrained(out, safe_serialization=True)
    return Path(out)
