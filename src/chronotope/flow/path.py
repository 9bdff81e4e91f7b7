"""The rectified-flow path and the resolution-dependent time shift.

`x_sigma = (1 - sigma) * x_data + sigma * noise`: sigma = 1 is pure noise, sigma = 0 is data;
the model predicts the (constant along a straight path) velocity `v = noise - x_data`, so
`x_data = x_sigma - sigma * v` and `noise = x_sigma + (1 - sigma) * v`.

Time shift (SD3, Esser et al. 2024, eq. 23): `sigma' = a*sigma / (1 + (a-1)*sigma)`. A sample
with more tokens has more redundancy, so the same sigma destroys less of it; a > 1 moves the
noise levels towards 1 to compensate. `a` is derived from each sample's own token count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from chronotope.errors import UsageError


def _per_row(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor | float:
    """Broadcast a per-row sigma (L,) over the trailing dims of x (L, ...)."""
    if not torch.is_tensor(sigma) or sigma.ndim == 0:
        return sigma
    return sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim)).to(x.dtype)


def add_noise(x: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """`x_sigma = (1 - sigma) * x + sigma * noise`; sigma a scalar or one value per row of x."""
    s = _per_row(sigma, x)
    return (1 - s) * x + s * noise


def velocity_target(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The rectified-flow regression target `v = noise - x` (d x_sigma / d sigma)."""
    return noise - x


def shift_sigma(sigma: torch.Tensor | float, a: torch.Tensor | float) -> torch.Tensor | float:
    """`sigma' = a*sigma / (1 + (a-1)*sigma)`: identity at a=1, keeps 0 and 1 fixed."""
    return a * sigma / (1 + (a - 1) * sigma)


def unshift_sigma(sigma: torch.Tensor | float, a: torch.Tensor | float) -> torch.Tensor | float:
    """The inverse of `shift_sigma` (the same map with 1/a)."""
    return (
        shift_sigma(sigma, 1 / a) if not torch.is_tensor(a) else shift_sigma(sigma, a.reciprocal())
    )


@dataclass(frozen=True)
class ShiftConfig:
    """Two anchors (tokens, shift) of the time shift; training and sampling must share them.

    The shift is log-linear in log N between the anchors (a power law `a ~ N^p`, the SD3
    resolution argument `a = sqrt(N/N0)` generalised to a chosen exponent) and clamped to
    [base_shift, max_shift] outside them, so tiny images are never shifted below the base
    and a 60 s video does not get an absurd shift. The defaults fit the toy scale:
    an image of 16-64 tokens is unshifted, a few-thousand-token clip gets a = 3.
    """

    base_tokens: int = 64
    base_shift: float = 1.0
    max_tokens: int = 4096
    max_shift: float = 3.0

    def __post_init__(self) -> None:
        if not (0 < self.base_tokens < self.max_tokens):
            raise UsageError("shift anchors need 0 < base_tokens < max_tokens")
        if not (0 < self.base_shift <= self.max_shift):
            raise UsageError("shift anchors need 0 < base_shift <= max_shift")


def shift_for_tokens(
    num_tokens: int | torch.Tensor,
    *,
    base_tokens: int = ShiftConfig.base_tokens,
    base_shift: float = ShiftConfig.base_shift,
    max_tokens: int = ShiftConfig.max_tokens,
    max_shift: float = ShiftConfig.max_shift,
) -> float | torch.Tensor:
    """The shift `a` for a sample of `num_tokens` tokens (its own count, never the packed length):
    log a interpolates linearly in log N between the two anchors, clamped at both ends."""
    lo, hi = math.log(base_tokens), math.log(max_tokens)
    if torch.is_tensor(num_tokens):
        frac = ((num_tokens.double().clamp(min=1).log() - lo) / (hi - lo)).clamp(0, 1)
        return torch.exp(math.log(base_shift) + frac * (math.log(max_shift) - math.log(base_shift)))
    if num_tokens < 1:
        raise UsageError(f"num_tokens must be >= 1, got {num_tokens}")
    frac = min(max((math.log(num_tokens) - lo) / (hi - lo), 0.0), 1.0)
    return math.exp(math.log(base_shift) + frac * (math.log(max_shift) - math.log(base_shift)))
