"""Prompt adherence: does the video show the prompted colors, shapes, motions and object count?

Prompts are drawn from the world's vocabulary: single objects (color x shape x motion), two-object
prompts (for counting), and the held-out pairs (`green triangle`, `orange square`), scored apart
because the default training distribution never shows them (compositional generalization).
The scoring is checked against the world itself: for the world's own clip of a prompt
(`scene_from_prompt`) every attribute scores 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import Detection, detect
from chronotope.eval.tracks import main_track, matches_motion, persistent, track
from chronotope.world import COLORS, HELDOUT_PAIRS, MOTIONS, SHAPES

ATTRIBUTES = ("color", "shape", "motion", "count")
KINDS = ("single", "pair", "heldout")


@dataclass(frozen=True)
class PromptObject:
    color: str
    shape: str
    motion: str

    def phrase(self) -> str:
        article = "an" if self.color[0] in "aeiou" else "a"
        return f"{article} {self.color} {self.shape} {self.motion}"


@dataclass(frozen=True)
class Prompt:
    kind: str  # one of KINDS
    objects: tuple[PromptObject, ...]

    @property
    def text(self) -> str:
        return " and ".join(o.phrase() for o in self.objects)


def prompt_set(
    n: int, *, seed: int = 0, pairs: int | None = None, heldout: int = 2
) -> list[Prompt]:
    """`n` single-object prompts, `pairs` two-object ones (default n // 3, at least 1) and
    `heldout` prompts of the held-out pairs; single prompts cycle through the motions so even a
    small set covers every one."""
    rng = np.random.default_rng(seed)
    allowed = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in HELDOUT_PAIRS]
    motions = [MOTIONS[i] for i in rng.permutation(len(MOTIONS))]

    def obj(motion: str, avoid: str | None = None, look=None) -> PromptObject:
        options = [cs for cs in allowed if cs[0] != avoid]
        c, s = look or options[int(rng.integers(len(options)))]
        return PromptObject(c, s, motion)

    out = [Prompt("single", (obj(motions[i % len(motions)]),)) for i in range(n)]
    linear = ["moves left", "moves right", "moves up", "moves down", "stays still"]
    for _ in range(max(1, n // 3) if pairs is None else pairs):
        a = obj(linear[int(rng.integers(len(linear)))])
        b = obj(linear[int(rng.integers(len(linear)))], avoid=a.color)
        out.append(Prompt("pair", (a, b)))
    for i in range(heldout):
        look = HELDOUT_PAIRS[i % len(HELDOUT_PAIRS)]
        out.append(Prompt("heldout", (obj(motions[i % len(motions)], look=look),)))
    return out


def dominant_color(dets: list[list[Detection]]) -> str | None:
    """The color with the most detected pixels over the whole video."""
    area: Counter[str] = Counter()
    for frame in dets:
        for d in frame:
            area[d.color] += d.area
    return area.most_common(1)[0][0] if area else None


def score_video(prompt: Prompt, frames: np.ndarray, dets=None) -> dict[str, bool]:
    """Per attribute, whether `frames` shows it (every object must match for shape and motion)."""
    dets = detect(frames) if dets is None else dets
    scale = float(min(frames.shape[1:3]))
    tracks = track(dets, scale=scale)
    kept = persistent(tracks, len(frames))
    kept_colors = {tr.color for tr in kept}
    if len(prompt.objects) == 1:
        color_ok = dominant_color(dets) == prompt.objects[0].color
    else:
        color_ok = all(o.color in kept_colors for o in prompt.objects)
    shape_ok, motion_ok = True, True
    for o in prompt.objects:
        tr = main_track(tracks, o.color)
        shape_ok &= tr is not None and tr.shape == o.shape
        motion_ok &= tr is not None and matches_motion(tr, o.motion, scale)
    return {
        "color": bool(color_ok),
        "shape": bool(shape_ok),
        "motion": bool(motion_ok),
        "count": len(kept) == len(prompt.objects),
    }


def summarize(prompts: list[Prompt], scores: list[dict[str, bool]]) -> dict[str, float]:
    """Accuracy per attribute: over in-distribution prompts (single + pair), per kind, and per
    motion of the single prompts. Keys like 'color', 'pair.count', 'heldout.shape',
    'motion.moves left'."""
    out: dict[str, float] = {}
    seen = [s for p, s in zip(prompts, scores) if p.kind != "heldout"]
    for a in ATTRIBUTES:
        if seen:
            out[a] = float(np.mean([s[a] for s in seen]))
    for kind in KINDS:
        mine = [s for p, s in zip(prompts, scores) if p.kind == kind]
        for a in ATTRIBUTES:
            if mine:
                out[f"{kind}.{a}"] = float(np.mean([s[a] for s in mine]))
    by_motion: dict[str, list[bool]] = {}
    for p, s in zip(prompts, scores):
        if p.kind == "single":
            by_motion.setdefault(p.objects[0].motion, []).append(s["motion"])
    for m, v in sorted(by_motion.items()):
        out[f"motion.{m}"] = float(np.mean(v))
    return out
