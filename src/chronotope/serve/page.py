"""What the web page asks the server besides the Videos API: its settings and prompt ideas.

`GET /page/config` (outside `/v1`: nothing in it is private) tells the page the model's name,
the sizes worth offering at the model's own scale, the length limits, whether the API takes a
seamless loop, and example prompts the model can follow: world captions in the training
phrasings whose every content word is in the model's vocabulary (`pipe.vocabulary`); a model
that declares no vocabulary gets no suggestions rather than guesses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chronotope.serve import submit
from chronotope.serve.config import ServeConfig
from chronotope.tasks.sizes import parse_size

# Families drawn in turn for the suggestions: single objects first (what a model knows best).
SUGGESTION_FAMILIES = ("single", "collision", "single", "game", "pair")
ASPECTS = ((1, 1), (16, 9), (9, 16))  # offered at the model's own pixel area, then twice it


def page_config(config: ServeConfig, engine: Any) -> dict[str, Any]:
    default_size = getattr(engine, "default_size", None) or config.default_size
    vocabulary = getattr(getattr(engine, "pipe", None), "vocabulary", None)
    return {
        "model": config.model_name,
        "default_size": default_size,
        "sizes": size_choices(default_size, int(getattr(engine, "size_multiple", 16))),
        "fps": float(engine.fps),
        "default_seconds": config.default_seconds,
        "max_seconds": config.max_seconds,
        "loop": "loop" in submit.CREATE_FIELDS,  # the page offers what the API takes
        "suggestions": suggestions(vocabulary),
    }


def size_choices(default_size: str, multiple: int) -> list[str]:
    """The default size, then square, landscape and portrait at its pixel area and at 4x it."""
    width, height = parse_size(default_size)
    out = [default_size]
    for scale in (1, 2):
        for aw, ah in ASPECTS:
            side = math.sqrt(width * height / (aw * ah)) * scale  # pixels per aspect unit
            w, h = (max(multiple, round(side * a / multiple) * multiple) for a in (aw, ah))
            if f"{w}x{h}" not in out:
                out.append(f"{w}x{h}")
    return out


def suggestions(vocabulary: frozenset[str] | None, n: int = 5, seed: int = 0) -> list[str]:
    """Up to `n` world captions (training phrasings, no held-out color-shape pairs) whose
    content words are all in `vocabulary` (the rule of the server's unknown-word warning); the
    same list on every call."""
    if not vocabulary:
        return []
    from chronotope.pipeline.vocabulary import unknown_words
    from chronotope.world import make_caption, sample_scene

    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i in range(n * 20):  # a vocabulary missing whole families leaves those out
        family = SUGGESTION_FAMILIES[i % len(SUGGESTION_FAMILIES)]
        caption = make_caption(sample_scene(rng, width=64, height=64, family=family), rng)
        if not unknown_words(caption, vocabulary) and caption not in out:
            out.append(caption)
            if len(out) == n:
                break
    return out
