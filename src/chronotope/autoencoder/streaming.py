"""Memory-bounded encode/decode: temporal chunks with a causal cache, spatial tiles with
linear-ramp blending, fed from and yielding a stream of chunks.

Time: the clip arrives as chunks [frame 0], [next n], [next n], ... (`time_chunks` cuts any
stream of parts that way); every causal layer keeps the last k-1 input frames of the previous
chunk (see `layers.py`), so the chunked result equals the whole-clip pass up to float rounding,
and at most one chunk of input, activations and output is alive. Memory is then flat in the
clip's length: what stays is the causal state, k-1 frames of each layer's input over the frame
(measured on the bundled decoder, about 28 kB per latent pixel in bf16: 0.3 GiB at 1280x720),
and one tile's activations.

Space: tiles are planned on the latent grid (so pixel tiles start at multiples of fs), each tile
has its own causal cache, and overlapping outputs are averaged with weights that ramp linearly
across the overlap. A tile alone would see zero padding at its border where the whole frame sees
its neighbour's pixels; measured on the presets, that error halves with each latent pixel away
from the border and vanishes after about 8 (the decoder's receptive radius). So each tile also
reads a `halo` of context around it and its output is cropped back to the tile before blending:
the residual seam error is then small, and the ramp hides what is left (tolerances in
tests/autoencoder/test_autoencoder_streaming.py). Tiles along an axis share its length evenly
(`tile_spans`): the fewest tiles of at most `size`, so the halos and overlaps, which cost compute
and causal state, are as few as the size allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

from chronotope.autoencoder.layers import Cache

StreamFn = Callable[[torch.Tensor, Cache], torch.Tensor]


@dataclass(frozen=True)
class TileSpec:
    """Spatial tiles on the latent grid: at most `size` x `size` latent pixels, `overlap` shared
    with each neighbour (blended), plus `halo` latent pixels of context read and cropped away.

    The default is large because the causal state of every tile is kept between chunks, and
    halos and overlaps add to it and to the compute (at 1920x1080 the tiles read 1.36x the
    frame, against 1.76x with 64-pixel tiles); one tile of one latent frame through the bundled
    decoder takes about 0.4 GB beside the rest."""

    size: int = 96
    overlap: int = 8
    halo: int = 6

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.size or self.halo < 0:
            raise ValueError(f"need 0 <= overlap < size and halo >= 0, got {self}")


def auto_tile(height: int, width: int, spec: TileSpec | None = None) -> TileSpec | None:
    """The default tiling for a latent grid: none when one tile covers it."""
    spec = spec or TileSpec()
    return None if max(height, width) <= spec.size else spec


def tile_spans(length: int, spec: TileSpec) -> list[tuple[int, int]]:
    """Tiles [start, end) along one axis of `length` latent pixels: the fewest of at most
    `spec.size` that overlap their neighbours by at least `spec.overlap`, all of one length,
    spread evenly from 0 to `length`."""
    if length <= spec.size:
        return [(0, length)]
    n = math.ceil((length - spec.overlap) / (spec.size - spec.overlap))
    size = math.ceil((length + (n - 1) * spec.overlap) / n)  # <= spec.size
    starts = [round(i * (length - size) / (n - 1)) for i in range(n)]
    return [(s, s + size) for s in starts]


def tile_starts(length: int, spec: TileSpec) -> list[int]:
    """Tile origins along one axis (see `tile_spans`)."""
    return [s for s, _ in tile_spans(length, spec)]


def tiled_length(length: int, spec: TileSpec | None) -> int:
    """Latent pixels along one axis that the tiles read, halos included (the compute and the
    causal state scale with its square)."""
    if spec is None:
        return length
    return sum(
        min(length, e + spec.halo) - max(0, s - spec.halo) for s, e in tile_spans(length, spec)
    )


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
    in_scale: int,
    out_scale: int,
) -> torch.Tensor:
    """Apply `fn` to one time chunk `x` (B, C, t, H, W), tile by tile (or whole if no spec)."""
    gh, gw = x.shape[-2] // in_scale, x.shape[-1] // in_scale  # latent grid size
    if spec is None or (gh <= spec.size and gw <= spec.size):
        return fn(x, caches.setdefault((0, 0), {}))
    out = weight = None
    for r0, r1 in tile_spans(gh, spec):
        for c0, c1 in tile_spans(gw, spec):
            # read the tile plus its halo (clipped to the frame), keep only the tile's output
            h0, h1 = max(0, r0 - spec.halo), min(gh, r1 + spec.halo)
            w0, w1 = max(0, c0 - spec.halo), min(gw, c1 + spec.halo)
            xt = x[..., h0 * in_scale : h1 * in_scale, w0 * in_scale : w1 * in_scale]
            y = fn(xt, caches.setdefault((r0, c0), {}))  # (B, C', t', h+halo, w+halo)
            y = y[
                ...,
                (r0 - h0) * out_scale : (r1 - h0) * out_scale,
                (c0 - w0) * out_scale : (c1 - w0) * out_scale,
            ].float()  # (B, C', t', h, w)
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
            del y
    return out.div_(weight)


def time_chunks(parts: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """Re-cut a stream of (B, C, t, H, W) parts along time into [frame 0], then `size` frames
    at a time (the last as long as what is left), holding at most one chunk plus one part."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    held: list[torch.Tensor] = []  # parts (or their tails) not yet yielded
    count, want = 0, 1  # frames held; frames the next chunk needs (frame 0 comes alone)
    for part in parts:
        while part.shape[2]:
            take = min(want - count, part.shape[2])
            held.append(part[:, :, :take])
            count, part = count + take, part[:, :, take:]
            if count == want:
                yield held[0] if len(held) == 1 else torch.cat(held, dim=2)
                held, count, want = [], 0, size
    if held:
        yield torch.cat(held, dim=2)


def stream(
    fn: StreamFn,
    chunks: Iterable[torch.Tensor],
    *,
    tile: TileSpec | None,
    in_scale: int,
    out_scale: int,
) -> Iterator[torch.Tensor]:
    """Yield `fn` over a clip that arrives as time `chunks` (B, C, t, H, W): frame 0 alone, then
    chunks the causal layers accept (`time_chunks`); each output chunk is complete (all tiles
    blended) when yielded, and only the causal caches outlive it."""
    caches: dict[tuple[int, int], Cache] = {}
    for x in chunks:
        yield _tiled(fn, x, caches, tile, in_scale=in_scale, out_scale=out_scale)
