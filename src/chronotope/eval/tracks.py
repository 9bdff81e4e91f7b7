"""Object tracks across frames, and the motion a track shows.

A track links detections of one color frame to frame by nearest centroid (the world gives the
objects of one scene distinct colors, so color does most of the work; the distance gate splits
two same-colored blobs a generated video may show). Motions are read from the track in world
units (1 = the frame's short side), so the thresholds hold at every frame size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import Detection
from chronotope.world.physics import GRAVITY
from chronotope.world.scenes import SPEED

# The world's object sizes (units): the smallest is an occlusion object (0.12), the largest a
# player (0.28); a triangle covers half its box. A decoder's blur erodes a color mask, so the
# smallest plausible area is 0.4 x the smallest true one; the largest allows 2x.
OBJECT_SIZE_RANGE = (0.12, 0.28)
_SMALLEST_AREA = 0.5 * OBJECT_SIZE_RANGE[0] ** 2
_LARGEST_AREA = OBJECT_SIZE_RANGE[1] ** 2


@dataclass(frozen=True)
class TrackConfig:
    max_jump: float = 0.25  # units per frame a track may move (a gap of g frames allows g times)
    max_gap: int = 4  # frames a track may go unseen and still be continued
    presence: float = 0.6  # a counted object is seen in at least this fraction of the frames
    min_area: float = 0.4 * _SMALLEST_AREA  # units^2 (median over the track)
    max_area: float = 2.0 * _LARGEST_AREA
    still_spread: float = 0.05  # units: a still object stays this close to its mean position
    speed_slack: float = 1.5  # a direction's speed is within the world's range / and x this
    across: float = 0.5  # the cross-axis speed of a direction is at most this x the main one
    gravity: tuple[float, float] = (0.5, 2.0)  # a fall's acceleration over the world's gravity
    rebound: float = 0.03  # units a bouncing object rises again after its lowest point
    drift: float = 0.1  # units a falling object may drift sideways
    arc_rise: float = 0.1  # units an arc rises above its start (the world's: 0.25-0.5)
    arc_fall: float = 0.05  # units it comes down after its apex
    arc_travel: float = 0.1  # units it travels sideways


@dataclass
class Track:
    color: str
    frames: list[int]
    centers: list[tuple[float, float]]  # px
    areas: list[int]
    shapes: list[str]  # per detection; "" where the detection was clipped by the border

    @property
    def shape(self) -> str | None:
        """Majority shape over the unclipped detections ("none" counts as a vote: a blob that is
        no shape most of the time has none); None if every detection was clipped."""
        votes = Counter(s for s in self.shapes if s)
        return votes.most_common(1)[0][0] if votes else None

    def positions(self, num_frames: int) -> np.ndarray:
        """(num_frames, 2) centers in px, NaN where the track was not seen."""
        out = np.full((num_frames, 2), np.nan)
        out[self.frames] = self.centers
        return out

    def to_dict(self) -> dict:
        return {"color": self.color, "shape": self.shape, "frames": list(self.frames)}


def track(
    detections: list[list[Detection]], cfg: TrackConfig | None = None, *, scale: float
) -> list[Track]:
    """Link per-frame detections into tracks (longest first); `scale`: px per unit (short side)."""
    cfg = cfg or TrackConfig()
    tracks: list[Track] = []
    for t, dets in enumerate(detections):
        taken: set[int] = set()
        for d in dets:  # largest first: the main object claims its track before fragments do
            best, best_dist = None, np.inf
            for i, tr in enumerate(tracks):
                gap = t - tr.frames[-1]
                if tr.color != d.color or i in taken or gap > cfg.max_gap or gap < 1:
                    continue
                dist = np.hypot(d.center[0] - tr.centers[-1][0], d.center[1] - tr.centers[-1][1])
                if dist <= cfg.max_jump * scale * gap and dist < best_dist:
                    best, best_dist = i, dist
            if best is None:
                tracks.append(Track(d.color, [], [], [], []))
                best = len(tracks) - 1
            tr = tracks[best]
            taken.add(best)
            tr.frames.append(t)
            tr.centers.append(d.center)
            tr.areas.append(d.area)
            tr.shapes.append("" if d.clipped else d.shape)
    return sorted(tracks, key=lambda tr: -len(tr.frames))


def main_track(tracks: list[Track], color: str | None = None) -> Track | None:
    """The longest track (of `color` when given), or None."""
    for tr in tracks:
        if color is None or tr.color == color:
            return tr
    return None


def persistent(tracks: list[Track], num_frames: int, fraction: float = 0.5) -> list[Track]:
    """Tracks seen in at least `fraction` of the frames."""
    return [tr for tr in tracks if len(tr.frames) >= fraction * num_frames]


def plausible(tr: Track, num_frames: int, scale: float, cfg: TrackConfig | None = None) -> bool:
    """An object a viewer would count: seen in most frames, at a size the world's objects have."""
    cfg = cfg or TrackConfig()
    if len(tr.frames) < cfg.presence * num_frames:
        return False
    area = float(np.median(tr.areas)) / (scale * scale)  # units^2
    return cfg.min_area <= area <= cfg.max_area


