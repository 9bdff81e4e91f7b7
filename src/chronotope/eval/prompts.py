"""The eval's prompts: three sets side by side, each drawn from a world scene that is its truth.

- `in_distribution`: captions as training writes them (any template, verb and background) of
  color-shape pairs that training shows;
- `paraphrase`: the same kind of content in the reserved phrasings no training caption uses
  (`world.captions.RESERVED`: other verbs, templates and background names);
- `heldout`: captions in training phrasings of the held-out color-shape pairs
  (`world.vocab.HELDOUT_PAIRS`), which training never shows.

Each set mixes single objects (cycling through every motion) and pairs (two objects in uniform
motion or still, for counting). A prompt's truth is its scene spec, never a parse of its text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.world import HELDOUT_PAIRS, MOTIONS, make_caption, sample_scene
from chronotope.world.spec import SceneSpec

SETS = ("in_distribution", "paraphrase", "heldout")
PAIR_MOTIONS = ("moves left", "moves right", "moves up", "moves down", "stays still")
PAIR_EVERY = 4  # every 4th prompt of a set names two objects


@dataclass(frozen=True)
class PromptCase:
    set: str  # one of SETS
    text: str
    spec: SceneSpec  # the scene the prompt was written from: its truth

    @property
    def objects(self) -> list[tuple[str, str, str]]:
        """(color, shape, motion) of each prompted object."""
        return [(o.color, o.shape, o.motion) for o in self.spec.objects]


def _pins(set_name: str, i: int, rng: np.random.Generator) -> tuple[str, dict]:
    """(family, overrides) of prompt i of a set."""
    if i % PAIR_EVERY == PAIR_EVERY - 1:
        a, b = rng.choice(len(PAIR_MOTIONS), size=2)
        pins = {"motion": PAIR_MOTIONS[a], "motion2": PAIR_MOTIONS[b]}
        if set_name == "heldout":  # the first object is a held-out pair
            pins["color"], pins["shape"] = HELDOUT_PAIRS[i % len(HELDOUT_PAIRS)]
        return "pair", pins
    j = i - i // PAIR_EVERY  # index among the single-object prompts
    pins = {"motion": MOTIONS[j % len(MOTIONS)]}
    if set_name == "heldout":  # 6 pairs x 7 motions: co-prime cycles meet every combination
        pins["color"], pins["shape"] = HELDOUT_PAIRS[j % len(HELDOUT_PAIRS)]
    return "single", pins


def prompt_cases(n: int, *, seed: int, width: int = 64, height: int = 64) -> list[PromptCase]:
    """`n` prompts of each set (3n in all), a pure function of (n, seed, size)."""
    out = []
    for k, set_name in enumerate(SETS):
        for i in range(n):
            rng = np.random.default_rng([seed, k, i])
            family, pins = _pins(set_name, i, rng)
            spec = sample_scene(
                rng,
                width=width,
                height=height,
                family=family,
                include_heldout=set_name == "heldout",
                overrides=pins,
            )
            text = make_caption(spec, rng, reserved=set_name == "paraphrase")
            out.append(PromptCase(set_name, text, spec))
    return out
