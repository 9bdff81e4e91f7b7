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


Size = tuple[int, int]  # (width, height) a condition is fitted to as it is read


def as_image(
    x: Condition | None, *, fps: float, name: str, size: Size | None = None
) -> np.ndarray | None:
    """One frame (H,W,3) uint8; a path to a video gives its first frame (as `--image` does).
    With `size` (width, height) it comes back fitted to it (`chronotope.data.fit_frames`)."""
    if x is None:
        return None
    if isinstance(x, (str, os.PathLike)):
        return _read(Path(x), fps=fps, name=name, max_frames=1, size=size)[0]  # one frame
    frames = _frames(x, fps=fps, name=name, size=size)
    if len(frames) != 1:
        raise UsageError(f"{name} must be one image, got {len(frames)} frames", param=name)
    return frames[0]


def as_clip(
    x: Condition | None, *, fps: float, name: str, size: Size | None = None
) -> np.ndarray | None:
    """Frames (T,H,W,3) uint8; an image is a 1-frame clip. With `size` (width, height) the
    frames come back fitted to it, a file's each as it is decoded: an HD clip is never held
    at its own size, so reading it takes the memory of the fitted clip, not of the source."""
    return None if x is None else _frames(x, fps=fps, name=name, size=size)


def as_pair(x: Sequence[Condition] | None, *, fps: float, name: str, size: Size | None = None):
    """Two clips (A, B), e.g. `connect=(a, b)`; each may be an image."""
    if x is None:
        return None
    if isinstance(x, (str, os.PathLike, np.ndarray, torch.Tensor)) or len(x) != 2:
        raise UsageError(f"{name} takes two clips or images (A, B)", param=name)
    return tuple(as_clip(v, fps=fps, name=f"{name}[{i}]", size=size) for i, v in enumerate(x))


def source_size(x: Condition | None, *, name: str) -> Size | None:
    """(width, height) of a condition as given, found without decoding a file's frames (its
    header, and its first frame for the rotation), so that the output size can be chosen
    before the condition is read at it (`size=`); None for no condition."""
    if x is None:
        return None
    if isinstance(x, (str, os.PathLike)):
        from chronotope.data import probe

        check_file(name, Path(x), param=name)
        info = probe(x)
        return info.width, info.height
    if isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim in (3, 4):
        return x.shape[-2], x.shape[-3]
    frames = _frames(x[:1] if isinstance(x, (list, tuple)) else x, fps=1.0, name=name)
    return frames.shape[2], frames.shape[1]


def _frames(x: Condition, *, fps: float, name: str, size: Size | None = None) -> np.ndarray:
    """(T,H,W,3) uint8 from any accepted form, fitted to `size` when given."""
    if isinstance(x, (str, os.PathLike)):
        return _read(Path(x), fps=fps, name=name, size=size)
    frames = _given_frames(x, fps=fps, name=name)
    if size is None:
        return frames
    from chronotope.data import fit_frames

    return fit_frames(frames, *size)


def _given_frames(x: Condition, *, fps: float, name: str) -> np.ndarray:
    """(T,H,W,3) uint8 from a form other than a path (a list may hold paths)."""
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


def _read(
    path: Path, *, fps: float, name: str, max_frames: int | None = None, size: Size | None = None
) -> np.ndarray:
    """A file's frames at the call's fps, each fitted to `size` as it is decoded."""
    from chronotope.data import VideoFrames, fit_frames

    check_file(name, path, param=name)
    frames = VideoFrames(path, fps=fps, max_frames=max_frames)
    if size is None:
        return np.stack(list(frames))
    return np.stack([fit_frames(f, *size) for f in frames])
