import numpy as np

from chronotope.eval.adherence import score_video
from chronotope.eval.detect import classify_shape
from chronotope.eval.prompts import SETS, prompt_cases
from chronotope.world import HELDOUT_PAIRS, MOTIONS, parse_prompt
from chronotope.world.captions import RESERVED
from chronotope.world.clip import render_clip

FPS = 8.0


def test_prompt_sets_cover_motions_pairs_heldout_and_reserved_phrasings():
    cases = prompt_cases(14, seed=3)
    assert [c.set for c in cases] == [s for s in SETS for _ in range(14)]
    reserved = [p for forms in RESERVED.motions.values() for f in forms for p in f]
    for name in SETS:
        mine = [c for c in cases if c.set == name]
        singles = [c for c in mine if len(c.objects) == 1]
        assert {c.objects[0][2] for c in singles} == set(MOTIONS)
        pairs = [c for c in mine if len(c.objects) == 2]
        assert len(pairs) == 3 and all(c.objects[0][0] != c.objects[1][0] for c in pairs)
        looks = [(col, shape) for c in mine for col, shape, _ in c.objects]
        if name == "heldout":
            assert all((c.objects[0][0], c.objects[0][1]) in HELDOUT_PAIRS for c in mine)
        else:
            assert not set(looks) & set(HELDOUT_PAIRS)
        uses_reserved = [any(p in c.text for p in reserved) for c in mine]
        assert all(uses_reserved) if name == "paraphrase" else not any(uses_reserved)
        for c in mine:  # the text names what the truth holds
            parsed = parse_prompt(c.text)
            assert [(o["color"], o["shape"], o["motion"]) for o in parsed["objects"]] == c.objects
    assert prompt_cases(14, seed=3) == cases and prompt_cases(14, seed=4) != cases


def frames_of(case, n=17):
    return render_clip(case.spec, num_frames=n, fps=FPS, caption=case.text).frames


def test_wrong_videos_fail_the_wrong_attribute():
    cases = prompt_cases(8, seed=0)
    left = next(c for c in cases if len(c.objects) == 1 and c.objects[0][2] == "moves left")
    frames = frames_of(left)
    assert score_video(left, frames, FPS) == dict.fromkeys(
        ("color", "shape", "motion", "count"), True
    )
    assert score_video(left, frames[::-1], FPS) == {
        "color": True, "shape": True, "motion": False, "count": True
    }  # fmt: skip
    blank = np.zeros_like(frames)
    assert not any(score_video(left, blank, FPS).values())
    # a 3x3 speck of the right color in every frame: too small to be an object of the world
    speck = blank.copy()
    speck[:, 30:33, 30:33] = frames[0][tuple(np.argwhere(frames[0].any(-1))[0])]
    assert not any(score_video(left, speck, FPS).values())
    # present in one frame of 17: not counted
    flash = blank.copy()
    flash[8] = frames[8]
    assert not any(score_video(left, flash, FPS).values())


def test_a_still_object_is_not_a_direction_and_a_direction_is_not_still():
    cases = prompt_cases(14, seed=1)
    still = next(c for c in cases if len(c.objects) == 1 and c.objects[0][2] == "stays still")
    moving = next(c for c in cases if len(c.objects) == 1 and c.objects[0][2] == "moves up")
    assert score_video(still, frames_of(still), FPS)["motion"]
    assert not score_video(moving, frames_of(still), FPS)["motion"]
    # one frame only: nothing to read a motion from
    assert not score_video(still, frames_of(still)[:1], FPS)["motion"]


def test_shape_classifier_answers_none_for_shapes_the_world_never_draws():
    assert classify_shape((0.0, 0.29)) == "square" and classify_shape((0.55, 0.0)) == "triangle"
    assert classify_shape((0.0, 0.0)) == "circle"
    assert classify_shape((0.0, -0.21)) == "none"  # a diamond: a square turned 45 degrees
    assert classify_shape((0.3, 0.15)) == "none"
