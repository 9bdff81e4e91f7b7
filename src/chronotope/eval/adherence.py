"""Prompt adherence: does the video show the prompted colors, shapes, motions and object count?

Prompts come in three sets (`prompts.py`: in-distribution, paraphrase, held-out pairs). Every
attribute requires the thing to be there: an object counts only when its track is seen in most
frames at a size the world's objects have (`tracks.plausible`), so a speck or a flash scores
nothing. The scoring is checked against the world itself: the world's own clip of a prompt scores
(nearly) 1, and degenerate videos (noise, a still speck, the wrong motion) score 0 where they
should (tests/eval).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from chronotope.eval.detect import Detection, detect
from chronotope.eval.prompts import SETS, PromptCase
from chronotope.eval.tracks import counted, matches_motion, track

ATTRIBUTES = ("color", "shape", "motion", "count")


def dominant_color(dets: list[list[Detection]]) -> str | None:
    """The color with the most detected pixels over the whole video."""
    area: Counter[str] = Counter()
    for frame in dets:
        for d in frame:
            area[d.color] += d.area
    return area.most_common(1)[0][0] if area else None


def score_video(
    case: PromptCase, frames: np.ndarray, fps: float, dets: list[list[Detection]] | None = None
) -> dict[str, bool]:
    """Per attribute, whether `frames` shows it; every prompted object must hold for each.

    color: each prompted color is a counted object (a single object's is also the dominant
    color); shape: that object's majority shape is the prompted one ("none" never is); motion:
    it moves as prompted by the world's rules; count: exactly one counted object of each
    prompted color."""
    dets = detect(frames) if dets is None else dets
    n, scale = len(frames), float(min(frames.shape[1:3]))
    seconds = (n - 1) / fps
    objects = counted(track(dets, scale=scale), n, scale)
    by_color = {c: [tr for tr in objects if tr.color == c] for c, _, _ in case.objects}
    color_ok = all(by_color.values())
    if len(case.objects) == 1:
        color_ok = color_ok and dominant_color(dets) == case.objects[0][0]
    shape_ok = all(by_color[c] and by_color[c][0].shape == s for c, s, _ in case.objects)
    motion_ok = all(
        by_color[c] and matches_motion(by_color[c][0], m, scale, fps, seconds)
        for c, _, m in case.objects
    )
    return {
        "color": bool(color_ok),
        "shape": bool(shape_ok),
        "motion": bool(motion_ok),
        "count": all(len(v) == 1 for v in by_color.values()),
    }


def summarize(cases: list[PromptCase], scores: list[dict[str, bool]]) -> dict[str, float]:
    """Accuracy per set and attribute ('in_distribution.color', 'heldout.motion', ...), and per
    motion of the single-object prompts of each set ('paraphrase.motion.moves left')."""
    out: dict[str, float] = {}
    for name in SETS:
        mine = [s for c, s in zip(cases, scores) if c.set == name]
        for a in ATTRIBUTES:
            if mine:
                out[f"{name}.{a}"] = float(np.mean([s[a] for s in mine]))
        by_motion: dict[str, list[bool]] = {}
        for c, s in zip(cases, scores):
            if c.set == name and len(c.objects) == 1:
                by_motion.setdefault(c.objects[0][2], []).append(s["motion"])
        for m, v in sorted(by_motion.items()):
            out[f"{name}.motion.{m}"] = float(np.mean(v))
    return out
