"""Spacetime patches: a latent (C,T,H,W) <-> tokens (N, C*pt*ph*pw) with integer (t,h,w) positions.

Token order is t-major, then h, then w, so a sample's tokens are one contiguous run and a
latent frame's tokens are contiguous too (per-frame noise levels become contiguous slices).
"""

from __future__ import annotations

import torch
from einops import rearrange

from chronotope.errors import UsageError

# pt=1: an image is one latent frame, and every latent frame can carry its own noise level.
DEFAULT_PATCH: tuple[int, int, int] = (1, 2, 2)


def _check_patch(patch: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(patch) != 3 or any(int(p) < 1 for p in patch):
        raise UsageError(f"patch must be three integers >= 1 (pt, ph, pw), got {patch}")
    return tuple(int(p) for p in patch)  # type: ignore[return-value]


def patch_grid(
    latent_shape: tuple[int, ...], patch: tuple[int, int, int] = DEFAULT_PATCH
) -> tuple[int, int, int]:
    """The (T/pt, H/ph, W/pw) grid of a latent of shape (C,T,H,W) or (T,H,W); sizes must divide."""
    pt, ph, pw = _check_patch(patch)
    if len(latent_shape) not in (3, 4):
        raise UsageError(f"latent shape must be (C,T,H,W) or (T,H,W), got {tuple(latent_shape)}")
    t, h, w = (int(s) for s in latent_shape[-3:])
    for name, size, p in (("T", t, pt), ("H", h, ph), ("W", w, pw)):
        if size < 1 or size % p:
            lo, hi = max(p, size // p * p), (size // p + 1) * p
            raise UsageError(
                f"latent {name}={size} must be a positive multiple of the patch size {p} "
                f"(nearest valid: {lo} or {hi})"
            )
    return t // pt, h // ph, w // pw


def num_tokens(latent_shape: tuple[int, ...], patch: tuple[int, int, int] = DEFAULT_PATCH) -> int:
    """How many tokens `patchify` makes of a latent of shape (C,T,H,W) or (T,H,W)."""
    gt, gh, gw = patch_grid(latent_shape, patch)
    return gt * gh * gw


def grid_positions(grid: tuple[int, int, int], device: torch.device | None = None) -> torch.Tensor:
    """Integer (t,h,w) coordinates (N,3) of a patch grid in token order, starting at 0."""
    gt, gh, gw = grid
    axes = [torch.arange(n, device=device) for n in (gt, gh, gw)]
    # indexing="ij" + flatten keeps t-major, then h, then w: the same order as `patchify`.
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def patchify(
    latent: torch.Tensor, patch: tuple[int, int, int] = DEFAULT_PATCH
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a latent (C,T,H,W) into tokens (N, C*pt*ph*pw) and positions (N,3) long."""
    if latent.ndim != 4:
        raise UsageError(f"patchify takes one latent (C,T,H,W), got shape {tuple(latent.shape)}")
    pt, ph, pw = _check_patch(patch)
    grid = patch_grid(latent.shape, patch)
    tokens = rearrange(
        latent, "c (t pt) (h ph) (w pw) -> (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw
    )
    return tokens, grid_positions(grid, device=latent.device)


def unpatchify(
    tokens: torch.Tensor,
    grid: tuple[int, int, int],
    patch: tuple[int, int, int] = DEFAULT_PATCH,
    channels: int | None = None,
) -> torch.Tensor:
    """The exact inverse of `patchify`: tokens (N, C*pt*ph*pw) -> latent (C,T,H,W)."""
    pt, ph, pw = _check_patch(patch)
    gt, gh, gw = (int(g) for g in grid)
    n, dim = tokens.shape
    if n != gt * gh * gw:
        raise UsageError(f"{n} tokens do not fill the grid {tuple(grid)} ({gt * gh * gw} tokens)")
    if channels is None:
        channels = dim // (pt * ph * pw)
    if channels * pt * ph * pw != dim:
        raise UsageError(f"token width {dim} != channels {channels} * patch volume {pt * ph * pw}")
    return rearrange(
        tokens,
        "(t h w) (c pt ph pw) -> c (t pt) (h ph) (w pw)",
        t=gt,
        h=gh,
        w=gw,
        c=channels,
        pt=pt,
        ph=ph,
        pw=pw,
    )


def frame_to_tokens(values: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Per-time-patch values (T/pt,) (e.g. a per-latent-frame sigma) -> per-token (N,).

    Tokens are t-major, so each time step covers a contiguous run of gh*gw tokens.
    """
    gt, gh, gw = grid
    if values.shape != (gt,):
        raise UsageError(f"need one value per time patch ({gt},), got {tuple(values.shape)}")
    return values.repeat_interleave(gh * gw)
