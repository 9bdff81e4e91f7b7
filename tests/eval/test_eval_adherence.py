import numpy as np

from chronotope.eval.adherence import Prompt, PromptObject, prompt_set, score_video, summarize
from chronotope.world import HELDOUT_PAIRS, MOTIONS, scene_from_prompt


def test_prompt_set_covers_motions_pairs_and_heldout():
    ps = prompt_set(7, seed=3)
    singles = [p for p in ps if p.kind == "single"]
    assert {p.objects[0].motion for p in singles} == set(MOTIONS)
    pairs = [p for p in ps if p.kind == "pair"]
    assert len(pairs) == 2 and all(a.color != b.color for a, b in (p.objects for p in pairs))
    held = [(p.objects[0].color, p.objects[0].shape) for p in ps if p.kind == "heldout"]
    assert held == list(HELDOUT_PAIRS[: len(held)]) and len(held) == 2
    assert all((o.color, o.shape) not in HELDOUT_PAIRS for p in singles + pairs for o in p.objects)


def test_the_worlds_own_clips_score_perfectly():
    prompts = prompt_set(10, seed=0)
    scores = []
    for i, p in enumerate(prompts):
        clip = scene_from_prompt(p.text, seed=i, width=112, height=64, num_frames=9)
        scores.append(score_video(p, clip.frames))
    summary = summarize(prompts, scores)
    assert all(v == 1.0 for v in summary.values()), summary
    assert {"color", "heldout.shape", "pair.count", "motion.stays still"} <= set(summary)


def test_wrong_videos_score_zero_on_the_wrong_attribute():
    clip = scene_from_prompt("a red circle moves left", seed=1, width=64, height=64, num_frames=9)
    asked = Prompt("single", (PromptObject("blue", "circle", "moves left"),))
    assert score_video(asked, clip.frames) == {
        "color": False,
        "shape": False,
        "motion": False,
        "count": True,
    }
    right = Prompt("single", (PromptObject("red", "circle", "moves right"),))
    assert score_video(right, clip.frames) == {
        "color": True,
        "shape": True,
        "motion": False,
        "count": True,
    }
    reversed_clip = clip.frames[::-1]
    left = Prompt("single", (PromptObject("red", "circle", "moves left"),))
    assert not score_video(left, reversed_clip)["motion"]
    blank = np.zeros_like(clip.frames)
    assert not any(score_video(left, blank).values())
    two = Prompt(
        "pair",
        (
            PromptObject("red", "circle", "moves left"),
            PromptObject("blue", "square", "stays still"),
        ),
    )
    assert score_video(two, clip.frames)["count"] is False
