"""Captions: several paraphrase templates per family, and the parser that reads them back.

Every phrase a template can produce is listed in a table below, and `parse_prompt` matches
exactly those tables, so for every caption `parse_prompt(caption)` recovers the items of the
scene (a test checks this over many seeds). The background is always named when it is not
black; a caption that names no background means black (the default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

# Reserved phrasings: never in a training caption; the eval's `paraphrase` prompts use only these
# (known content in words a model never read). Their words are new to every model trained so far.
RESERVED_MOTION_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "moves left": (("heads left", "glides leftward"), ("heading left", "gliding leftward")),
    "moves right": (("heads right", "glides rightward"), ("heading right", "gliding rightward")),
    "moves up": (("ascends", "climbs upward"), ("ascending", "climbing upward")),
    "moves down": (("descends", "glides downward"), ("descending", "gliding downward")),
    "falls and bounces": (
        ("tumbles down and bounces", "drops to the floor and rebounds"),
        ("tumbling down and bouncing", "dropping to the floor and rebounding"),
    ),
    "is thrown in an arc": (
        ("is launched in an arc", "arcs through the air"),
        ("launched in an arc", "arcing through the air"),
    ),
    "stays still": (
        ("remains motionless", "sits still"),
        ("remaining motionless", "sitting still"),
    ),
}
RESERVED_ACTION_PHRASES: dict[str, tuple[str, ...]] = {
    "walks right": ("strolls right", "steps to the right"),
    "walks left": ("strolls left", "steps to the left"),
    "jumps right": ("hops right", "leaps to the right"),
    "jumps left": ("hops left", "leaps to the left"),
    "jumps": ("hops in place", "leaps up and lands"),
    "stands still": ("stays put", "stands motionless"),
}
RESERVED_BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "black": ("on a dark background", "against a dark backdrop"),
    "gray": ("on a grey background", "in front of a grey backdrop"),
    "sky": ("beneath an open sky", "under a pale sky"),
}


@dataclass(frozen=True)
class Phrasebook:
    """The phrase tables and sentence templates one set of captions draws from."""

    motions: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    actions: dict[str, tuple[str, ...]]
    backgrounds: dict[str, tuple[str, ...]]
    collisions: tuple[str, ...]
    occlusions: tuple[str, ...]
    pans: tuple[str, ...]
    landscapes: tuple[str, ...]
    grounds: tuple[str, ...]
    templates: dict[str, tuple[str, ...]]  # family -> str.format templates (fields below)


# Template fields: {a} / {b} "red circle", {a_a} / {a_b} "a red circle", {verb} {ing} (and _b),
# {bg} " on a gray background" or "", {d} direction, {pan}, {land}, {ground}, {act}, {color},
# {collide}, {occlude}.
TRAINING = Phrasebook(
    motions=MOTION_PHRASES,
    actions=ACTION_PHRASES,
    backgrounds=BACKGROUND_PHRASES,
    collisions=COLLISION_PHRASES,
    occlusions=OCCLUSION_PHRASES,
    pans=PAN_PHRASES,
    landscapes=LANDSCAPE_PHRASES,
    grounds=GROUND_PHRASES,
    templates={
        "single": ("{a_a} {verb}{bg}", "{a_a} {ing}{bg}", "{a}, {ing}{bg}", "the {a} {verb}{bg}"),
        "pair": (
            "{a_a} {verb} and {a_b} {verb_b}{bg}",
            "{a_a} {ing} and {a_b} {ing_b}{bg}",
            "two objects: {a_a} {ing} and {a_b} {ing_b}{bg}",
            "{a} {ing}, {b} {ing_b}{bg}",
        ),
        "collision": (
            "{a_a} and {a_b} {collide}{bg}",
            "{a_a} moving right and {a_b} moving left collide{bg}",
            "two objects collide: {a_a} and {a_b}{bg}",
        ),
        "occlusion": (
            "{a_a} {occlude}{bg}",
            "{a_a} moving {d} passes behind a wall{bg}",
            "{a}, moving {d}, passes behind a wall and reappears{bg}",
        ),
        "pan": (
            "{pan} {land} with {a_a}{bg}",
            "{a_a} on blocks, {pan}{bg}",
            "{pan} {land}; {a_a} stands on the ground{bg}",
        ),
        "game": (
            "the {color} player {act}{bg}",
            "{a_color} player {act} {ground}{bg}",
            "block world game: the {color} player {act}{bg}",
        ),
    },
)
RESERVED = Phrasebook(
    motions=RESERVED_MOTION_PHRASES,
    actions=RESERVED_ACTION_PHRASES,
    backgrounds=RESERVED_BACKGROUND_PHRASES,
    collisions=("crash into each other and rebound", "run into each other and bounce off"),
    occlusions=(
        "slips behind a wall and emerges on the far side",
        "disappears behind a wall and comes back out",
    ),
    pans=("the camera sweeps {d}", "the camera glides to the {d}"),
    landscapes=("above rolling terrain made of blocks", "over stacked hills of blocks"),
    grounds=("on a floor of bricks", "in a level built of blocks"),
    templates={
        "single": ("in this clip {a_a} {verb}{bg}", "we see {a_a} {ing}{bg}"),
        "pair": (
            "{a_a} {verb} while {a_b} {verb_b}{bg}",
            "we see {a_a} {ing} and {a_b} {ing_b}{bg}",
        ),
        "collision": (
            "{a_a} and {a_b} {collide}{bg}",
            "in this clip {a_a} and {a_b} {collide}{bg}",
        ),
        "occlusion": ("{a_a} {occlude}{bg}", "heading {d}, {a_a} slips behind a wall{bg}"),
        "pan": ("{pan} {land}, showing {a_a}{bg}", "{pan}; {a_a} waits on the blocks{bg}"),
        "game": (
            "in the block game the {color} player {act}{bg}",
            "the {color} hero {act} {ground}{bg}",
        ),
    },
)

assert set(RESERVED_MOTION_PHRASES) == set(MOTIONS) and set(RESERVED_ACTION_PHRASES) == set(ACTIONS)
assert set(RESERVED_BACKGROUND_PHRASES) == set(BACKGROUNDS)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _thing(obj: ObjectSpec) -> str:
    return f"{obj.color} {obj.shape}"


def _a(words: str) -> str:
    """'a red circle', 'an orange square'."""
    return ("an " if words[0] in "aeiou" else "a ") + words


def _background(spec: SceneSpec, rng: np.random.Generator, book: Phrasebook) -> str:
    """' on a gray background' etc.; black is named only half of the time (it is the default)."""
    if spec.background == "black" and rng.random() < 0.5:
        return ""
    return " " + _pick(rng, book.backgrounds[spec.background])


def make_caption(spec: SceneSpec, rng: np.random.Generator, *, reserved: bool = False) -> str:
    """A caption for `spec`, one of several paraphrases drawn from `rng`: from the training
    phrasings, or with `reserved` from the phrasings that no training caption uses."""
    book = RESERVED if reserved else TRAINING
    fields = _FIELDS[spec.family](spec, rng, book)
    return _pick(rng, book.templates[spec.family]).format(**fields)


def _objects(spec) -> dict:
    out = {"a": _thing(spec.objects[0]), "a_a": _a(_thing(spec.objects[0]))}
    if len(spec.objects) > 1:
        out.update(b=_thing(spec.objects[1]), a_b=_a(_thing(spec.objects[1])))
    return out


# Each draws its phrases in a fixed order (the template last), so a seed's caption is stable.
def _single(spec, rng, book):
    verb, ing = (_pick(rng, forms) for forms in book.motions[spec.objects[0].motion])
    return {**_objects(spec), "verb": verb, "ing": ing, "bg": _background(spec, rng, book)}


def _pair(spec, rng, book):
    a, b = spec.objects
    verb, ing = (_pick(rng, f) for f in book.motions[a.motion])
    verb_b, ing_b = (_pick(rng, f) for f in book.motions[b.motion])
    bg = _background(spec, rng, book)
    return {**_objects(spec), "verb": verb, "ing": ing, "verb_b": verb_b, "ing_b": ing_b, "bg": bg}


def _collision(spec, rng, book):
    bg = _background(spec, rng, book)
    return {**_objects(spec), "bg": bg, "collide": _pick(rng, book.collisions)}


def _occlusion(spec, rng, book):
    bg = _background(spec, rng, book)
    return {**_objects(spec), "d": spec.direction, "bg": bg, "occlude": _pick(rng, book.occlusions)}


def _pan(spec, rng, book):
    pan = _pick(rng, book.pans).format(d=spec.direction)
    land = _pick(rng, book.landscapes)
    return {**_objects(spec), "pan": pan, "land": land, "bg": _background(spec, rng, book)}


def _game(spec, rng, book):
    (p,) = spec.objects
    act = _pick(rng, book.actions[p.motion])
    ground = _pick(rng, book.grounds)
    bg = _background(spec, rng, book)
    return {"color": p.color, "a_color": _a(p.color), "act": act, "ground": ground, "bg": bg}


_FIELDS = {
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
_PLAYER_RE = re.compile(rf"\b(?:({_alternation(COLORS)}) )?(?:player|hero)\b")
_MOTION_LOOKUP = {
    p: m for book in (TRAINING, RESERVED) for m, (a, b) in book.motions.items() for p in (*a, *b)
}
_MOTION_RE = re.compile(rf"\b({_alternation(_MOTION_LOOKUP)})\b")
_ACTION_LOOKUP = {p: a for book in (TRAINING, RESERVED) for a, f in book.actions.items() for p in f}
_ACTION_RE = re.compile(rf"\b({_alternation(_ACTION_LOOKUP)})\b")
_BG_LOOKUP = {  # "grey" is read as "gray" before matching
    p.replace("grey", "gray"): b
    for book in (TRAINING, RESERVED)
    for b, forms in book.backgrounds.items()
    for p in forms
}
_BG_RE = re.compile(rf"({_alternation(_BG_LOOKUP)})|\b(black|gray|grey|sky) background\b")
_DIRECTION_RE = re.compile(
    r"\b(?:pans?|panning|pan to the|moving|moves|to the|sweeps|heading)\s+(left|right)\b"
)


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
    if re.search(r"\bcollide|\bbump into\b|\bcrash into\b|\brun into\b", s):
        return "collision"
    return "pair" if count >= 2 else "single"
