"""Multi-shot on the bundled model: each shot follows its own prompt, and the cut falls where
asked (the lengths alone are checked on the tiny pipeline in test_pipeline_tasks.py)."""

import numpy as np
import pytest

from chronotope.eval.adherence import dominant_color, score_video
from chronotope.eval.detect import detect
from chronotope.eval.prompts import PromptCase
from chronotope.world import scene_from_prompt

# two training captions of the world: different colors, shapes and motions
SHOTS = ("a red circle moves right", "a blue square moves left")
PER_SHOT = 9  # shot_seconds=1 at the model's 8 fps: 1 + 4k frames, the nearest to 9
SEEDS = (0, 1, 2)  # the first three, not picked (see the motion assertion for their scores)


@pytest.fixture(scope="module")
def videos() -> list[np.ndarray]:
    from chronotope import load_default

    pipe = load_default()
    pipe.set_progress_bar_config(disable=True)
    return [pipe(list(SHOTS), shot_seconds=1, seed=s, width=64, height=64).frames for s in SEEDS]


def shot_scores(prompt: str, frames: np.ndarray) -> dict[str, bool]:
    case = PromptCase("in_distribution", prompt, scene_from_prompt(prompt).spec)
    return score_video(case, frames, 8.0)


def test_each_shot_shows_its_own_prompts_color(videos):
    """Frame by frame, the detected color is the shot's: measured 9 of 9 in both shots for each
    of seeds 0-5, so at most 2 frames of a shot may miss (another CPU's kernels), and none may
    show the other shot's color (a second shot that kept the first prompt fails here)."""
    for frames in videos:
        assert frames.shape == (2 * PER_SHOT, 64, 64, 3)
        colors = [dominant_color([frame]) for frame in detect(frames)]
        for shot, color, other in ((0, "red", "blue"), (1, "blue", "red")):
            mine = colors[shot * PER_SHOT : (shot + 1) * PER_SHOT]
            assert mine.count(color) >= PER_SHOT - 2 and other not in mine, colors


def test_the_cut_falls_where_asked(videos):
    """The largest change between consecutive frames is from frame 8 to 9, the shot boundary
    (measured 7.2-11.3 mean |difference| there, at most 3.0 anywhere else, seeds 0-5)."""
    for frames in videos:
        change = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
        assert int(np.argmax(change)) + 1 == PER_SHOT, change.round(1)
        assert change[PER_SHOT - 1] > 2 * np.delete(change, PER_SHOT - 1).max(), change.round(1)


def test_each_shot_moves_as_its_prompt_says(videos):
    """Motion is the model's weaker skill (3 in 4 over its eval). Over seeds 0-5 shot 1 moved
    right 5 times of 6 and shot 2 left 4 of 6; seeds 0-2 score 4 of their 6 shots. Half the
    shots are required: at 0.75 per shot that fails 4 % of the time, while shots whose motion
    is left to chance (about 1 in 7 of the world's motions) pass it 4 % of the time."""
    moved = [
        shot_scores(prompt, frames[shot * PER_SHOT : (shot + 1) * PER_SHOT])["motion"]
        for frames in videos
        for shot, prompt in enumerate(SHOTS)
    ]
    assert sum(moved) >= len(moved) // 2, moved
