"""Checks of the Sora tasks on the model: seams, loops, image-to-video, restyle, long videos.

Each check takes `gen(prompt, **pipeline_kwargs) -> frames` (the pipeline with the run's steps,
seed and candidate count bound), runs one task on a world clip and returns its figures plus a
`pass` flag. A seam passes on the object's motion (`seam_check`: the object is there on both
sides and keeps its velocity across the join), never on the pixel step ratio that the pipeline
uses to choose among seam candidates: a selection is never judged by its own statistic. The
pixel ratio is still reported as a figure. What holds by construction (given frames spliced back
bit-exactly, an image-to-video's first frame) is a test of the pipeline, not a figure here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chronotope.eval.adherence import dominant_color
from chronotope.eval.detect import detect
from chronotope.eval.physics import truth_positions
from chronotope.eval.tracks import counted, main_track, matches_motion, track
from chronotope.tasks.seams import seam_ratio, wrap_ratio
from chronotope.world import COLORS, WorldClip

Gen = Callable[..., np.ndarray]

# units/frame: slower is still (the world's slowest motion, 0.1 units/s, is 0.0125 at 8 fps)
MOVING = 0.004
VELOCITY_TOL = 0.5  # |v_after - v_before| <= this x the larger speed (a stall or a reversal fails)
STILL_JUMP = 0.02  # units: a still object's position may jump this much at a seam
LAYOUT_MAX = 0.1  # frame sizes: restyled objects stay this close to the source's
DETECT_MIN = 0.9  # long videos: fraction of frames in which the object is found


def object_positions(frames: np.ndarray, color: str) -> np.ndarray:
    """(T, 2) units: the counted object of `color` per frame, NaN where it is not seen."""
    scale = float(min(frames.shape[1:3]))
    tr = main_track(counted(track(detect(frames), scale=scale), len(frames), scale), color)
    if tr is None:
        return np.full((len(frames), 2), np.nan)
    return tr.positions(len(frames)) / scale


def _median_step(steps: np.ndarray) -> np.ndarray | None:
    ok = ~np.isnan(steps).any(axis=1)
    return np.median(steps[ok], axis=0) if ok.sum() >= 2 else None


def seam_check(frames: np.ndarray, seam: int, color: str) -> dict:
    """Frame `seam` is the first after the join. The object must be seen on both sides of it, and
    its velocity after the join (median step) must match the velocity before it; a still object
    must stay put across the join."""
    p = object_positions(frames, color)
    steps = np.diff(p, axis=0)  # step i: frame i -> i + 1; the join is step seam - 1
    before, after = _median_step(steps[: seam - 1]), _median_step(steps[seam:])
    found = not np.isnan(p[seam - 1 : seam + 1]).any()
    if before is None or after is None or not found:
        nan = float("nan")
        return {"object_found": found, "speed": nan, "velocity_change": nan, "pass": False}
    fast = max(np.hypot(*before), np.hypot(*after))
    change = float(np.hypot(*(after - before)))
    joined = float(np.hypot(*(steps[seam - 1] - before)))
    if fast < MOVING:
        ok = joined <= STILL_JUMP
    else:
        ok = change <= VELOCITY_TOL * fast and joined <= VELOCITY_TOL * fast + STILL_JUMP
    return {"object_found": True, "speed": fast, "velocity_change": change, "pass": bool(ok)}


def extend_forward(gen: Gen, clip: WorldClip, cond: int, new: int) -> dict:
    out = gen(clip.caption, video=clip.frames[:cond], extend="forward", num_frames=new)
    check = seam_check(out, cond, clip.spec.objects[0].color)
    return {"seam_ratio": seam_ratio(out, cond), **check, "frames": out}


def extend_backward(gen: Gen, clip: WorldClip, cond: int, new: int) -> dict:
    given = clip.frames[-cond:]
    out = gen(clip.caption, video=given, extend="backward", num_frames=new)
    seam = len(out) - len(given)
    check = seam_check(out, seam, clip.spec.objects[0].color)
    return {"seam_ratio": seam_ratio(out, seam), **check, "frames": out}


def loop(gen: Gen, clip: WorldClip, num_frames: int) -> dict:
    """A loop's wrap (last frame -> first) is a seam like any other: check it in the middle of
    the loop played twice. The clip's object moves, so a loop that stands still fails."""
    out = gen(clip.caption, num_frames=num_frames, loop=True)
    twice = np.concatenate([out, out])
    check = seam_check(twice, len(out), clip.spec.objects[0].color)
    check["pass"] = bool(check["pass"] and check["speed"] >= MOVING)
    return {"wrap_ratio": wrap_ratio(out), **check, "frames": out}


def connect(gen: Gen, a: WorldClip, b: WorldClip, cond: int, prompt: str, bridge: int) -> dict:
    """A's first frames, a bridge, B's first frames: the object of A is checked at both joins
    (the prompt names both clips; the clips show the same object)."""
    out = gen(prompt, connect=(a.frames[:cond], b.frames[:cond]), num_frames=bridge)
    color = a.spec.objects[0].color
    enter, leave = seam_check(out, cond, color), seam_check(out, len(out) - cond, color)
    return {
        "seam_in": seam_ratio(out, cond),
        "seam_out": seam_ratio(out, len(out) - cond),
        "object_found": enter["object_found"] and leave["object_found"],
        "pass": enter["pass"] and leave["pass"],
        "frames": out,
    }


def image_to_video(gen: Gen, clip: WorldClip, num_frames: int) -> dict:
    """From the clip's first frame, the object must move as the caption says."""
    out = gen(clip.caption, image=clip.frames[0], num_frames=num_frames)
    obj = clip.spec.objects[0]
    scale = float(min(out.shape[1:3]))
    tr = main_track(counted(track(detect(out), scale=scale), len(out), scale), obj.color)
    seconds = (len(out) - 1) / clip.fps
    ok = tr is not None and matches_motion(tr, obj.motion, scale, clip.fps, seconds)
    return {"object_found": tr is not None, "pass": bool(ok), "frames": out}


def restyle(gen: Gen, clip: WorldClip, strength: float) -> dict:
    """Re-color the clip's object through the prompt; its positions should stay the source's."""
    obj = clip.spec.objects[0]
    new_color = next(c for c in COLORS if c != obj.color and c != "white")
    prompt = clip.caption.replace(obj.color, new_color, 1)
    out = gen(prompt, video=clip.frames, strength=strength)
    p = object_positions(out, new_color)
    truth = truth_positions(clip) / float(min(out.shape[1:3]))
    d = np.linalg.norm(p - truth, axis=1)
    err = float(np.nanmean(d)) if (~np.isnan(d)).any() else float("nan")
    follows = dominant_color(detect(out)) == new_color
    return {
        "layout_error": err,
        "color_follows": bool(follows),
        "pass": bool(follows and err <= LAYOUT_MAX),
        "prompt": prompt,
        "frames": out,
    }


def long_video(gen: Gen, clip: WorldClip) -> dict:
    """Text-to-video as long as `clip` (several sampling windows), prompted with its caption.

    The object must stay found in as many frames as in the world's own clip: give a clip whose
    object stays in view (a still one), since in the world a moving object leaves the frame
    within a few seconds and no longer shows, which is physics, not drift.
    """
    color = clip.spec.objects[0].color
    out = gen(clip.caption, num_frames=len(clip.frames))
    rate = float((~np.isnan(object_positions(out, color)).any(axis=1)).mean())
    return {
        "detection_rate": rate,
        "frames_out": len(out),
        "pass": rate >= DETECT_MIN,
        "frames": out,
        "prompt": clip.caption,
    }
