"""Atomic, pickle-free checkpoints.

A checkpoint is a folder `step-00001234/` of safetensors files plus a JSON `meta.json`; it counts
only once its completion marker `COMPLETE` exists. Every file is written under a temporary name,
fsynced, then renamed, and the folder itself is renamed into place last, so a process killed at
any instant leaves either the previous complete checkpoint or the new one, never a half one.
Nothing here ever unpickles: weights and optimizer state are safetensors, metadata is JSON.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from chronotope.errors import CorruptFileError
from chronotope.utils.weights import check_safetensors

MARKER = "COMPLETE"
_PREFIX = "step-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def file_mode() -> int:
    """The mode a plain `open(path, "w")` gives a new file here (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_pretrained(obj, folder: str | os.PathLike, **kwargs) -> None:
    """`obj.save_pretrained(folder, **kwargs)` (a diffusers model or pipeline), every file it
    wrote then given the mode a plain new file gets here (`file_mode`): diffusers writes its
    weights through safetensors, as 0600, which others could not read in a shared model."""
    obj.save_pretrained(folder, **kwargs)
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, file_mode())


def atomic_save_safetensors(
    tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None
) -> None:
    """Write `tensors` to `path` through a temporary name + fsync + rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    # no metadata rather than an empty one: safetensors writes `{},"__metadata__":{}}`, a header
    # it cannot read back, for no tensors with empty metadata (an empty data buffer)
    meta = {k: str(v) for k, v in (metadata or {}).items()} or None
    save_file(flat, str(tmp), metadata=meta)
    os.chmod(tmp, file_mode())  # safetensors writes 0600: others could not read a shared model
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file, refusing anything else (pickles included) with a clear error."""
    path = check_safetensors(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CorruptFileError(f"{path}: corrupt safetensors file ({e})") from e


# ---- RNG state as tensors (so it lives in safetensors, not pickle) ----


def rng_state() -> dict[str, torch.Tensor]:
    """Torch, numpy and python RNG state, encoded as uint8/int64 tensors."""
    py = json.dumps(random.getstate()).encode()
    np_state = np.random.get_state()
    return {
        "rng.torch": torch.get_rng_state(),
        "rng.python": torch.frombuffer(bytearray(py), dtype=torch.uint8),
        "rng.numpy.keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "rng.numpy.pos": torch.tensor([np_state[2], np_state[3]], dtype=torch.int64),
        "rng.numpy.gauss": torch.tensor([np_state[4]], dtype=torch.float64),
    }


def set_rng_state(state: Mapping[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["rng.torch"])
    py = json.loads(bytes(state["rng.python"].tolist()).decode())
    random.setstate((py[0], tuple(py[1]), py[2]))
    pos = state["rng.numpy.pos"].tolist()
    np.random.set_state(
        (
            "MT19937",
            state["rng.numpy.keys"].numpy().astype(np.uint32),
            pos[0],
            pos[1],
            float(state["rng.numpy.gauss"][0]),
        )
    )


# ---- checkpoint folders ----


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    files: Mapping[str, Mapping[str, torch.Tensor]],
    meta: dict,
    *,
    keep: int = 3,
) -> Path:
    """Write `root/step-XXXXXXXX/{name}.safetensors` for each entry of `files` plus meta.json,
    then the completion marker; keep the newest `keep` complete checkpoints."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, tensors in files.items():
        atomic_save_safetensors(tensors, tmp / f"{name}.safetensors")
    atomic_write_text(tmp / "meta.json", json.dumps({"step": step, **meta}, indent=2))
    atomic_write_text(tmp / MARKER, "ok\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(root)
    for old in complete_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under `root`, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{_PREFIX}*") if p.is_dir() and (p / MARKER).exists()]
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]))


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a checkpoint folder written by `save_checkpoint` (complete or not:
    `load_checkpoint` refuses an incomplete one with its reason)."""
    path = Path(path)
    return path.name.startswith(_PREFIX) and (path / "meta.json").is_file()


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    found = complete_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Read every `*.safetensors` of a complete checkpoint folder and its meta.json."""
    path = Path(path)
    if not (path / MARKER).exists():
        raise CorruptFileError(f"{path}: checkpoint has no completion marker (incomplete write)")
    files = {p.stem: load_safetensors(p) for p in sorted(path.glob("*.safetensors"))}
    meta = json.loads((path / "meta.json").read_text())
    return files, meta


def optimizer_state_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into flat tensors + a JSON-able skeleton (no pickle)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_meta: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        entry = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
                entry[k] = "tensor"
            else:
                entry[k] = v
        state_meta[str(pid)] = entry
    return tensors, {"state": state_meta, "param_groups": sd["param_groups"]}


def load_optimizer_state(
    opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], skeleton: dict
) -> None:
    state = {}
    for pid, entry in skeleton["state"].items():
        state[int(pid)] = {
            k: (tensors[f"{pid}.{k}"].clone() if v == "tensor" else v) for k, v in entry.items()
        }
    opt.load_state_dict({"state": state, "param_groups": skeleton["param_groups"]})
