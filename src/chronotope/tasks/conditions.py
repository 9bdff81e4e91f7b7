"""A call's condition inputs (`image`, `last_image`, `video`, `connect`) as uint8 frames.

Library callers pass what diffusers users pass: numpy arrays (uint8, or float in [0, 1] as
diffusers' `output_type="np"` returns them), PIL images, a list of frames (PIL images or arrays)
for a clip, torch tensors laid out like the arrays (channels last), or a file path, read at the
call's fps as the CLI reads it. Anything else is refused with a `UsageError` naming the argument,
never an AttributeError from deep inside the call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from chronotope.errors import UsageError

# what a condition argument may be (a clip also as a list of frames)
Condition = np.ndarray | torch.Tensor | Image.Image | str | os.PathLike | Sequence[Any]

_LAYOUT = "uint8 (H,W,3) / (T,H,W,3) arrays or tensors (floats in [0, 1]), PIL images or a path"


def as_image(x: Condition | None, *, fps: float, name: str) -> np.ndarray | None:
    """One frame (H,W,3) uint8; a path to a video gives its first frame (as `--image` does)."""
    if x is None:
        return None
    if isinstance(x, (str, os.PathLike)):
        return _read(Path(x), fps=fps, name=name, max_frames=1)[0]  # decodes one frame only
    frames = _frames(x, fps=fps, name=name)
    if len(frames) != 1:
        raise UsageError(f"{name} must be one image, got {len(frames)} frames", param=name)
    return frames[0]


def as_clip(x: Condition | None, *, fps: float, name: str) -> np.ndarray | None:
    """Frames (T,H,W,3) uint8; an image is a 1-frame clip."""
    return None if x is None else _frames(x, fps=fps, name=name)


def as_pair(x: Sequence[Condition] | None, *, fps: float, name: str):
    """Two clips (A, B), e.g. `connect=(a, b)`; each may be an image."""
    if x is None:
        return None
    if isinstance(x, (str, os.PathLike, np.ndarray, torch.Tensor)) or len(x) != 2:
        raise UsageError(f"{name} takes two clips or images (A, B)", param=name)
    return tuple(as_clip(v, fps=fps, name=f"{name}[{i}]") for i, v in enumerate(x))


def _frames(x: Condition, *, fps: float, name: str) -> np.ndarray:
    """(T,H,W,3) uint8 from any accepted form."""
    if isinstance(x, (str, os.PathLike)):
        return _read(Path(x), fps=fps, name=name)
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"), dtype=np.uint8)[None]
    if isinstance(x, (list, tuple)):
        if not x:
            raise UsageError(f"{name} is an empty list of frames", param=name)
        frames = [_frames(f, fps=fps, name=name) for f in x]
        if len({f.shape[1:] for f in frames}) > 1:
            raise UsageError(f"{name}: frames of different sizes", param=name)
        return np.concatenate(frames)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise UsageError(f"{name} must be one of {_LAYOUT}; got {type(x).__name__}", param=name)
    if x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise UsageError(f"{name} must be one of {_LAYOUT}; got shape {x.shape}", param=name)
    x = x[None] if x.ndim == 3 else x
    return _to_uint8(x, name)


def _to_uint8(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if np.issubdtype(x.dtype, np.floating):
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise UsageError(
                f"{name}: float frames must be in [0, 1], got values in [{lo:g}, {hi:g}]",
                param=name,
            )
        return np.round(x * 255.0).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer) and lo >= 0 and hi <= 255:
        return x.astype(np.uint8)
    raise UsageError(
        f"{name} must be one of {_LAYOUT}; got {x.dtype} in [{lo:g}, {hi:g}]", param=name
    )


def check_file(label: str, path: Path, *, param: str | None = None) -> None:
    """A condition file must be a file: said with `label` (an argument or a CLI flag)."""
    if path.is_dir():
        raise UsageError(f"{label}: {path} is a folder, not a file", param=param)
    if not path.is_file():
        raise UsageError(f"{label}: no such file {path}", param=param)


def _read(path: Path, *, fps: float, name: str, max_frames: int | None = None) -> np.ndarray:
    from chronotope.data import read_video

    check_file(name, path, param=name)
    return read_video(path, fps=fps, max_frames=max_frames).frames
