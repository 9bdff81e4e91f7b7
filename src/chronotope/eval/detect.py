"""Object detectors with no learned weights: color masks, connected components, shape by geometry.

The world paints objects in saturated vocabulary colors that are >= 127 apart in RGB from each
other and from every background and scenery color (world/vocab.py). A pixel belongs to an object
color when that color is its nearest entry of the whole palette (object colors, backgrounds,
scenery) and lies within `tolerance`: the nearest-entry rule keeps the masks disjoint, and the
tolerance drops anti-aliased (or VAE-blurred) edge pixels symmetrically, so the mask centroid of a
whole object lands on its recorded center (`ObjectState.center`) within a fraction of a pixel.

Shape comes from two angular harmonics of a component's pixels about their centroid (a Fourier
shape descriptor): with c_n = <r^2 e^{i n theta}> / <r^2> over the pixels (theta from the +x
axis, y up), h3 = -Im c_3 and h4 = -Re c_4. A circle has neither (0, 0); the world's apex-up
triangle has a strong 3-fold term (h3 ~0.55) and its axis-aligned square a 4-fold one with the
corners on the diagonals (h4 ~0.29). Pixels far from the centre weigh most, so the features
read the corners and the apex; unlike the fill ratio (area / bbox area) they do not fall when a
decoder rounds the corners a little or pinches the sides of a square, which leaves the corners
where they were. The prototypes below were measured on ground-truth world clips
(`calibrate_shapes`; a test keeps them in step with the renderer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.eval.concepts import NEW_COLORS
from chronotope.world import BACKGROUNDS, COLORS, SCENERY

COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
# the world's colors, then the new concepts' (eval/concepts.py): looked for only when asked
NEW_COLOR_NAMES: tuple[str, ...] = COLOR_NAMES + tuple(NEW_COLORS)
_PALETTE = {**COLORS, **NEW_COLORS}


def _distractor_rgb() -> np.ndarray:
    """Backgrounds (gradients sampled every tenth of the way) and scenery: never objects."""
    out = []
    for top, bottom in BACKGROUNDS.values():
        a, b = np.asarray(top, np.float32), np.asarray(bottom, np.float32)
        out += [a + f * (b - a) for f in np.linspace(0.0, 1.0, 11)]
    out += [np.asarray(c, np.float32) for c in SCENERY.values()]
    return np.unique(np.stack(out), axis=0)


_DISTRACTOR_RGB = _distractor_rgb()

# (h3, h4) per shape, measured by `calibrate_shapes` (see module doc)
SHAPE_PROTOTYPES: dict[str, tuple[float, float]] = {
    "circle": (-0.008, 0.003),
    "square": (0.0, 0.290),
    "triangle": (0.547, 0.008),
}
# the new concepts' shape (eval/concepts.py): a bar is over this many times as wide as tall (the
# world's shapes are 0.75-1.1, a bar 1.6-2.8 at the 10th-90th percentiles, all after the VAE)
BAR_ASPECT = 1.6


@dataclass(frozen=True)
class DetectConfig:
    tolerance: float = 80.0  # max RGB distance to the exact vocabulary color
    min_area: int = 8  # components smaller than this (pixels) are noise
    # also look for the new concepts' colors and shapes (eval/concepts.py: a LoRA adapter's
    # lesson); off, nothing the world's eval measures changes
    new_concepts: bool = False

    @property
    def colors(self) -> tuple[str, ...]:
        return NEW_COLOR_NAMES if self.new_concepts else COLOR_NAMES


@dataclass(frozen=True)
class Detection:
    """One connected component of one object color in one frame (pixel (i, j) is x=j, y=i)."""

    frame: int
    color: str
    shape: str
    center: tuple[float, float]  # (x, y) centroid, px
    area: int  # pixels
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    harmonics: tuple[float, float]  # (h3, h4): the shape features (module doc)
    clipped: bool  # touches the frame border: shape features are unreliable

    def to_dict(self) -> dict:
        return {
            "frame": self.frame,
            "color": self.color,
            "shape": self.shape,
            "center": list(self.center),
            "area": self.area,
            "bbox": list(self.bbox),
        }


def color_map(
    frames: np.ndarray,
    tolerance: float = DetectConfig.tolerance,
    colors: tuple[str, ...] = COLOR_NAMES,
) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,H,W) int8: 1 + index into `colors`, 0 for no object color."""
    palette = np.asarray([_PALETTE[c] for c in colors], dtype=np.float32)  # (K, 3)
    x = frames.astype(np.float32)[..., None, :]  # (T,H,W,1,3)
    d_obj = np.sqrt(((x - palette) ** 2).sum(-1))  # (T,H,W,K)
    d_bg = np.sqrt(((x - _DISTRACTOR_RGB) ** 2).sum(-1)).min(-1)  # (T,H,W)
    best = d_obj.argmin(-1)
    d_best = np.take_along_axis(d_obj, best[..., None], -1)[..., 0]
    keep = (d_best <= tolerance) & (d_best < d_bg)
    return np.where(keep, best + 1, 0).astype(np.int8)


