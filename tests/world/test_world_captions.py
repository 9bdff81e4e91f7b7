import re
from itertools import combinations

import numpy as np
import pytest

from chronotope.world import (
    ACTIONS,
    BACKGROUNDS,
    COLORS,
    HELDOUT_PAIRS,
    MOTIONS,
    SCENERY,
    SHAPES,
    VOCAB,
    generate_clip,
    make_caption,
    parse_prompt,
)
from chronotope.world.captions import RESERVED, TRAINING

SEEDS = range(300)


@pytest.fixture(scope="module")
def clips():
    return [generate_clip(s, num_frames=1, width=32, height=32) for s in SEEDS]


def rgb_distance(a, b) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def test_colors_are_well_separated_from_each_other_and_from_scenery():
    assert min(rgb_distance(a, b) for a, b in combinations(COLORS.values(), 2)) >= 120
    others = [c for pair in BACKGROUNDS.values() for c in pair] + list(SCENERY.values())
    assert min(rgb_distance(a, b) for a in COLORS.values() for b in others) >= 100
    assert set(VOCAB["shapes"]) == {"circle", "square", "triangle"} and len(VOCAB["colors"]) == 8


def test_caption_parses_back_to_the_scene(clips):
    for clip in clips:
        p = parse_prompt(clip.caption)
        spec = clip.spec
        assert p["family"] == spec.family, clip.caption
        assert p["count"] == len(spec.objects)
        for got, obj in zip(p["objects"], spec.objects):
            assert (got["color"], got["shape"], got["motion"]) == (obj.color, obj.shape, obj.motion)
        named = p["background"]
        assert named == spec.background or (named is None and spec.background == "black")
        if spec.family in ("pan", "occlusion") and p["direction"] is not None:
            assert p["direction"] == spec.direction


def test_every_vocabulary_item_appears_in_captions(clips):
    parsed = [parse_prompt(c.caption) for c in clips]
    objects = [o for p in parsed for o in p["objects"]]
    assert {o["color"] for o in objects} == set(COLORS)
    assert {o["shape"] for o in objects} - {"player"} == set(SHAPES)
    assert {o["motion"] for o in objects} >= set(MOTIONS) | set(ACTIONS)
    assert {p["background"] for p in parsed} - {None} == set(BACKGROUNDS)
    assert {p["direction"] for p in parsed} - {None} == {"left", "right"}
    assert {p["family"] for p in parsed} == set(VOCAB["families"])
    words = " ".join(c.caption for c in clips)
    for word in [*COLORS, *SHAPES, "wall", "camera", "player", "collide"]:
        assert re.search(rf"\b{word}", words), word
    assert len({c.caption for c in clips}) > 250  # paraphrases, not one string per scene


def test_paraphrases_of_one_scene_differ():
    captions = set()
    for seed in range(40):
        clip = generate_clip(
            seed, family="single", shape="circle", color="red", motion="moves left", num_frames=1
        )
        captions.add(
            clip.caption.replace(" on a black background", "").replace(
                " against a black background", ""
            )
        )
    assert len(captions) >= 5
    assert all(parse_prompt(c)["motion"] == "moves left" for c in captions)


def fill_ratio(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    return mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))


def mask_of(frame, color, tol=60.0):
    d = frame.astype(np.float64) - np.asarray(COLORS[color], np.float64)
    return np.sqrt((d * d).sum(-1)) < tol


def heldout_seen(include_heldout: bool, seeds) -> tuple[set, set]:
    """Held-out pairs named in captions / drawn in pixels (by the blob's fill ratio)."""
    in_captions, in_pixels = set(), set()
    for seed in seeds:
        clip = generate_clip(
            seed, num_frames=1, width=96, height=96, include_heldout=include_heldout
        )
        for color, shape in HELDOUT_PAIRS:
            if re.search(rf"\b{color} {shape}", clip.caption):
                in_captions.add((color, shape))
        for obj in clip.states[0].objects:
            if (
                obj.color in {c for c, _ in HELDOUT_PAIRS}
                and obj.shape != "player"
                and obj.visible_fraction == 1
            ):
                ratio = fill_ratio(mask_of(clip.frames[0], obj.color))
                drawn = "square" if ratio > 0.92 else "circle" if ratio > 0.68 else "triangle"
                assert drawn == obj.shape  # the classifier reads the spec's shape back
                if (obj.color, drawn) in HELDOUT_PAIRS:
                    in_pixels.add((obj.color, drawn))
    return in_captions, in_pixels


