"""Size rules for training samples: `T = 1 + k*ft`, `H, W` multiples of `fs*ph`, a pixel budget.

Samples keep their native aspect and duration; nothing is cropped or padded to a fixed shape.
When a side is not a multiple of `size_multiple`, each side is resized to its nearest multiple
(at least one multiple), which changes the aspect ratio by at most half a multiple per side
(640x272 and 176x144 are already multiples of 16 and pass through untouched). A pixel budget
scales both sides by the same factor and rounds each down to a multiple, so the result fits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

from chronotope.errors import UsageError


def valid_num_frames(num_frames: int, temporal_factor: int) -> int:
    """The largest `1 + k*temporal_factor` that is <= num_frames (a causal VAE's frame counts)."""
    if num_frames < 1:
        raise UsageError(f"num_frames must be >= 1, got {num_frames}", param="num_frames")
    if temporal_factor < 1:
        raise UsageError(f"temporal_factor must be >= 1, got {temporal_factor}")
    return 1 + (num_frames - 1) // temporal_factor * temporal_factor


def native_size(
    height: int, width: int, *, size_multiple: int = 16, max_pixels: int | None = None
) -> tuple[int, int]:
    """(h, w) to train at: multiples of `size_multiple`, within `max_pixels`, aspect kept."""
    m = size_multiple
    if m < 1:
        raise UsageError(f"size_multiple must be >= 1, got {m}", param="size_multiple")
    if max_pixels is not None and max_pixels < m * m:
        raise UsageError(f"max_pixels must be >= size_multiple**2 = {m * m}, got {max_pixels}")
    h, w = (max(m, round(s / m) * m) for s in (height, width))
    if max_pixels is None or h * w <= max_pixels:
        return h, w
    scale = math.sqrt(max_pixels / (height * width))
    h, w = (max(m, math.floor(s * scale / m) * m) for s in (height, width))
    while h * w > max_pixels:  # both sides at a floor of one multiple can still overshoot
        if h >= w:
            h -= m
        else:
            w -= m
    return h, w


def resize_video(video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(3,T,H,W) -> (3,T,h,w), antialiased bilinear (a downscale must not alias)."""
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    frames = rearrange(video, "c t h w -> t c h w")
    frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
    return rearrange(frames, "t c h w -> c t h w").clamp(-1, 1)


def size_at_area(height: int, width: int, *, area: int, size_multiple: int) -> tuple[int, int]:
    """(h, w) of a clip brought to a model's scale: its own aspect ratio at about `area` pixels
    (never more), each side the nearest multiple of `size_multiple`; small clips grow, large
    ones shrink (1280x720 at 112x64's area: 112x64)."""
    m = size_multiple
    if m < 1 or area < m * m:
        raise UsageError(f"area must be >= size_multiple**2 >= 1, got {area} and {m}")
    scale = math.sqrt(area / (height * width))
    h, w = (max(m, round(s * scale / m) * m) for s in (height, width))
    while h * w > area:  # rounding up overshot: take a multiple off the side that grew most
        if h / (height * scale) >= w / (width * scale):
            h -= m
        else:
            w -= m
    return h, w
