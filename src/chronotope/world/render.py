"""numpy rasterizer: background, block layers, anti-aliased objects, wall; vectorized over frames.

Pixel (i, j) has its center at (x=j, y=i). An object's coverage of a pixel is
`clip(0.5 - signed_distance, 0, 1)`: 1 inside (so colors are pure away from the outline, and at
the center) and a one-pixel linear ramp across the outline (anti-aliasing). A pixel *shows* an
object when its center is inside the shape (coverage >= 0.5) and nothing is drawn over it; the
ground truth's `visible` flags are counted from exactly these pixels, so they agree with the
frames by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.world import shapes
from chronotope.world.landscape import Landscape
from chronotope.world.spec import ObjectSpec, SceneSpec
from chronotope.world.vocab import BACKGROUNDS, COLORS, SCENERY

_NOBODY, _WALL = 255, 254  # owner ids of pixels that show no object
_CHUNK_PIXELS = 1 << 22  # block layers are rasterized this many pixels of (T,H,W) at a time


@dataclass
class Rendered:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    shown: np.ndarray  # int64 (K, T): pixels showing object k in frame t
    whole: np.ndarray  # int64 (K, T): pixels object k would cover unclipped and unoccluded


def render(spec: SceneSpec, t: np.ndarray, centers_px: np.ndarray) -> Rendered:
    """Draw the scene at times `t`; `centers_px` (K, T, 2) are the objects' screen centers."""
    h, w, n = spec.height, spec.width, len(t)
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    if spec.landscape is not None:
        _draw_landscape(frames, spec.landscape, spec.camera_x(t) * spec.scale, spec.background)
    else:
        frames[:] = background_rows(spec.background, h)[None, :, None, :]  # (T,H,W,3) <- (H,3)
    owner = np.full((n, h, w), _NOBODY, dtype=np.uint8)  # which object each pixel shows
    strong = []  # per object: flat indices of pixels whose center is inside it
    whole = np.zeros((len(spec.objects), n), dtype=np.int64)
    for k, obj in enumerate(spec.objects):
        idx, whole[k] = _draw_object(frames, owner, k, obj, centers_px[k], spec.scale)
        strong.append(idx)
    if spec.wall is not None:
        lo = max(int(np.ceil(spec.to_pixels(spec.wall.x_left))), 0)
        hi = min(int(np.floor(spec.to_pixels(spec.wall.x_right))), w - 1)
        if lo <= hi:
            frames[:, :, lo : hi + 1] = SCENERY["wall"]
            owner[:, :, lo : hi + 1] = _WALL
    shown = np.zeros_like(whole)
    flat_owner = owner.reshape(-1)
    for k, idx in enumerate(strong):
        mine = idx[flat_owner[idx] == k]
        shown[k] = np.bincount(mine // (h * w), minlength=n)  # flat index -> frame index
    return Rendered(frames=frames, shown=shown, whole=whole)


def background_rows(name: str, height: int) -> np.ndarray:
    """Per-row background color, uint8 (H, 3): flat, or a vertical gradient for `sky`."""
    top, bottom = (np.asarray(c, dtype=np.float64) for c in BACKGROUNDS[name])
    f = (np.arange(height) + 0.5) / height  # row centers, 0 = top
    return np.rint(top + f[:, None] * (bottom - top)).astype(np.uint8)


def _draw_landscape(frames: np.ndarray, land: Landscape, cam_px: np.ndarray, background: str):
    """Block columns, far to near, over the background; a layer shifts by parallax * camera.

    Builds a palette index per pixel (rows 0..H-1 of the palette are the background's row
    colors, then one entry per layer, then the mortar) and gathers once: one pass over the
    frames instead of one masked write per layer.
    """
    n, h, w, _ = frames.shape
    if n > 1 and np.all(cam_px == cam_px[0]):  # static camera: draw one frame, copy it
        _draw_landscape(frames[:1], land, cam_px[:1], background)
        frames[1:] = frames[:1]
        return
    scale = min(h, w)
    block = land.block * scale  # pixels
    above = h - (np.arange(h) + 0.5)  # height of each row center above the frame bottom
    colors = [SCENERY[layer.name] for layer in land.layers] + [SCENERY["block_edge"]]
    palette = np.concatenate([background_rows(background, h), np.asarray(colors, np.uint8)])
    mortar = h + len(land.layers)
    step = max(1, _CHUNK_PIXELS // (h * w))
    for t0 in range(0, n, step):
        cam = cam_px[t0 : t0 + step]
        index = np.empty((len(cam), h, w), dtype=np.uint16)
        index[:] = np.arange(h, dtype=np.uint16)[None, :, None]  # background rows
        for i, layer in enumerate(land.layers):
            world = np.arange(w)[None, :] + 0.5 + layer.parallax * cam[:, None]  # (t, W) px
            tops = layer.heights(np.floor(world / block)) * block  # (t, W) column heights, px
            filled = above[None, :, None] <= tops[:, None, :]  # (t, H, W)
            np.copyto(index, h + i, where=filled)
            if layer is land.near and block >= 4:  # 1-px mortar lines between blocks
                edge = (np.mod(world, block) < 1.0)[:, None, :] | (np.mod(above, block) < 1.0)[
                    None, :, None
                ]
                np.copyto(index, mortar, where=filled & edge)
        np.take(palette, index, axis=0, out=frames[t0 : t0 + step])


def _draw_object(frames, owner, k, obj: ObjectSpec, centers: np.ndarray, scale: float):
    """Blend one object into every frame; returns (flat indices it covers, whole count per frame)."""
    n, h, w, _ = frames.shape
    size = obj.size * scale
    r = int(np.ceil(max(shapes.extent(obj.shape, size)) + 2.0))  # covers the AA fringe
    offsets = np.arange(-r, r + 1)
    cx, cy = centers[:, 0], centers[:, 1]
    ix = np.rint(cx).astype(np.int64)[:, None, None] + offsets[None, None, :]  # (T,1,win)
    iy = np.rint(cy).astype(np.int64)[:, None, None] + offsets[None, :, None]  # (T,win,1)
    dx, dy = ix - cx[:, None, None], iy - cy[:, None, None]
    alpha = np.clip(0.5 - shapes.signed_distance(obj.shape, dx, dy, size), 0.0, 1.0)  # (T,win,win)
    inside = alpha >= 0.5
    whole = inside.sum(axis=(1, 2))
    ti = np.broadcast_to(np.arange(n)[:, None, None], alpha.shape)
    ix, iy = np.broadcast_to(ix, alpha.shape), np.broadcast_to(iy, alpha.shape)
    onscreen = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    sel = onscreen & (alpha > 0)
    _blend(frames, ti[sel], iy[sel], ix[sel], alpha[sel], COLORS[obj.color])
    if obj.shape == "player":
        _draw_eye(frames, obj, ti, ix, iy, dx, dy, size, onscreen)
    strong = onscreen & inside
    flat = (ti[strong] * h + iy[strong]) * w + ix[strong]
    owner.reshape(-1)[flat] = k
    return flat, whole


def _draw_eye(frames, obj, ti, ix, iy, dx, dy, size, onscreen):
    """A small dark square on the head, on the side the player faces."""
    sign = 1.0 if obj.facing == "right" else -1.0
    ex, ey = shapes.EYE_OFFSET
    d = np.maximum(np.abs(dx - sign * ex * size), np.abs(dy - ey * size)) - shapes.EYE_HALF * size
    a = np.clip(0.5 - d, 0.0, 1.0)
    sel = onscreen & (a > 0)
    _blend(frames, ti[sel], iy[sel], ix[sel], a[sel], SCENERY["eye"])


def _blend(frames, t, y, x, alpha, color):
    """frames[t, y, x] = alpha * color + (1 - alpha) * frames[t, y, x], rounded."""
    under = frames[t, y, x].astype(np.float32)  # (N, 3)
    color = np.asarray(color, dtype=np.float32)
    out = under + alpha.astype(np.float32)[:, None] * (color - under)
    frames[t, y, x] = np.rint(out).astype(np.uint8)
