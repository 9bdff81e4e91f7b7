"""Physics after Kang et al. 2024 ("How Far is Video Generation from World Model"): condition on
the first frames of a world clip, generate the continuation, parse positions by color and compare
velocities (finite differences) with the world's ground truth.

Units follow Kang: positions in frame sizes (the short side, the world's unit), velocities in
frame sizes per frame. Every model figure comes with three references computed on the same cases:
the parse floor (the detector on the true continuation), copy-last-frame (the object stays where
it was) and linear extrapolation of the positions parsed from the given frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import detect
from chronotope.eval.tracks import Track, main_track, track
from chronotope.world import WorldClip, generate_clip
from chronotope.world.physics import GRAVITY

UNIFORM_MOTIONS = ("moves left", "moves right", "moves up", "moves down")


def motion_cases(
    n: int,
    motions: tuple[str, ...],
    *,
    seed: int,
    width: int,
    height: int,
    num_frames: int,
    fps: float,
) -> list[WorldClip]:
    """`n` single-object world clips cycling through `motions`."""
    return [
        generate_clip(
            seed + i,
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps,
            family="single",
            motion=motions[i % len(motions)],
        )
        for i in range(n)
    ]


def uniform_cases(n: int, **kw) -> list[WorldClip]:
    """`n` single-object clips in uniform motion, cycling through the four directions."""
    return motion_cases(n, UNIFORM_MOTIONS, **kw)


def truth_positions(clip: WorldClip, k: int = 0) -> np.ndarray:
    """(T, 2) recorded centers of object k, px."""
    return np.asarray([s.objects[k].center for s in clip.states], dtype=np.float64)


def parsed_positions(frames: np.ndarray, color: str) -> np.ndarray:
    """(T, 2) centers of the longest track of `color`, px; NaN where it is not seen."""
    tr: Track | None = main_track(track(detect(frames), scale=float(min(frames.shape[1:3]))), color)
    return tr.positions(len(frames)) if tr is not None else np.full((len(frames), 2), np.nan)


def velocity_error(pred: np.ndarray, truth: np.ndarray, scale: float) -> float:
    """Mean |v_pred - v_true| over frame steps where both are known; px -> frame sizes/frame."""
    v_pred, v_true = np.diff(pred, axis=0), np.diff(truth, axis=0)
    ok = ~np.isnan(v_pred).any(axis=1)
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(v_pred[ok] - v_true[ok], axis=1).mean() / scale)


def position_error(pred: np.ndarray, truth: np.ndarray, scale: float) -> float:
    """Mean |p_pred - p_true| over frames where the prediction exists, in frame sizes."""
    d = np.linalg.norm(pred - truth, axis=1)
    ok = ~np.isnan(d)
    return float(d[ok].mean() / scale) if ok.any() else float("nan")


@dataclass
class ContinuationScore:
    """Errors of one case; each dict maps a predictor name to its error."""

    velocity: dict[str, float]
    position: dict[str, float]
    found: float  # fraction of continuation frames in which the model's object was detected


def score_continuation(
    clip: WorldClip, cond: int, generated: np.ndarray | None
) -> ContinuationScore:
    """Compare predictions of frames [cond-1, T) (the last given frame anchors the first step).

    `generated`: the model's full output (given frames + continuation), or None for the
    references only.
    """
    color = clip.spec.objects[0].color
    scale = float(min(clip.frames.shape[1:3]))
    truth = truth_positions(clip)[cond - 1 :]
    given = parsed_positions(clip.frames[:cond], color)
    known = ~np.isnan(given).any(axis=1)
    steps = np.arange(len(truth), dtype=np.float64)  # 0 = the last given frame
    last = given[known][-1] if known.any() else np.full(2, np.nan)
    preds = {
        "parse_floor": parsed_positions(clip.frames, color)[cond - 1 :],
        "copy_last": np.repeat(last[None], len(truth), axis=0),
    }
    if known.sum() >= 2:
        f = np.flatnonzero(known).astype(np.float64)
        slope, icpt = np.polyfit(f, given[known], 1)  # (2,) px/frame, (2,) px
        preds["linear"] = icpt + slope * (cond - 1 + steps)[:, None]
    found = float("nan")
    if generated is not None:
        p = parsed_positions(generated[: len(clip.frames)], color)[cond - 1 :]
        preds["model"] = p
        found = float((~np.isnan(p[1:]).any(axis=1)).mean())
    return ContinuationScore(
        velocity={k: velocity_error(v, truth, scale) for k, v in preds.items()},
        position={k: position_error(v[1:], truth[1:], scale) for k, v in preds.items()},
        found=found,
    )


def fall_acceleration(frames: np.ndarray, color: str, fps: float) -> float:
    """Vertical acceleration (frame sizes/s^2, + = downward) before the first bounce, from a
    quadratic fit to the parsed heights up to where the object first stops descending."""
    y = parsed_positions(frames, color)[:, 1] / float(min(frames.shape[1:3]))
    t = np.flatnonzero(~np.isnan(y))
    if len(t) < 3:
        return float("nan")
    ys = y[t]
    rising = np.flatnonzero(np.diff(ys) < 0)  # first step where it goes back up: the bounce
    end = int(rising[0]) + 1 if len(rising) else len(ys)  # points [0, end) are the descent
    if end > 3:
        end -= 1  # the last descent sample may already hold the impact; leave it out
    if end < 3:
        return float("nan")
    a = np.polyfit(t[:end] / fps, ys[:end], 2)[0]
    return float(2.0 * a)


def falling_cases(n: int, **kw) -> list[WorldClip]:
    return motion_cases(n, ("falls and bounces",), **kw)


def gravity_ratio(accel: float) -> float:
    """Measured acceleration over the world's gravity (1 = exact)."""
    return accel / GRAVITY