def test_heldout_pairs_never_appear_unless_asked():
    assert heldout_seen(False, range(400)) == (set(), set())
    captions, pixels = heldout_seen(True, range(400))
    assert captions == pixels == set(HELDOUT_PAIRS)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "a blue square moves right on a gray background",
            ("single", "blue", "square", "moves right", "gray"),
        ),
        (
            "an orange circle falling and bouncing",
            ("single", "orange", "circle", "falls and bounces", None),
        ),
        (
            "A Red Triangle is thrown in an arc against the sky",
            ("single", "red", "triangle", "is thrown in an arc", "sky"),
        ),
        ("white square, staying still", ("single", "white", "square", "stays still", None)),
        ("a circle moves up", ("single", None, "circle", "moves up", None)),
        ("the cyan player jumps to the right", ("game", "cyan", "player", "jumps right", None)),
        (
            "a red circle and a blue square collide",
            ("collision", "red", "circle", "collides", None),
        ),
        (
            "the camera pans left over a block landscape with a yellow circle",
            ("pan", "yellow", "circle", "stays still", None),
        ),
        (
            "a purple square passes behind a wall on a grey background",
            ("occlusion", "purple", "square", "passes behind a wall", "gray"),
        ),
    ],
)
def test_parse_prompt(text, expected):
    p = parse_prompt(text)
    assert (p["family"], p["color"], p["shape"], p["motion"], p["background"]) == expected


def test_parse_prompt_two_objects_and_nothing():
    p = parse_prompt("a red circle moves left and a green square moving up")
    assert p["count"] == 2 and p["objects"][1] == {
        "color": "green",
        "shape": "square",
        "motion": "moves up",
    }
    assert parse_prompt("a cat on a sofa")["family"] is None


def reserved_phrases() -> list[str]:
    """Every phrase and template word that only reserved captions use."""
    book = RESERVED
    out = [p for forms in book.motions.values() for f in forms for p in f]
    out += [p for forms in book.actions.values() for p in forms]
    out += [p for forms in book.backgrounds.values() for p in forms]
    out += [*book.collisions, *book.occlusions, *book.landscapes, *book.grounds]
    out += [p.format(d=d) for p in book.pans for d in ("left", "right")]
    return out + ["in this clip", "we see", " while ", "hero", "showing", "in the block game"]


def test_training_captions_never_use_reserved_phrasings(clips):
    phrases = reserved_phrases()
    for clip in clips:
        assert not [p for p in phrases if p in clip.caption], clip.caption


def test_reserved_captions_parse_back_and_use_only_reserved_phrasings(clips):
    training = set()
    for book in (TRAINING,):
        training |= {p for forms in book.motions.values() for f in forms for p in f}
        training |= {p for forms in book.actions.values() for p in forms}
    phrases = reserved_phrases()
    for i, clip in enumerate(clips):
        caption = make_caption(clip.spec, np.random.default_rng(i), reserved=True)
        p, spec = parse_prompt(caption), clip.spec
        assert p["family"] == spec.family and p["count"] == len(spec.objects), caption
        for got, obj in zip(p["objects"], spec.objects):
            assert (got["color"], got["shape"], got["motion"]) == (obj.color, obj.shape, obj.motion)
        named = p["background"]
        assert named == spec.background or (named is None and spec.background == "black")
        assert any(ph in caption for ph in phrases), caption
        # no motion or action phrase of training captions (word-bounded: "sits still" is new)
        assert not [t for t in training if re.search(rf"\b{re.escape(t)}\b", caption)], caption
