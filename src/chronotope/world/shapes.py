"""Shape geometry: signed distance (for anti-aliased rasterization) and extents (for physics).

Every shape has one `size` s (pixels or world units alike) and a `center` that is the centroid of
its area, so a color-mask centroid of a whole, unoccluded object lands on the recorded center.
- circle: diameter s.
- square: side s, axis aligned.
- triangle: apex up, base s, height s; the centroid sits s/3 above the base.
- player: the game sprite, a body (0.6s wide) under a head (diameter 0.4s); its reference point
  is inside the body, 0.2s below the body's top (not the centroid: a sprite has no tidy one).
y grows downward (image rows), so "up" is negative y.
"""

from __future__ import annotations

import numpy as np

_SQRT5 = float(np.sqrt(5.0))

# Player sprite layout in units of its size (see the module docstring).
_BODY_CENTER_Y, _BODY_HALF_W, _BODY_HALF_H = 0.15, 0.3, 0.35  # body spans y in [-0.2, 0.5]
_HEAD_CENTER_Y, _HEAD_RADIUS = -0.3, 0.2  # head spans y in [-0.5, -0.1]
EYE_OFFSET = (0.08, -0.33)  # (x toward the facing side, y), in units of size
EYE_HALF = 0.06


def signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, size: float) -> np.ndarray:
    """Distance from the shape's outline, negative inside; exact inside, a bound outside corners.

    `dx, dy` are offsets from the shape's center in the same unit as `size`.
    """
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - 0.5 * size
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.5 * size
    if shape == "triangle":
        # vertices: apex (0, -2s/3), base corners (+-s/2, s/3); outward normals (+-2, -1)/sqrt(5)
        base = dy - size / 3.0
        sides = (2.0 * np.abs(dx) - (dy + 2.0 * size / 3.0)) / _SQRT5
        return np.maximum(base, sides)
    if shape == "player":
        body = np.maximum(
            np.abs(dx) - _BODY_HALF_W * size,
            np.abs(dy - _BODY_CENTER_Y * size) - _BODY_HALF_H * size,
        )
        head = np.sqrt(dx * dx + (dy - _HEAD_CENTER_Y * size) ** 2) - _HEAD_RADIUS * size
        return np.minimum(body, head)
    raise ValueError(f"unknown shape {shape!r}")


def extent(shape: str, size: float) -> tuple[float, float, float, float]:
    """(left, right, up, down): how far the shape reaches from its center along each axis."""
    if shape in ("circle", "square"):
        h = 0.5 * size
        return h, h, h, h
    if shape == "triangle":
        return 0.5 * size, 0.5 * size, 2.0 * size / 3.0, size / 3.0
    if shape == "player":
        return _BODY_HALF_W * size, _BODY_HALF_W * size, 0.5 * size, 0.5 * size
    raise ValueError(f"unknown shape {shape!r}")


def half_width(shape: str, size: float, dy: np.ndarray) -> np.ndarray:
    """Half of the shape's horizontal width at rows `dy` from its center (NaN outside the shape)."""
    up, down = extent(shape, size)[2:]
    inside = (dy >= -up) & (dy <= down)
    if shape == "circle":
        w = np.sqrt(np.clip(0.25 * size * size - dy * dy, 0.0, None))
    elif shape == "square":
        w = np.full_like(dy, 0.5 * size)
    elif shape == "triangle":
        # width grows linearly from 0 at the apex (dy = -2s/3) to s at the base (dy = s/3)
        w = 0.5 * (dy + 2.0 * size / 3.0)
    else:
        raise ValueError(f"half_width is defined for free objects only, not {shape!r}")
    return np.where(inside, w, np.nan)


def contact_distance(
    left: tuple[str, float, float], right: tuple[str, float, float], samples: int = 2001
) -> float:
    """Center-to-center x distance at which two shapes side by side first touch.

    Each argument is (shape, size, center_y). The shapes touch where the sum of their half
    widths at a common row is largest; sampled on a fine grid of rows (error < size / samples).
    """
    (sa, za, ya), (sb, zb, yb) = left, right
    ua, da = extent(sa, za)[2:]
    ub, db = extent(sb, zb)[2:]
    lo, hi = max(ya - ua, yb - ub), min(ya + da, yb + db)
    if lo > hi:
        return 0.0  # no common row: they pass each other without touching
    rows = np.linspace(lo, hi, samples)
    widths = half_width(sa, za, rows - ya) + half_width(sb, zb, rows - yb)
    return float(np.nanmax(widths))
