"""Sizes, lengths and memory of a generation request, validated before anything is allocated.

Every user-facing size passes through here: width and height must be multiples of the VAE's
spatial factor (the pipeline pads internally to the transformer's patch grid and crops back),
frame counts must be 1 + k*ft, and the estimated peak memory must fit the budget. Errors name the
nearest valid values and the estimate.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from chronotope.errors import MemoryBudgetError, UsageError

MIN_SIDE, MAX_SIDE = 16, 4096
GIB = 1024**3


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(
            f"size must look like WIDTHxHEIGHT (e.g. 112x64), got {text!r}", param="size"
        ) from None
    return w, h


def nearest_multiples(value: int, multiple: int) -> tuple[int, int]:
    lo = max(multiple, value // multiple * multiple)
    return lo, lo + multiple


def check_size(width: int, height: int, multiple: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if not MIN_SIDE <= v <= MAX_SIDE:
            raise UsageError(f"{name} must be in {MIN_SIDE}..{MAX_SIDE}, got {v}", param="size")
    if width % multiple or height % multiple:
        ws = nearest_multiples(width, multiple) if width % multiple else (width,)
        hs = nearest_multiples(height, multiple) if height % multiple else (height,)
        options = ", ".join(f"{w}x{h}" for w in ws for h in hs)
        raise UsageError(
            f"size {width}x{height} is not a multiple of {multiple}; nearest valid: {options}",
            param="size",
        )


# The longest output one call makes (an hour at any fps): far beyond the minute a multi-shot
# video needs, and it turns a typo (`--seconds 1e9`) into an error instead of a run for ever.
MAX_SECONDS = 3600.0
# samples of one window drawn to choose the smoothest seams from (each costs a full sampling)
MAX_CANDIDATES = 16


def check_length(num_frames: int, fps: float) -> None:
    """Refuse an output longer than `MAX_SECONDS`, naming its length."""
    if num_frames / fps > MAX_SECONDS:
        raise UsageError(
            f"the output would last {num_frames / fps:,.0f} s ({num_frames:,} frames at {fps:g} "
            f"fps); one call makes at most {MAX_SECONDS:,.0f} s",
            param="seconds",
        )


def check_numbers(
    *,
    steps: int | None = None,
    fps: float | None = None,
    seconds: float | None = None,
    shot_seconds: float | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    early_guidance: float | None = None,
    candidates: int | None = None,
) -> None:
    """The scalar settings of a call, where given: a 0 or NaN is an error, never a default."""
    if steps is not None and not (isinstance(steps, int) or float(steps).is_integer()):
        raise UsageError(f"steps must be a whole number, got {steps}", param="steps")
    if steps is not None and steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}", param="steps")
    for name, value in (("fps", fps), ("seconds", seconds), ("shot_seconds", shot_seconds)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be a number > 0, got {value}", param=name)
    for name, value in (("seconds", seconds), ("shot_seconds", shot_seconds)):
        if value is not None and value > MAX_SECONDS:
            raise UsageError(f"{name} must be <= {MAX_SECONDS:g}, got {value:g}", param=name)
    if guidance is not None and not math.isfinite(guidance):
        raise UsageError(f"guidance must be a finite number, got {guidance}", param="guidance")
    if early_guidance is not None and not (math.isfinite(early_guidance) and early_guidance >= 0):
        raise UsageError(
            f"early_guidance must be a number >= 0, got {early_guidance}", param="early_guidance"
        )
    if candidates is not None and not (
        isinstance(candidates, numbers.Integral) and 1 <= candidates <= MAX_CANDIDATES
    ):
        raise UsageError(
            f"candidates must be a whole number in [1, {MAX_CANDIDATES}], got {candidates}",
            param="candidates",
        )
    if seed is not None and not -(2**63) <= seed < 2**63:
        raise UsageError(f"seed must fit in 64 bits, got {seed}", param="seed")


def snap_frames(num_frames: int, ft: int) -> int:
    """The nearest frame count of the form 1 + k*ft (rounding half up), at least 1."""
    if num_frames < 1:
        raise UsageError(f"frames must be >= 1, got {num_frames}", param="frames")
    return 1 + ft * max(0, math.floor((num_frames - 1) / ft + 0.5))


def check_frames(num_frames: int, ft: int) -> None:
    if num_frames < 1 or (num_frames - 1) % ft:
        lo = 1 + max(0, (num_frames - 1) // ft) * ft
        raise UsageError(
            f"frames must be 1 + k*{ft} (1, {1 + ft}, {1 + 2 * ft}, ...); nearest valid: "
            f"{lo} or {lo + ft}, got {num_frames}",
            param="frames",
        )


def frames_for_seconds(seconds: float, fps: float, ft: int) -> int:
    if not seconds > 0:
        raise UsageError(f"seconds must be > 0, got {seconds}", param="seconds")
    if not fps > 0:
        raise UsageError(f"fps must be > 0, got {fps}", param="fps")
    return snap_frames(max(1, round(seconds * fps)), ft)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one sampling window, by part (coarse, documented upper-ish bounds)."""

    weights: int
    transformer: int
    autoencoder: int
    frames: int

    @property
    def total(self) -> int:
        return self.weights + self.transformer + self.autoencoder + self.frames

    def __str__(self) -> str:
        parts = ", ".join(
            f"{k} {getattr(self, k) / GIB:.2f}"
            for k in ("weights", "transformer", "autoencoder", "frames")
        )
        return f"{self.total / GIB:.2f} GiB ({parts})"


def estimate_memory(
    *,
    tokens: int,
    width: int,
    mlp_ratio: float,
    heads: int,
    weight_bytes: int,
    guidance: bool,
    tile_pixels: int,
    vae_channels: int,
    frames_in_memory: int,
    height_px: int,
    width_px: int,
    kept_frames: int = 0,
) -> MemoryEstimate:
    """Peak memory of sampling `tokens` tokens (one window) and decoding it tile by tile.

    Transformer (no grad, one block alive at a time): the residual stream and its fp32 copies,
    the MLP hidden, q/k/v and the attention output, x2 with classifier-free guidance (the
    conditional and unconditional copies run packed together). Attention itself uses a fused
    kernel (memory linear in tokens). Autoencoder: a tile of `tile_pixels` pixels through the
    widest level, for a chunk of frames. Frames: uint8 frames kept in memory plus their float
    canvas for encoding, and `kept_frames` more uint8 frames (a long output returned whole
    instead of streamed).
    """
    n = tokens * (2 if guidance else 1)
    per_token = width * 4 * (6 + 2 * mlp_ratio) + heads * 64 * 4 * 4
    transformer = int(n * per_token * 1.5)
    autoencoder = int(tile_pixels * vae_channels * 4 * 4 * 9)
    frames = int((frames_in_memory * (1 + 4) + kept_frames) * height_px * width_px * 3)
    return MemoryEstimate(weight_bytes, transformer, autoencoder, frames)


def check_memory(estimate: MemoryEstimate, budget_gib: float) -> None:
    if estimate.total > budget_gib * GIB:
        raise MemoryBudgetError(
            f"request needs an estimated {estimate}, over the memory budget of {budget_gib:g} GiB; "
            "ask for fewer frames or a smaller size, or raise the budget (--memory-budget)",
            param="size",
        )