def label_components(cmap: np.ndarray) -> np.ndarray:
    """4-connected components of equal nonzero values within each frame of (T,H,W).

    Returns int64 labels: the flat index of one pixel of the component (so labels never cross
    frames), or -1 for background. Min-label propagation plus pointer jumping: each pass takes
    the smallest label among same-colored neighbours, then follows labels to their own labels,
    which converges in about log(component diameter) passes.
    """
    n = cmap.size
    fg = cmap > 0
    lab = np.where(fg, np.arange(n).reshape(cmap.shape), n)
    while True:
        new = lab.copy()
        for axis in (1, 2):
            a = [slice(None)] * 3
            b = [slice(None)] * 3
            a[axis], b[axis] = slice(1, None), slice(None, -1)
            a, b = tuple(a), tuple(b)
            same = fg[a] & (cmap[a] == cmap[b])
            np.minimum(new[a], np.where(same, lab[b], n), out=new[a])  # from the previous pixel
            np.minimum(new[b], np.where(same, lab[a], n), out=new[b])  # from the next pixel
        flat = new.reshape(-1)
        idx = np.flatnonzero(flat < n)
        flat[idx] = flat[flat[idx]]  # pointer jump: a label is a pixel of the same component
        if np.array_equal(new, lab):
            return np.where(fg, lab, -1)
        lab = new


# A component is no shape of the world ("none") when it lies farther from its nearest shape than
# half the way from that shape's prototype to the next prototype (circle and square: 0.145 of
# the 0.29 between them; triangle: 0.27), so a blob never counts as a shape by default.


def _shape_distances(h: np.ndarray, protos: np.ndarray, names: list[str]) -> np.ndarray:
    """Distance to each shape: to the circle's point, and to the ray from the square's or the
    triangle's prototype outward (corners sharper than the prototype's, as a decoder that pinches
    a square's sides makes them, are more of that shape, not less)."""
    out = []
    for p, name in zip(protos, names):
        t = 1.0 if name == "circle" else max(1.0, float(h @ p) / float(p @ p))
        out.append(float(np.hypot(*(h - t * p))))
    return np.asarray(out)


def classify_shape(harmonics: tuple[float, float]) -> str:
    """The nearest shape in (h3, h4) space, or "none" (see above)."""
    names = list(SHAPE_PROTOTYPES)
    protos = np.asarray([SHAPE_PROTOTYPES[s] for s in names])
    dist = _shape_distances(np.asarray(harmonics, np.float64), protos, names)
    k = int(dist.argmin())
    apart = np.sqrt(((protos - protos[k]) ** 2).sum(-1))
    return names[k] if dist[k] <= 0.5 * np.sort(apart)[1] else "none"


def _harmonics(
    inv: np.ndarray, xs: np.ndarray, ys: np.ndarray, cx: np.ndarray, cy: np.ndarray
) -> np.ndarray:
    """(K, 2) (h3, h4) of each component from its pixels (component index `inv` per pixel)."""
    z = (xs - cx[inv]) - 1j * (ys - cy[inv])  # about the centroid, y up
    r2 = np.abs(z) ** 2
    theta = np.angle(z)
    k = len(cx)
    total = np.maximum(np.bincount(inv, r2, minlength=k), 1e-12)
    h3 = -np.bincount(inv, r2 * np.sin(3 * theta), minlength=k) / total
    h4 = -np.bincount(inv, r2 * np.cos(4 * theta), minlength=k) / total
    return np.stack([h3, h4], axis=1)


def detect(frames: np.ndarray, cfg: DetectConfig | None = None) -> list[list[Detection]]:
    """Per frame of (T,H,W,3) uint8, the detected objects, largest first."""
    cfg = cfg or DetectConfig()
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    t, h, w, _ = frames.shape
    out: list[list[Detection]] = [[] for _ in range(t)]
    cmap = color_map(frames, cfg.tolerance, cfg.colors)
    labels = label_components(cmap).reshape(-1)
    pix = np.flatnonzero(labels >= 0)
    if not len(pix):
        return out
    ids, inv = np.unique(labels[pix], return_inverse=True)
    area = np.bincount(inv)
    ys, xs = (pix // w) % h, pix % w
    cx, cy = np.bincount(inv, xs) / area, np.bincount(inv, ys) / area
    x0, y0 = np.full(len(ids), w), np.full(len(ids), h)
    x1, y1 = np.full(len(ids), -1), np.full(len(ids), -1)
    np.minimum.at(x0, inv, xs)
    np.minimum.at(y0, inv, ys)
    np.maximum.at(x1, inv, xs)
    np.maximum.at(y1, inv, ys)
    harmonics = _harmonics(inv, xs, ys, cx, cy)
    colors = cmap.reshape(-1)[ids] - 1
    for k in np.argsort(-area, kind="stable"):
        if area[k] < cfg.min_area:
            continue
        feats = (float(harmonics[k, 0]), float(harmonics[k, 1]))
        clipped = bool(x0[k] == 0 or y0[k] == 0 or x1[k] == w - 1 or y1[k] == h - 1)
        shape = classify_shape(feats)
        if cfg.new_concepts and (x1[k] - x0[k] + 1) >= BAR_ASPECT * (y1[k] - y0[k] + 1):
            shape = "bar"
        out[int(ids[k] // (h * w))].append(
            Detection(
                frame=int(ids[k] // (h * w)),
                color=cfg.colors[int(colors[k])],
                shape=shape,
                center=(float(cx[k]), float(cy[k])),
                area=int(area[k]),
                bbox=(int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])),
                harmonics=feats,
                clipped=clipped,
            )
        )
    return out