def counted(tracks: list[Track], num_frames: int, scale: float) -> list[Track]:
    """The plausible tracks (longest first): what the eval counts as objects."""
    return [tr for tr in tracks if plausible(tr, num_frames, scale)]


def _fit(tr: Track, scale: float, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t seconds, positions in units (N,2), velocity units/s from a least-squares line)."""
    t = np.asarray(tr.frames, dtype=np.float64) / fps
    p = np.asarray(tr.centers, dtype=np.float64) / scale
    v = np.polyfit(t, p, 1)[0] if len(t) >= 2 else np.zeros(2)
    return t, p, v


def motion_direction(
    tr: Track, scale: float, fps: float, seconds: float, cfg: TrackConfig | None = None
) -> str | None:
    """'moves left/right/up/down' or 'stays still' by the world's own rules, or None (no motion
    of the world: too slow to be one, too fast, diagonal, or jittering in place).

    A direction needs a net displacement of at least half the world's slowest uniform motion over
    the clip (`seconds`), a speed within the world's range (with `speed_slack`), and one dominant
    axis (the world's uniform motions are axis-aligned). Still needs the object present and not
    moving: less than that displacement and a small spread about its mean."""
    cfg = cfg or TrackConfig()
    t, p, v = _fit(tr, scale, fps)
    if len(t) < 2:
        return None
    net = v * (t[-1] - t[0])
    least = 0.5 * SPEED[0] * seconds
    if np.hypot(*net) < least:
        spread = float(np.linalg.norm(p - p.mean(0), axis=1).max())
        return "stays still" if spread <= cfg.still_spread else None
    speed = float(np.hypot(*v))
    along, across = (abs(v[0]), abs(v[1])) if abs(v[0]) >= abs(v[1]) else (abs(v[1]), abs(v[0]))
    if not SPEED[0] / cfg.speed_slack <= speed <= SPEED[1] * cfg.speed_slack:
        return None
    if across > cfg.across * along:
        return None
    if abs(v[0]) >= abs(v[1]):
        return "moves right" if v[0] > 0 else "moves left"
    return "moves down" if v[1] > 0 else "moves up"


def fall_acceleration(y: np.ndarray, t: np.ndarray) -> tuple[float, int]:
    """(downward acceleration units/s^2 of the descent, index of its lowest point) from heights
    `y` (units, down positive) at times `t`; NaN when fewer than 3 points descend."""
    if len(y) < 3:
        return float("nan"), len(y) - 1
    rising = np.flatnonzero(np.diff(y) < 0)  # first step back up: the bounce
    low = int(rising[0]) if len(rising) else len(y) - 1
    end = low if low > 3 else low + 1  # the lowest sample may already hold the impact
    if end < 3:
        return float("nan"), low
    return float(2.0 * np.polyfit(t[:end], y[:end], 2)[0]), low


def is_fall(tr: Track, scale: float, fps: float, cfg: TrackConfig | None = None) -> bool:
    """Falls and bounces: a descent whose acceleration is near the world's gravity, then a
    rebound (it rises again), with little sideways drift."""
    cfg = cfg or TrackConfig()
    t, p, _ = _fit(tr, scale, fps)
    accel, low = fall_acceleration(p[:, 1], t)
    if np.isnan(accel) or not cfg.gravity[0] <= accel / GRAVITY <= cfg.gravity[1]:
        return False
    rebound = p[low, 1] - p[low:, 1].min()
    drift = abs(p[-1, 0] - p[0, 0])
    return bool(rebound >= cfg.rebound and drift <= cfg.drift)


def is_arc(tr: Track, scale: float, fps: float, cfg: TrackConfig | None = None) -> bool:
    """Thrown in an arc: it rises, reaches an apex inside the clip and comes down again, while it
    travels sideways one way."""
    cfg = cfg or TrackConfig()
    t, p, v = _fit(tr, scale, fps)
    if len(t) < 4:
        return False
    apex = int(p[:, 1].argmin())
    rise, fall = p[0, 1] - p[apex, 1], p[apex:, 1].max() - p[apex, 1]
    steps = np.diff(p[:, 0])
    one_way = bool((np.sign(steps) == np.sign(v[0])).mean() >= 0.75)
    sideways = abs(p[-1, 0] - p[0, 0]) >= cfg.arc_travel
    return bool(rise >= cfg.arc_rise and fall >= cfg.arc_fall and sideways and one_way)


def matches_motion(
    tr: Track, motion: str, scale: float, fps: float, seconds: float, cfg: TrackConfig | None = None
) -> bool:
    """Whether the track shows the vocabulary `motion` (y grows downward); see the rules above."""
    if motion in ("moves left", "moves right", "moves up", "moves down", "stays still"):
        return motion_direction(tr, scale, fps, seconds, cfg) == motion
    if motion == "falls and bounces":
        return is_fall(tr, scale, fps, cfg)
    if motion == "is thrown in an arc":
        return is_arc(tr, scale, fps, cfg)
    raise ValueError(f"unknown motion {motion!r}")
