"""3D rotary position embedding over integer (t, h, w) patch positions.

The head dim is split into frequency pairs per axis: h and w get 2*(d//6) dims each and t the
rest (d=64 -> t 24, h 20, w 20), the split Wan 2.1 uses. Time gets the remainder because clip
lengths vary most (1 frame to a minute), so it needs the widest frequency range.

Positions are each sample's own patch coordinates (starting at 0), so a sample's rotation does
not depend on where it sits in a pack.
"""

from __future__ import annotations

import torch

from chronotope.errors import UsageError
from chronotope.model.ops import add_mul


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Dims (t, h, w) of the head dim given to each axis; each even, summing to head_dim."""
    if head_dim % 2 or head_dim < 6:
        raise UsageError(f"head_dim must be even and >= 6 for 3D RoPE, got {head_dim}")
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def axis_inv_freq(dim: int, theta: float) -> torch.Tensor:
    """(dim/2,) inverse frequencies theta^(-2i/dim)."""
    return theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Angles (L, head_dim/2) for positions (L, 3): t, h, w frequency pairs side by side."""
    freqs = [axis_inv_freq(d, theta).to(torch.float32) for d in axis_dims(head_dim)]
    pos = positions.to(torch.float32)
    # (L, 1) * (1, d_a/2) per axis -> (L, head_dim/2)
    return torch.cat([pos[:, a : a + 1] * f.to(pos.device) for a, f in enumerate(freqs)], dim=-1)


def rope_cos_sin(
    positions: torch.Tensor,
    head_dim: int,
    *,
    theta: float = 10000.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (L, 1, head_dim) in `dtype`, computed once per forward and shared by all blocks.

    Each half of the head dim sees the same angles (cos = [c, c], sin = [-s, s]), so applying
    RoPE is x*cos + swap_halves(x)*sin: two multiplies and an add, no complex numbers.
    """
    ang = rope_angles(positions, head_dim, theta)  # (L, d/2) fp32
    cos, sin = ang.cos(), ang.sin()
    cos = torch.cat([cos, cos], dim=-1)  # (L, d)
    sin = torch.cat([-sin, sin], dim=-1)
    return cos[:, None].to(dtype), sin[:, None].to(dtype)  # (L, 1, d)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + d/2) of x (L, ..., d) by cos/sin broadcastable to x, e.g. (L, 1, d)
    for x (L, h, d), or (L, 1, 1, d) for q and k stacked as (L, 2, h, d)."""
    x1, x2 = x.chunk(2, dim=-1)
    swapped = torch.cat([x2, x1], dim=-1)  # pairs (x1, x2) -> (x2, x1); sin carries the sign
    return add_mul(x * cos, swapped, sin)
