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
from chronotope.eval.tracks import (
    Track,
    TrackConfig,
    counted,
    fall_acceleration,
    is_fall,
    main_track,
    track,
)
from chronotope.world import WorldClip, generate_clip
from chronotope.world.physics import GRAVITY
from chronotope.world.scenes import SPEED

MEDIAN_SPEED = 0.5 * (SPEED[0] + SPEED[1])  # units/s: the world's uniform speeds are uniform

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
    """(T, 2) centers of the longest track of `color`, px; NaN where it is not seen. Only
    detections of a size the world's objects have count: a speck of the color is no object."""
    scale = float(min(frames.shape[1:3]))
    least = TrackConfig().min_area * scale * scale
    dets = [[d for d in frame if d.area >= least] for frame in detect(frames)]
    tr: Track | None = main_track(track(dets, scale=scale), color)
    return tr.positions(len(frames)) if tr is not None else np.full((len(frames), 2), np.nan)


def _copy_last_velocity(truth: np.ndarray) -> np.ndarray:
    """Per step |v_true|: the error of a prediction that stays where it was."""
    return np.linalg.norm(np.diff(truth, axis=0), axis=1)


def velocity_error(pred: np.ndarray, truth: np.ndarray, scale: float) -> float:
    """Mean |v_pred - v_true| over every frame step, px -> frame sizes/frame. A step where the
    prediction lost the object is scored as copying the last frame (|v_true|): losing the
    object never helps."""
    v_pred, v_true = np.diff(pred, axis=0), np.diff(truth, axis=0)
    err = np.linalg.norm(v_pred - v_true, axis=1)
    lost = np.isnan(err)
    err[lost] = _copy_last_velocity(truth)[lost]
    return float(err.mean() / scale)


def position_error(pred: np.ndarray, truth: np.ndarray, scale: float) -> float:
    """Mean |p_pred - p_true| over the frames, in frame sizes; a frame where the prediction lost
    the object is scored as copying the last known position."""
    pred = pred.copy()
    for i in range(len(pred)):  # hold the last known position over the lost frames
        if np.isnan(pred[i]).any():
            pred[i] = pred[i - 1] if i else truth[0]
    return float(np.linalg.norm(pred - truth, axis=1).mean() / scale)


@dataclass
class ContinuationScore:
    """Errors of one case; each dict maps a predictor name to its error."""

    velocity: dict[str, float]
    position: dict[str, float]
    found: float  # fraction of continuation frames in which the model's object was detected


def _direction_prediction(clip: WorldClip, last: np.ndarray, n: int) -> np.ndarray:
    """From the last given position, the prompted direction at the world's median speed."""
    motion = clip.spec.objects[0].motion
    unit = {"moves left": (-1, 0), "moves right": (1, 0), "moves up": (0, -1)}.get(motion, (0, 1))
    step = np.asarray(unit, np.float64) * MEDIAN_SPEED / clip.fps * min(clip.frames.shape[1:3])
    return last + step * np.arange(n, dtype=np.float64)[:, None]


def score_continuation(
    clip: WorldClip, cond: int, generated: np.ndarray | None
) -> ContinuationScore:
    """Compare predictions of frames [cond-1, T) (the last given frame anchors the first step).

    `generated`: the model's full output (given frames + continuation), or None for the
    references only. References: the parse floor (the detector on the true frames), copy-last,
    linear extrapolation of the given frames' parsed positions, and the prompted direction at
    the world's median speed (what a model that read only the prompt would do at best)."""
    color = clip.spec.objects[0].color
    scale = float(min(clip.frames.shape[1:3]))
    truth = truth_positions(clip)[cond - 1 :]
    given = parsed_positions(clip.frames[:cond], color)
    known = ~np.isnan(given).any(axis=1)
    steps = np.arange(len(truth), dtype=np.float64)  # 0 = the last given frame
    last = given[known][-1] if known.any() else truth[0]
    preds = {
        "parse_floor": parsed_positions(clip.frames, color)[cond - 1 :],
        "copy_last": np.repeat(last[None], len(truth), axis=0),
        "direction_median_speed": _direction_prediction(clip, last, len(truth)),
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


def fall_check(frames: np.ndarray, color: str, fps: float) -> tuple[bool, float]:
    """(whether the object of `color` falls and bounces by the world's rules, its descent's
    acceleration over the world's gravity); (False, NaN) when no counted object shows."""
    scale = float(min(frames.shape[1:3]))
    objects = counted(track(detect(frames), scale=scale), len(frames), scale)
    tr = main_track(objects, color)
    if tr is None:
        return False, float("nan")
    t = np.asarray(tr.frames, np.float64) / fps
    accel, _ = fall_acceleration(np.asarray(tr.centers)[:, 1] / scale, t)
    return is_fall(tr, scale, fps), accel / GRAVITY


def falling_cases(n: int, **kw) -> list[WorldClip]:
    return motion_cases(n, ("falls and bounces",), **kw)


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