def permanence(frames: np.ndarray, band: float = 2.0) -> dict[str, bool]:
    """Size permanence: the main object's area (unclipped frames) stays within a factor `band`
    of its median; count permanence: every frame shows the same number of objects."""
    dets = detect(frames)
    tracks = track(dets, scale=float(min(frames.shape[1:3])))
    counts = [len(d) for d in dets]
    tr = tracks[0] if tracks else None
    size_ok = False
    if tr is not None and len(tr.frames) == len(frames):
        areas = np.asarray([a for a, s in zip(tr.areas, tr.shapes) if s], dtype=np.float64)
        med = np.median(areas) if len(areas) else 0.0
        size_ok = bool(len(areas) and (areas <= band * med).all() and (areas >= med / band).all())
    return {"size": size_ok, "count": len(set(counts)) == 1 and counts[0] > 0}


def occlusion_cases(
    n: int, *, seed: int, width: int, height: int, max_frames: int, fps: float, ft: int = 4
) -> list[WorldClip]:
    """Occluder clips, each cut to the shortest valid length (1 + k*ft frames, at most
    `max_frames`) at which the object has been wholly hidden and is whole again at the end."""
    out, s = [], seed
    while len(out) < n and s < seed + 50 * max(n, 1):
        clip = generate_clip(
            s, width=width, height=height, num_frames=max_frames, fps=fps, family="occlusion"
        )
        vis = np.asarray([st.objects[0].visible_fraction for st in clip.states])
        for length in range(1 + ft, max_frames + 1, ft):
            if vis[:length].min() == 0.0 and vis[length - 1] == 1.0:
                clip.frames, clip.states = clip.frames[:length], clip.states[:length]
                out.append(clip)
                break
        s += 1
    return out


def reappears(frames: np.ndarray, color: str, min_fraction: float = 0.5) -> bool:
    """The object is seen in the last frame at no less than `min_fraction` of its first area."""
    dets = detect(frames[[0, -1]])
    first = max((d.area for d in dets[0] if d.color == color), default=0)
    last = max((d.area for d in dets[1] if d.color == color), default=0)
    return bool(first > 0 and last >= min_fraction * first)
