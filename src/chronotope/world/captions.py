"""Captions: several paraphrase templates per family, and the parser that reads them back.

Every phrase a template can produce is listed in a table below, and `parse_prompt` matches
exactly those tables, so for every caption `parse_prompt(caption)` recovers the items of the
scene (a test checks this over many seeds). The background is always named when it is not
black; a caption that names no background means black (the default).
"""

from __future__ import annotations

import re

import numpy as np

from chronotope.world.spec import ObjectSpec, SceneSpec
from chronotope.world.vocab import ACTIONS, BACKGROUNDS, COLORS, MOTIONS, SHAPES

# canonical motion -> (finite-verb paraphrases, participle paraphrases)
MOTION_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "moves left": (
        ("moves left", "moves to the left", "slides left", "travels left"),
        ("moving left", "moving to the left", "sliding left"),
    ),
    "moves right": (
        ("moves right", "moves to the right", "slides right", "travels right"),
        ("moving right", "moving to the right", "sliding right"),
    ),
    "moves up": (
        ("moves up", "moves upward", "rises", "floats up"),
        ("moving up", "moving upward", "rising"),
    ),
    "moves down": (
        ("moves down", "moves downward", "sinks", "drifts down"),
        ("moving down", "moving downward", "sinking"),
    ),
    "falls and bounces": (
        ("falls and bounces", "drops and bounces", "falls and bounces on the floor"),
        ("falling and bouncing", "dropping and bouncing"),
    ),
    "is thrown in an arc": (
        ("is thrown in an arc", "flies in an arc", "is tossed in an arc"),
        ("thrown in an arc", "flying in an arc", "tossed in an arc"),
    ),
    "stays still": (
        ("stays still", "does not move", "rests in place"),
        ("staying still", "not moving", "resting in place"),
    ),
}
ACTION_PHRASES: dict[str, tuple[str, ...]] = {
    "walks right": ("walks right", "walks to the right"),
    "walks left": ("walks left", "walks to the left"),
    "jumps right": ("jumps right", "jumps to the right"),
    "jumps left": ("jumps left", "jumps to the left"),
    "jumps": ("jumps", "jumps up and down", "jumps in place"),
    "stands still": ("stands still", "stands idle", "waits in place"),
}
BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "black": ("on a black background", "against a black background"),
    "gray": ("on a gray background", "against a gray background", "over a gray backdrop"),
    "sky": ("against the sky", "on a sky background", "under a sky gradient"),
}
COLLISION_PHRASES = ("collide and bounce apart", "collide", "bump into each other and bounce back")
OCCLUSION_PHRASES = ("passes behind a wall", "goes behind a wall and comes out the other side")
PAN_PHRASES = ("the camera pans {d}", "camera panning {d}", "a camera pan to the {d}")
LANDSCAPE_PHRASES = (
    "over a block landscape",
    "across layered hills of blocks",
    "over blocky hills",
)
GROUND_PHRASES = ("on a ground of blocks", "in a block world", "in a blocky game level")

assert set(MOTION_PHRASES) == set(MOTIONS) and set(ACTION_PHRASES) == set(ACTIONS)
assert set(BACKGROUND_PHRASES) == set(BACKGROUNDS)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _thing(obj: ObjectSpec) -> str:
    return f"{obj.color} {obj.shape}"


def _a(words: str) -> str:
    """'a red circle', 'an orange square'."""
    return ("an " if words[0] in "aeiou" else "a ") + words


def _background(spec: SceneSpec, rng: np.random.Generator) -> str:
    """' on a gray background' etc.; black is named only half of the time (it is the default)."""
    if spec.background == "black" and rng.random() < 0.5:
        return ""
    return " " + _pick(rng, BACKGROUND_PHRASES[spec.background])


def make_caption(spec: SceneSpec, rng: np.random.Generator) -> str:
    """A caption for `spec`, one of several paraphrases drawn from `rng`."""
    return _CAPTIONERS[spec.family](spec, rng)


def _single(spec, rng):
    (o,) = spec.objects
    verb, ing = (_pick(rng, forms) for forms in MOTION_PHRASES[o.motion])
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"{_a(_thing(o))} {verb}{bg}",
            f"{_a(_thing(o))} {ing}{bg}",
            f"{_thing(o)}, {ing}{bg}",
            f"the {_thing(o)} {verb}{bg}",
        ),
    )


def _pair(spec, rng):
    a, b = spec.objects
    va, ia = (_pick(rng, f) for f in MOTION_PHRASES[a.motion])
    vb, ib = (_pick(rng, f) for f in MOTION_PHRASES[b.motion])
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"{_a(_thing(a))} {va} and {_a(_thing(b))} {vb}{bg}",
            f"{_a(_thing(a))} {ia} and {_a(_thing(b))} {ib}{bg}",
            f"two objects: {_a(_thing(a))} {ia} and {_a(_thing(b))} {ib}{bg}",
            f"{_thing(a)} {ia}, {_thing(b)} {ib}{bg}",
        ),
    )


def _collision(spec, rng):
    a, b = spec.objects
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"{_a(_thing(a))} and {_a(_thing(b))} {_pick(rng, COLLISION_PHRASES)}{bg}",
            f"{_a(_thing(a))} moving right and {_a(_thing(b))} moving left collide{bg}",
            f"two objects collide: {_a(_thing(a))} and {_a(_thing(b))}{bg}",
        ),
    )


