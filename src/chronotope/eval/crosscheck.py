"""A second opinion: a deliberately simple detector beside the main one.

Per frame, the centroid of the pixels within `TOLERANCE` of the prompt's exact RGB
(`world.vocab.COLORS`): no nearest-palette rule, no connected components, no tracking, no shape.
It shares nothing with `eval.detect` / `eval.tracks` but the vocabulary, so where the two read a
video differently one of them is wrong, and the report shows where (`disagreements`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from chronotope.world.vocab import COLORS

# Object colors are >= 104 from every background and scenery color and >= 127 from each other
# (world/vocab.py): within 48 of the exact color is the object's body and nothing else, while an
# anti-aliased edge pixel (a blend toward the background) mostly falls outside on every side.
TOLERANCE = 48.0
MIN_PIXELS = 4  # fewer pixels than this in a frame: the color is absent there
# An object is compact: the RMS distance of its pixels from their centroid is at most about
# 0.4 of its size (a circle 0.35, a square 0.41), and the world's largest object is 0.28 units.
# Pixels spread wider than 0.2 units are scattered noise, not one object: absent.
MAX_SPREAD = 0.2
MIN_PRESENT = 0.5  # the color must be there in at least half the frames
# A direction needs a net displacement of at least half the world's slowest uniform motion
# (0.1 units/s, scenes.SPEED) times the clip's duration; below it on both axes: "stays still".
SLOWEST = 0.1


def centroid_series(
    frames: np.ndarray, color: str, tolerance: float = TOLERANCE
) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (T,2) x,y in px, NaN where absent; pixel counts (T,)) of `color`'s pixels.

    A frame counts as absent with fewer than MIN_PIXELS pixels within `tolerance` of the exact
    RGB, or when they are scattered wider than MAX_SPREAD units (noise, not an object).
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    t, h, w, _ = frames.shape
    rgb = np.asarray(COLORS[color], dtype=np.float32)
    d2 = ((frames.astype(np.float32) - rgb) ** 2).sum(-1)
    mask = d2 <= tolerance**2  # (T,H,W)
    count = mask.sum(axis=(1, 2))
    n = np.maximum(count, 1)
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    rows, cols = mask.sum(2), mask.sum(1)  # (T,H), (T,W)
    cx, cy = cols @ xs / n, rows @ ys / n
    var = (cols @ xs**2 / n - cx**2) + (rows @ ys**2 / n - cy**2)
    spread = np.sqrt(np.maximum(var, 0.0)) / min(h, w)
    out = np.stack([cx, cy], axis=1)
    out[(count < MIN_PIXELS) | (spread > MAX_SPREAD)] = np.nan
    return out, count


def crosscheck_motion(frames: np.ndarray, color: str, fps: float) -> str | None:
    """'moves left/right/up/down', 'stays still', or None (the color is absent) from centroids.

    The net displacement is the least-squares slope of the centroid series (frames where the
    color is present) times the clip's duration, in units; the dominant axis names the
    direction when it reaches SLOWEST / 2 units/s over the clip, else "stays still". None when
    the color is present in fewer than MIN_PRESENT of the frames (or in fewer than two).
    """
    c, _ = centroid_series(frames, color)
    t = len(c)
    seen = np.flatnonzero(~np.isnan(c[:, 0]))
    if t < 2 or len(seen) < max(2, MIN_PRESENT * t):
        return None
    scale = float(min(np.asarray(frames).shape[1:3]))
    slope = np.polyfit(seen / fps, c[seen] / scale, 1)[0]  # (2,) units/s
    dx, dy = slope * (t - 1) / fps
    need = 0.5 * SLOWEST * (t - 1) / fps
    if max(abs(dx), abs(dy)) < need:
        return "stays still"
    if abs(dx) >= abs(dy):
        return "moves right" if dx > 0 else "moves left"
    return "moves down" if dy > 0 else "moves up"


def disagreements(rows: Iterable[Mapping]) -> dict:
    """Where the main detector and the cross-check read a video differently.

    `rows`: mappings with `prompt`, `main` and `cross` (a motion name or None). Returns
    {"n": rows, "fraction": share that differ (0.0 for no rows), "rows": the differing rows}.
    """
    rows = list(rows)
    differ = [dict(r) for r in rows if r.get("main") != r.get("cross")]
    return {"n": len(rows), "fraction": len(differ) / len(rows) if rows else 0.0, "rows": differ}
