"""Checks of the Sora tasks on the model: seams, loops, first frames, restyle layout, long videos.

Each check takes `gen(prompt, **pipeline_kwargs) -> frames` (the pipeline with the run's steps and
seed bound), runs one task on a world clip and returns its figures plus a `pass` flag. Seams are
judged against the video's own median step (`chronotope.tasks.seams`), so no reference is needed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chronotope.eval.adherence import dominant_color
from chronotope.eval.detect import detect
from chronotope.eval.metrics import frame_psnr
from chronotope.eval.physics import truth_positions
from chronotope.eval.tracks import track
from chronotope.tasks.seams import seam_ratio, steps, wrap_ratio
from chronotope.world import COLORS, WorldClip

Gen = Callable[..., np.ndarray]

SEAM_MAX = 2.0  # a seam step may be this many times the median step
WRAP_MAX = 1.5  # a loop's last -> first step
MIN_MOTION = 1e-3  # mean step (in [0,1]) below which a loop counts as a still image
LAYOUT_MAX = 0.1  # frame sizes: restyled objects stay this close to the source's
DETECT_MIN = 0.9  # long videos: fraction of frames in which the object is found


def extend_forward(gen: Gen, clip: WorldClip, cond: int, new: int) -> dict:
    out = gen(clip.caption, video=clip.frames[:cond], extend="forward", num_frames=new)
    r = seam_ratio(out, cond)
    exact = bool(np.array_equal(out[:cond], clip.frames[:cond]))
    return {"seam_ratio": r, "given_exact": exact, "pass": r <= SEAM_MAX and exact, "frames": out}


def extend_backward(gen: Gen, clip: WorldClip, cond: int, new: int) -> dict:
    given = clip.frames[-cond:]
    out = gen(clip.caption, video=given, extend="backward", num_frames=new)
    seam = len(out) - len(given)
    r = seam_ratio(out, seam)
    exact = bool(np.array_equal(out[seam:], given))
    return {"seam_ratio": r, "given_exact": exact, "pass": r <= SEAM_MAX and exact, "frames": out}


def loop(gen: Gen, prompt: str, num_frames: int) -> dict:
    out = gen(prompt, num_frames=num_frames, loop=True)
    r, motion = wrap_ratio(out), float(np.median(steps(out)))
    return {
        "wrap_ratio": r,
        "motion": motion,
        "pass": r <= WRAP_MAX and motion > MIN_MOTION,
        "frames": out,
    }


def connect(gen: Gen, a: np.ndarray, b: np.ndarray, prompt: str, bridge: int) -> dict:
    out = gen(prompt, connect=(a, b), num_frames=bridge)
    r_in, r_out = seam_ratio(out, len(a)), seam_ratio(out, len(out) - len(b))
    return {
        "seam_in": r_in,
        "seam_out": r_out,
        "pass": max(r_in, r_out) <= SEAM_MAX,
        "frames": out,
    }


def image_to_video(gen: Gen, clip: WorldClip, num_frames: int) -> dict:
    out = gen(clip.caption, image=clip.frames[0], num_frames=num_frames)
    p = frame_psnr(out[0], clip.frames[0])
    return {"first_frame_psnr": p, "pass": p >= 40.0, "frames": out}


def restyle(gen: Gen, clip: WorldClip, strength: float) -> dict:
    """Re-color the clip's object through the prompt; its positions should stay the source's."""
    obj = clip.spec.objects[0]
    new_color = next(c for c in COLORS if c != obj.color and c != "white")
    prompt = clip.caption.replace(obj.color, new_color, 1)
    out = gen(prompt, video=clip.frames, strength=strength)
    dets = detect(out)
    scale = float(min(out.shape[1:3]))
    tracks = track(dets, scale=scale)
    truth = truth_positions(clip)
    err = float("nan")
    if tracks:
        p = tracks[0].positions(len(out))
        d = np.linalg.norm(p - truth, axis=1)
        err = float(np.nanmean(d) / scale) if (~np.isnan(d)).any() else err
    follows = dominant_color(dets) == new_color
    return {
        "layout_error": err,
        "color_follows": bool(follows),
        "pass": bool(follows and err <= LAYOUT_MAX),
        "prompt": prompt,
        "frames": out,
    }


def _found(frames: np.ndarray, color: str) -> float:
    return float(np.mean([any(d.color == color for d in f) for f in detect(frames)]))


def long_video(gen: Gen, clip: WorldClip) -> dict:
    """Text-to-video as long as `clip` (several sampling windows), prompted with its caption.

    The object must stay found in as many frames as in the world's own clip: give a clip whose
    object stays in view (a still one), since in the world a moving object leaves the frame
    within a few seconds and no longer shows, which is physics, not drift.
    """
    color = clip.spec.objects[0].color
    out = gen(clip.caption, num_frames=len(clip.frames))
    rate = _found(out, color)
    return {
        "detection_rate": rate,
        "detection_rate_truth": _found(clip.frames, color),
        "frames_out": len(out),
        "pass": rate >= DETECT_MIN,
        "frames": out,
        "prompt": clip.caption,
    }
