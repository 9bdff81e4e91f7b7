"""Sharded checkpoints with torch.distributed.checkpoint (DCP): every rank writes its own shard
of the model and optimizer state in parallel, and any number of ranks can read them back (DCP
reshards on load: save on 8 GPUs, resume on 4, export on 1 CPU process).

Layout and completeness follow `chronotope.utils.checkpoint`: `root/step-XXXXXXXX/` counts only
once its `COMPLETE` marker exists, so `latest_complete` (the newest complete one) never picks a
folder a killed run left half written. All ranks write into a temporary folder; after a barrier
rank 0 adds meta.json and the marker and renames it into place.

DCP's `.metadata` file is a pickle: these folders are for resuming your own runs. What you
publish is `export_pretrained`'s safetensors folder (pickle-free, `DiT.from_pretrained`).
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
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from chronotope.errors import CorruptFileError
from chronotope.utils.checkpoint import (
    MARKER,
    atomic_save_safetensors,
    atomic_write_text,
    complete_checkpoints,
    load_safetensors,
)

_PREFIX = "step-"


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
        tmp.mkdir(parents=True)
    _barrier()
    with _quiet():
        dcp.save(
            _state(model, optimizer, extra), checkpoint_id=tmp, no_dist=not dist.is_initialized()
        )
    _barrier()  # every shard is on disk
    if _rank() == 0:
        for name, tensors in (files or {}).items():
            atomic_save_safetensors(dict(tensors), tmp / f"{name}.safetensors")
        atomic_write_text(tmp / "meta.json", json.dumps({"step": step, **(meta or {})}, indent=2))
        atomic_write_text(tmp / MARKER, "ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
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
    state = _state(model, optimizer, extra)
    # fills `state` in place, resharding to however the model is sharded now
    with _quiet():
        dcp.load(state, checkpoint_id=path, no_dist=not dist.is_initialized())
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
    """Whether a checkpoint folder was written by `save_sharded` (DCP) rather than by the
    single-process `chronotope.utils.checkpoint.save_checkpoint`."""
    return (Path(path) / ".metadata").is_file()


def export_pretrained(path: str | os.PathLike, model: nn.Module, out: str | os.PathLike) -> Path:
    """Sharded checkpoint -> one `save_pretrained` folder (config.json + safetensors).

    Run in one process with a plain (unwrapped) model of the checkpoint's config, e.g.
    `DiT.from_config(...)`: DCP gathers every shard into it.
    """
    load_sharded(path, model)
    model.save_pretrained(out, safe_serialization=True)
    return Path(out)