def _occlusion(spec, rng):
    (o,) = spec.objects
    d = spec.direction
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"{_a(_thing(o))} {_pick(rng, OCCLUSION_PHRASES)}{bg}",
            f"{_a(_thing(o))} moving {d} passes behind a wall{bg}",
            f"{_thing(o)}, moving {d}, passes behind a wall and reappears{bg}",
        ),
    )


def _pan(spec, rng):
    (o,) = spec.objects
    pan = _pick(rng, PAN_PHRASES).format(d=spec.direction)
    land = _pick(rng, LANDSCAPE_PHRASES)
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"{pan} {land} with {_a(_thing(o))}{bg}",
            f"{_a(_thing(o))} on blocks, {pan}{bg}",
            f"{pan} {land}; {_a(_thing(o))} stands on the ground{bg}",
        ),
    )


def _game(spec, rng):
    (p,) = spec.objects
    act = _pick(rng, ACTION_PHRASES[p.motion])
    ground = _pick(rng, GROUND_PHRASES)
    bg = _background(spec, rng)
    return _pick(
        rng,
        (
            f"the {p.color} player {act}{bg}",
            f"{_a(p.color)} player {act} {ground}{bg}",
            f"block world game: the {p.color} player {act}{bg}",
        ),
    )


_CAPTIONERS = {
    "single": _single,
    "pair": _pair,
    "collision": _collision,
    "occlusion": _occlusion,
    "pan": _pan,
    "game": _game,
}


def _alternation(phrases) -> str:
    """A regex alternation of phrases, longest first so 'jumps right' wins over 'jumps'."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


_OBJECT_RE = re.compile(rf"\b(?:({_alternation(COLORS)}) )?({_alternation(SHAPES)})s?\b")
_PLAYER_RE = re.compile(rf"\b(?:({_alternation(COLORS)}) )?player\b")
_MOTION_LOOKUP = {p: m for m, (a, b) in MOTION_PHRASES.items() for p in (*a, *b)}
_MOTION_RE = re.compile(rf"\b({_alternation(_MOTION_LOOKUP)})\b")
_ACTION_LOOKUP = {p: a for a, forms in ACTION_PHRASES.items() for p in forms}
_ACTION_RE = re.compile(rf"\b({_alternation(_ACTION_LOOKUP)})\b")
_BG_LOOKUP = {p: b for b, forms in BACKGROUND_PHRASES.items() for p in forms}
_BG_RE = re.compile(rf"({_alternation(_BG_LOOKUP)})|\b(black|gray|grey|sky) background\b")
_DIRECTION_RE = re.compile(r"\b(?:pans?|panning|pan to the|moving|moves|to the)\s+(left|right)\b")


def parse_prompt(text: str) -> dict:
    """The vocabulary items a caption or prompt names.

    Returns {"family", "objects": [{"color", "shape", "motion"}], "count", "background",
    "direction", "action", and "color"/"shape"/"motion" of the first object}; items the text
    does not name are None (family None: no object found).
    """
    s = " ".join(text.lower().replace("grey", "gray").split())
    bg = _BG_RE.search(s)
    background = (_BG_LOOKUP.get(bg.group(1)) or bg.group(2)) if bg else None
    s_objects = _BG_RE.sub(" ", s)  # "black background" must not read as a black object
    out: dict = {"family": None, "objects": [], "background": background}
    out.update(direction=None, action=None)
    player = _PLAYER_RE.search(s_objects)
    found = list(_OBJECT_RE.finditer(s_objects))
    if player and not found:
        action = _ACTION_RE.search(s_objects[player.end() :])
        out["action"] = _ACTION_LOOKUP[action.group(1)] if action else None
        out["family"] = "game"
        out["objects"] = [{"color": player.group(1), "shape": "player", "motion": out["action"]}]
    elif found:
        for i, m in enumerate(found):
            end = found[i + 1].start() if i + 1 < len(found) else len(s_objects)
            motion = _MOTION_RE.search(s_objects[m.end() : end])
            out["objects"].append(
                {
                    "color": m.group(1),
                    "shape": m.group(2),
                    "motion": _MOTION_LOOKUP[motion.group(1)] if motion else None,
                }
            )
        out["family"] = family = _family_of(s_objects, len(found))
        if family in ("pan", "occlusion"):
            d = _DIRECTION_RE.search(s_objects)
            out["direction"] = d.group(1) if d else None
        for obj in out["objects"]:  # these families fix the motion; the caption only names it
            obj["motion"] = _FAMILY_MOTION.get(family, obj["motion"])
    out["count"] = len(out["objects"])
    first = out["objects"][0] if out["objects"] else {}
    out.update(color=first.get("color"), shape=first.get("shape"), motion=first.get("motion"))
    return out


_FAMILY_MOTION = {
    "collision": "collides",
    "occlusion": "passes behind a wall",
    "pan": "stays still",
}


def _family_of(s: str, count: int) -> str:
    if re.search(r"\bcamera\b|\bpan(s|ning)?\b", s):
        return "pan"
    if re.search(r"\bbehind\b.*\bwall\b", s):
        return "occlusion"
    if re.search(r"\bcollide|\bbump into\b", s):
        return "collision"
    return "pair" if count >= 2 else "single"
