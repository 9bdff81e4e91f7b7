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


@dataclass(frozen=True)
class TrackConfig:
    max_jump: float = 0.25  # units per frame a track may move (a gap of g frames allows g times)
    max_gap: int = 4  # frames a track may go unseen and still be continued
    still: float = 0.05  # units: a net displacement below this is "stays still"


@dataclass
class Track:
    color: str
    frames: list[int]
    centers: list[tuple[float, float]]  # px
    areas: list[int]
    shapes: list[str]  # per detection; "" where the detection was clipped by the border

    @property
    def shape(self) -> str | None:
        """Majority shape over the unclipped detections (None if every one was clipped)."""
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
    """Tracks seen in at least `fraction` of the frames: the objects a viewer would count."""
    return [tr for tr in tracks if len(tr.frames) >= fraction * num_frames]


def displacement(tr: Track, scale: float) -> np.ndarray:
    """Net (dx, dy) in units over the track, from a least-squares line (robust to jitter)."""
    if len(tr.frames) < 2:
        return np.zeros(2)
    f = np.asarray(tr.frames, dtype=np.float64)
    p = np.asarray(tr.centers) / scale  # (N, 2) units
    slope = np.polyfit(f, p, 1)[0]  # (2,) units per frame
    return slope * (f[-1] - f[0])


def motion_direction(tr: Track, scale: float, cfg: TrackConfig | None = None) -> str:
    """'moves left/right/up/down' by the dominant axis of the net displacement, or 'stays still'."""
    cfg = cfg or TrackConfig()
    dx, dy = displacement(tr, scale)
    if max(abs(dx), abs(dy)) < cfg.still:
        return "stays still"
    if abs(dx) >= abs(dy):
        return "moves right" if dx > 0 else "moves left"
    return "moves down" if dy > 0 else "moves up"


def matches_motion(tr: Track, motion: str, scale: float, cfg: TrackConfig | None = None) -> bool:
    """Whether the track shows the vocabulary `motion` (y grows downward)."""
    cfg = cfg or TrackConfig()
    if motion in ("moves left", "moves right", "moves up", "moves down", "stays still"):
        return motion_direction(tr, scale, cfg) == motion
    y = np.asarray(tr.centers)[:, 1] / scale
    x = np.asarray(tr.centers)[:, 0] / scale
    if len(y) < 3:
        return False
    if motion == "falls and bounces":  # goes down well before any rebound, little sideways drift
        return bool(y.max() - y[0] >= cfg.still and abs(x[-1] - x[0]) < cfg.still)
    if motion == "is thrown in an arc":  # rises above its start and travels sideways
        return bool(y[0] - y.min() >= cfg.still and abs(x[-1] - x[0]) >= cfg.still)
    raise ValueError(f"unknown motion {motion!r}")
