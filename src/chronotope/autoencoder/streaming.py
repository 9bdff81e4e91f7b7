"""Memory-bounded encode/decode: temporal chunks with a causal cache, spatial tiles with
linear-ramp blending.

Time: the clip is cut into chunks [frame 0], [next n], [next n], ...; every causal layer keeps
the last k-1 input frames of the previous chunk (see `layers.py`), so the chunked result equals
the whole-clip pass up to float rounding, and at most one chunk of activations is alive.

Space: tiles are planned on the latent grid (so pixel tiles start at multiples of fs), each tile
has its own causal cache, and overlapping outputs are averaged with weights that ramp linearly
across the overlap. A tile alone would see zero padding at its border where the whole frame sees
its neighbour's pixels; measured on the presets, that error halves with each latent pixel away
from the border and vanishes after about 8 (the decoder's receptive radius). So each tile also
reads a `halo` of context around it and its output is cropped back to the tile before blending:
the residual seam error is then small, and the ramp hides what is left (tolerances in
tests/autoencoder/test_autoencoder_streaming.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from chronotope.autoencoder.layers import Cache

StreamFn = Callable[[torch.Tensor, Cache], torch.Tensor]


@dataclass(frozen=True)
class TileSpec:
    """Spatial tiles on the latent grid: `size` x `size` latent pixels, `overlap` shared with
    each neighbour (blended), plus `halo` latent pixels of context read and cropped away."""

    size: int = 48
    overlap: int = 8
    halo: int = 6

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.size or self.halo < 0:
            raise ValueError(f"need 0 <= overlap < size and halo >= 0, got {self}")


def auto_tile(height: int, width: int, spec: TileSpec | None = None) -> TileSpec | None:
    """The default tiling for a latent grid: none when one tile covers it."""
    spec = spec or TileSpec()
    return None if max(height, width) <= spec.size else spec


def tile_starts(length: int, spec: TileSpec) -> list[int]:
    """Tile origins along one axis of `length` latent pixels; the last tile ends at `length`."""
    if length <= spec.size:
        return [0]
    stride = spec.size - spec.overlap
    starts = list(range(0, length - spec.size, stride))
    return starts + [length - spec.size]


def ramp(n: int, start: int, stop: int, length: int, overlap: int) -> torch.Tensor:
    """Blend weights (n,) for a tile covering output [start, stop) of an axis of `length`:
    rising linearly over `overlap` outputs where a neighbour precedes it, falling where one
    follows, 1 elsewhere; strictly positive, so normalising by the weight sum is safe."""
    w = torch.ones(n)
    if overlap > 0:
        edge = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap  # (overlap,)
        k = min(overlap, n)
        if start > 0:
            w[:k] = torch.minimum(w[:k], edge[:k])
        if stop < length:
            w[n - k :] = torch.minimum(w[n - k :], edge[:k].flip(0))
    return w


def _tiled(
    fn: StreamFn,
    x: torch.Tensor,
    caches: dict[tuple[int, int], Cache],
    spec: TileSpec | None,
    *,
    grid: tuple[int, int],
    in_scale: int,
    out_scale: int,
) -> torch.Tensor:
    """Apply `fn` to one time chunk `x` (B, C, t, H, W), tile by tile (or whole if no spec)."""
    gh, gw = grid  # latent grid size
    if spec is None or (gh <= spec.size and gw <= spec.size):
        return fn(x, caches.setdefault((0, 0), {}))
    out = weight = None
    for r0 in tile_starts(gh, spec):
        for c0 in tile_starts(gw, spec):
            r1, c1 = min(r0 + spec.size, gh), min(c0 + spec.size, gw)
            # read the tile plus its halo (clipped to the frame), keep only the tile's output
            h0, h1 = max(0, r0 - spec.halo), min(gh, r1 + spec.halo)
            w0, w1 = max(0, c0 - spec.halo), min(gw, c1 + spec.halo)
            xt = x[..., h0 * in_scale : h1 * in_scale, w0 * in_scale : w1 * in_scale]
            y = fn(xt, caches.setdefault((r0, c0), {})).float()  # (B, C', t', h+halo, w+halo)
            y = y[
                ...,
                (r0 - h0) * out_scale : (r1 - h0) * out_scale,
                (c0 - w0) * out_scale : (c1 - w0) * out_scale,
            ]  # (B, C', t', h, w)
            if out is None:
                b, c, t = y.shape[:3]
                out = y.new_zeros(b, c, t, gh * out_scale, gw * out_scale)
                weight = y.new_zeros(1, 1, 1, gh * out_scale, gw * out_scale)
            ov = spec.overlap * out_scale
            wr = ramp(y.shape[-2], r0 * out_scale, r1 * out_scale, gh * out_scale, ov)
            wc = ramp(y.shape[-1], c0 * out_scale, c1 * out_scale, gw * out_scale, ov)
            w = wr[:, None] * wc[None, :]  # (h, w)
            rows = slice(r0 * out_scale, r1 * out_scale)
            cols = slice(c0 * out_scale, c1 * out_scale)
            out[..., rows, cols] += y * w
            weight[..., rows, cols] += w
    return out / weight


def stream(
    fn: StreamFn,
    x: torch.Tensor,
    *,
    chunk: int,
    tile: TileSpec | None,
    grid: tuple[int, int],
    in_scale: int,
    out_scale: int,
) -> Iterator[torch.Tensor]:
    """Yield `fn` over `x` (B, C, T, H, W) chunk by chunk in time: frame 0 alone, then `chunk`
    frames at a time; each output chunk is complete (all tiles blended) when yielded."""
    caches: dict[tuple[int, int], Cache] = {}
    bounds = [(0, 1)] + [(s, min(s + chunk, x.shape[2])) for s in range(1, x.shape[2], chunk)]
    for t0, t1 in bounds:
        yield _tiled(
            fn, x[:, :, t0:t1], caches, tile, grid=grid, in_scale=in_scale, out_scale=out_scale
        )
