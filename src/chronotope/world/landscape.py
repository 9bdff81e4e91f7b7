"""Block landscapes: column heights as a pure function of (salt, column index), infinite in x.

A camera may pan arbitrarily far in either direction, so heights cannot come from a finite
sampled array; they come from an integer hash of the column index (SplitMix64 finalizer), smoothed
as value noise so hills span several columns. No global RNG: the salt comes from the scene's
Generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _hash_unit(index: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per integer index; SplitMix64's finalizer over (index, salt)."""
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps on purpose
        z = index.astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z + np.uint64(salt)) & _MASK64
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer of block columns: heights in whole blocks in [low, high], moving at `parallax`.

    `parallax` is how far the layer moves on screen per unit of camera motion: 1 for the
    near layer (the ground the objects stand on), less for farther layers.
    """

    name: str  # a key of vocab.SCENERY: its color
    parallax: float
    low: int
    high: int
    salt: int
    smooth: int = 3  # columns between value-noise knots

    def heights(self, column: np.ndarray) -> np.ndarray:
        """Height of each column, in whole blocks (int64)."""
        column = np.asarray(column, dtype=np.int64)
        knot = np.floor_divide(column, self.smooth)
        frac = (column - knot * self.smooth) / self.smooth
        a, b = _hash_unit(knot, self.salt), _hash_unit(knot + 1, self.salt)
        level = a + (b - a) * frac  # value noise in [0, 1)
        return self.low + np.floor(level * (self.high - self.low + 1)).astype(np.int64)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Landscape:
    """Layers drawn far to near; block edges (mortar lines) are drawn on the near layer only."""

    block: float  # block side in world units
    layers: tuple[Layer, ...]

    @property
    def near(self) -> Layer:
        return self.layers[-1]

    def ground_top(self, x_left: float, x_right: float, camera_x: float = 0.0) -> float:
        """Height (units above the frame bottom) of the tallest near column under [x_left, x_right]."""
        lo = int(np.floor((x_left + camera_x * self.near.parallax) / self.block))
        hi = int(np.floor((x_right + camera_x * self.near.parallax) / self.block))
        return float(self.near.heights(np.arange(lo, hi + 1)).max() * self.block)

    def to_dict(self) -> dict:
        return {"block": self.block, "layers": [layer.to_dict() for layer in self.layers]}
