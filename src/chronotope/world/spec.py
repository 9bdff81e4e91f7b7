"""The scene spec: everything that defines a clip's content, independent of fps and duration.

A spec is sampled once from the seed (see `scenes.py`); the frames and the ground truth are then
functions of (spec, times). So the same seed at 8 fps and at 16 fps shows the same motion, and a
longer clip continues the shorter one. Lengths are world units (1 = the frame's short side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chronotope.world.landscape import Landscape
from chronotope.world.physics import Linear, Trajectory


@dataclass(frozen=True, kw_only=True)
class ObjectSpec:
    """One moving thing: its looks, the caption phrase for its motion, and its trajectory.

    In a scene with a camera the trajectory is in world coordinates (the object stands on the
    near layer); otherwise world and screen coincide.
    """

    shape: str  # a vocabulary shape, or "player"
    color: str
    size: float  # world units
    motion: str  # the vocabulary motion or game action it performs
    trajectory: Trajectory
    facing: str | None = None  # the player's facing side ("left"/"right")

    def to_dict(self) -> dict:
        return {
            "shape": self.shape,
            "color": self.color,
            "size": self.size,
            "motion": self.motion,
            "trajectory": self.trajectory.to_dict(),
            "facing": self.facing,
        }


@dataclass(frozen=True, kw_only=True)
class Wall:
    """An opaque full-height wall between x_left and x_right (units), drawn over the objects."""

    x_left: float
    x_right: float

    def to_dict(self) -> dict:
        return {"x_left": self.x_left, "x_right": self.x_right}


@dataclass(frozen=True, kw_only=True)
class SceneSpec:
    family: str
    width: int  # pixels: the unit conversion needs the frame size
    height: int
    background: str
    objects: tuple[ObjectSpec, ...]
    wall: Wall | None = None
    landscape: Landscape | None = None
    camera: Linear | None = None  # camera x(t) in units; None = static camera at 0
    direction: str | None = None  # occlusion pass / camera pan direction
    extras: dict = field(default_factory=dict)  # family-specific facts (masses, hit time)

    @property
    def scale(self) -> float:
        """Pixels per world unit: the frame's short side."""
        return float(min(self.width, self.height))

    def camera_x(self, t: np.ndarray) -> np.ndarray:
        """Camera offset in units at times t (the near layer's screen shift)."""
        if self.camera is None:
            return np.zeros_like(np.asarray(t, dtype=np.float64))
        return self.camera.position(t)[0]

    def screen_positions(self, t: np.ndarray) -> np.ndarray:
        """Object centers on screen in units, shape (K, T, 2); the camera moves the world."""
        cam = self.camera_x(t)
        out = np.empty((len(self.objects), len(t), 2))
        for k, obj in enumerate(self.objects):
            x, y = obj.trajectory.position(t)
            out[k, :, 0] = x - cam
            out[k, :, 1] = y
        return out

    def to_pixels(self, units: np.ndarray) -> np.ndarray:
        """World units -> pixel coordinates, where pixel (i, j) has its center at (x=j, y=i)."""
        return units * self.scale - 0.5

    def to_dict(self) -> dict:
        return {
            "family": self.family,
            "width": self.width,
            "height": self.height,
            "background": self.background,
            "objects": [o.to_dict() for o in self.objects],
            "wall": self.wall.to_dict() if self.wall else None,
            "landscape": self.landscape.to_dict() if self.landscape else None,
            "camera": self.camera.to_dict() if self.camera else None,
            "direction": self.direction,
            "extras": dict(self.extras),
        }
