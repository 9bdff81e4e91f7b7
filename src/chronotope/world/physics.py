"""Trajectories in closed form: position as a function of continuous time.

Units: time in seconds; lengths in *world units*, where 1 unit is the short side of the frame
(so the same scene at 64x64 and 256x256 shows the same motion, and at 8 and 24 fps the same motion
sampled differently). x grows rightward, y downward (gravity is +y). Every trajectory evaluates
a whole array of times at once (the renderer is vectorized over frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

GRAVITY = 1.5  # units / s^2: a drop of half the frame takes about 0.8 s

# Below this apex height (units) a bouncing object is at rest: about 1/1000 of a pixel at 1024 px.
_REST_HEIGHT = 1e-6


@dataclass(frozen=True, kw_only=True)
class Linear:
    """Uniform motion: p(t) = p0 + v t (velocity 0 for `stays still`)."""

    x0: float
    y0: float
    vx: float = 0.0
    vy: float = 0.0

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + self.vx * t, self.y0 + self.vy * t

    def to_dict(self) -> dict:
        return {"kind": "linear", **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Ballistic:
    """Thrown under gravity: p(t) = p0 + v0 t + (0, g t^2 / 2), a parabola."""

    x0: float
    y0: float
    vx: float
    vy: float
    gravity: float = GRAVITY

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + self.vx * t, self.y0 + self.vy * t + 0.5 * self.gravity * t * t

    def to_dict(self) -> dict:
        return {"kind": "ballistic", **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Bounce:
    """Dropped from rest at (x0, y0) onto a floor where the center stops at `floor_y`.

    Each bounce keeps `restitution` of the speed, so bounce k starts at speed e^k v1 and lasts
    2 e^k v1 / g; the bounce times form a geometric series that converges (the object comes to
    rest after t1 + 2 e v1 / (g (1 - e))).
    """

    x0: float
    y0: float
    floor_y: float
    restitution: float
    gravity: float = GRAVITY

    @property
    def fall_time(self) -> float:
        """Time of the first impact."""
        return float(np.sqrt(2.0 * (self.floor_y - self.y0) / self.gravity))

    def bounce_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(start time, upward speed) of every bounce whose apex is above the rest height."""
        g, e = self.gravity, self.restitution
        v1 = g * self.fall_time
        # bounce k has apex (e^k v1)^2 / 2g >= rest height  <=>  k <= log(v_rest / v1) / log(e)
        v_rest = np.sqrt(2.0 * g * _REST_HEIGHT)
        k_max = int(np.floor(np.log(v_rest / v1) / np.log(e))) if 0 < e < 1 and v1 > v_rest else 0
        speeds = v1 * e ** np.arange(1, k_max + 1)
        starts = self.fall_time + np.concatenate([[0.0], np.cumsum(2.0 * speeds / g)[:-1]])
        return starts[:k_max], speeds

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = self.gravity
        starts, speeds = self.bounce_times()
        t = np.asarray(t, dtype=np.float64)
        y = np.full_like(t, self.floor_y)  # on the floor, between bounces or at rest
        falling = t < self.fall_time
        y[falling] = self.y0 + 0.5 * g * t[falling] ** 2
        if len(starts):
            k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)  # current bounce
            tau = t - starts[k]
            airborne = ~falling & (tau < 2.0 * speeds[k] / g)
            y[airborne] = self.floor_y - (speeds[k] * tau - 0.5 * g * tau * tau)[airborne]
        return np.full_like(t, self.x0), y

    def to_dict(self) -> dict:
        return {"kind": "bounce", **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Collision:
    """Uniform motion until `t_hit`, then uniform motion at the post-collision velocity."""

    x0: float
    y0: float
    vx: float
    t_hit: float
    vx_after: float

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        before = np.minimum(t, self.t_hit)
        after = np.maximum(t - self.t_hit, 0.0)
        return self.x0 + self.vx * before + self.vx_after * after, np.full_like(t, self.y0)

    def to_dict(self) -> dict:
        return {"kind": "collision", **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Hops:
    """The game's jumps: standing at (x0, y0), jumping every `flight + pause` seconds from `t0`.

    During a flight the player rises at `v_jump` under gravity and moves at `vx_air`; between
    flights it stands still. Position after n whole periods is closed form.
    """

    x0: float
    y0: float
    t0: float
    v_jump: float
    vx_air: float
    pause: float
    gravity: float = GRAVITY

    @property
    def flight(self) -> float:
        return 2.0 * self.v_jump / self.gravity

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        s = np.maximum(t - self.t0, 0.0)
        period = self.flight + self.pause
        n = np.floor(s / period)
        air = np.minimum(s - n * period, self.flight)  # time spent in the current flight
        x = self.x0 + self.vx_air * (n * self.flight + air)
        y = self.y0 - (self.v_jump * air - 0.5 * self.gravity * air * air)
        return x, y

    def to_dict(self) -> dict:
        return {"kind": "hops", **asdict(self)}


Trajectory = Linear | Ballistic | Bounce | Collision | Hops


def elastic_velocities(m1: float, v1: float, m2: float, v2: float) -> tuple[float, float]:
    """Velocities after a 1D elastic collision (momentum and kinetic energy conserved)."""
    total = m1 + m2
    return ((m1 - m2) * v1 + 2 * m2 * v2) / total, ((m2 - m1) * v2 + 2 * m1 * v1) / total
