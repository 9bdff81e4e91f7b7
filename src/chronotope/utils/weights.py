"""Weights are safetensors, never pickles.

Every loader runs these checks before a library (diffusers, transformers) opens a file, so a
pickled, truncated or mislabeled weight file is refused with one line that names it, and nothing
in it is ever unpickled. torch.save writes a zip whose first bytes are "PK"; a bare pickle starts
with the protocol opcode 0x80; safetensors starts with the little-endian u64 length of its JSON
header, then '{'.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open

from chronotope.errors import CorruptFileError, UsageError

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
# the names libraries give pickled weights (diffusers, transformers, PyTorch Lightning...)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def looks_pickled(head: bytes) -> bool:
    """Whether a file's first bytes are a pickle (protocol >= 2) or torch.save's zip."""
    return head[:1] == b"\x80" or head[:2] == b"PK"


def check_safetensors(path: str | os.PathLike) -> Path:
    """`path` when it is a readable safetensors file (its header parsed, no tensor read);
    anything else (a pickle included) is refused with `CorruptFileError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"{path}: no such weight file")
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise CorruptFileError(f"{path}: cannot read the weight file ({e.strerror})") from e
    size = path.stat().st_size
    length = int.from_bytes(head[:8], "little") if len(head) == 9 else -1
    if head[8:9] != b"{" or not 0 < length <= size - 8:
        if head[8:9] == b"{":
            why = f"truncated: its header alone is {length} bytes, the file {size}"
        elif looks_pickled(head):
            why = "a pickle; pickled weights are never loaded"
        else:
            why = "unknown format"
        raise CorruptFileError(f"{path}: not a safetensors file ({why})")
    try:  # parses the header and checks that its offsets cover the file exactly
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError, ValueError) as e:
        raise CorruptFileError(f"{path}: corrupt safetensors file ({one_line(e)})") from e
    return path


def check_weights_folder(
    folder: str | os.PathLike, weights: str = DIFFUSERS_WEIGHTS, *, what: str
) -> list[Path]:
    """The checked safetensors files of a `save_pretrained` folder (`weights`, or the shards
    its `.index.json` lists). A folder with only pickled weights is refused naming the file;
    `what` names the model in the message (e.g. "DiT")."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CorruptFileError(f"{folder}: no config.json (not a {what} folder)")
    if (folder / weights).exists():
        return [check_safetensors(folder / weights)]
    index = folder / f"{weights}.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptFileError(f"{index}: not a safetensors index ({e})") from e
        return [check_safetensors(folder / name) for name in shards]
    pickled = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise CorruptFileError(
            f"{pickled[0]}: pickled weights are never loaded (a {what} folder needs {weights})"
        )
    raise CorruptFileError(f"{folder}: no {weights} (not a {what} folder)")


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, cut at `limit` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SafetensorsOnly:
    """Mixin for a diffusers `ModelMixin`: `from_pretrained` reads a local folder's safetensors
    only. Without it diffusers falls back to `torch.load` of `diffusion_pytorch_model.bin`."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        if kwargs.get("use_safetensors") is False:
            raise UsageError(f"{cls.__name__} loads safetensors only (use_safetensors=False)")
        folder = Path(pretrained_model_name_or_path) / (kwargs.get("subfolder") or "")
        variant = kwargs.get("variant")
        name = f"diffusion_pytorch_model.{variant}.safetensors" if variant else DIFFUSERS_WEIGHTS
        check_weights_folder(folder, name, what=cls.__name__)
        cls.check_folder(folder)
        kwargs.update(use_safetensors=True, local_files_only=True)
        kwargs.setdefault("low_cpu_mem_usage", False)  # no `accelerate` here; avoids its warning
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except CorruptFileError:
            raise
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:
            # an unreadable config.json, weights that do not fit it (diffusers' multi-line
            # size-mismatch report): one line naming the folder
            raise CorruptFileError(f"{folder}: cannot load {cls.__name__}: {one_line(e)}") from e

    @classmethod
    def check_folder(cls, folder: Path) -> None:
        """More checks of a folder before loading it (e.g. its config keys); none by default."""
