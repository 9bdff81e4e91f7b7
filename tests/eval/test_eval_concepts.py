"""The new concepts (pink, bar): drawn over world scenes, found by the detector only when it is
asked to look for them (so the world's eval figures cannot move), and still found after the
bundled VAE's round trip (what it cannot show, no adapter can teach)."""

import numpy as np
import pytest

from chronotope.eval.adherence import score_video
from chronotope.eval.concepts import NEW_COLORS, concept_clip
from chronotope.eval.detect import DetectConfig, detect
from chronotope.eval.prompts import PromptCase
from chronotope.world import BACKGROUNDS, COLORS, MOTIONS, SCENERY, generate_clip

NEW = DetectConfig(new_concepts=True)


def test_pink_keeps_the_worlds_color_rule():
    pink = np.asarray(NEW_COLORS["pink"], float)
    others = [np.asarray(c, float) for c in COLORS.values()]
    scenery = [np.asarray(c, float) for c in SCENERY.values() if c != SCENERY["eye"]]
    for top, bottom in BACKGROUNDS.values():  # gradients: every tenth of the way
        scenery += [np.asarray(top) + f * (np.subtract(bottom, top)) for f in np.linspace(0, 1, 11)]
    assert min(np.linalg.norm(pink - c) for c in others) >= 127
    assert min(np.linalg.norm(pink - c) for c in scenery) >= 104


@pytest.mark.parametrize("size", [(64, 64), (112, 64), (64, 112)])
def test_concept_clips_are_found_as_their_concept_and_unseen_by_default(size):
    w, h = size
    for seed in range(4):
        for color, shape in (("pink", "circle"), ("blue", "bar"), ("pink", "bar")):
            clip = concept_clip(seed, color=color, shape=shape, width=w, height=h, num_frames=3)
            assert color in clip.caption and shape in clip.caption
            found = detect(clip.frames, NEW)[0]
            assert len(found) == 1 and found[0].color == color
            if not found[0].clipped:
                assert found[0].shape == shape
            plain = detect(clip.frames)[0]  # the world's detector: no pink, no bar
            assert all(d.color != "pink" and d.shape != "bar" for d in plain)
            if color == "pink":
                assert plain == []


def test_a_concept_clip_scores_as_its_prompt_and_world_clips_detect_as_before():
    for i, motion in enumerate(MOTIONS):
        clip = concept_clip(100 + i, color="pink", shape="bar", motion=motion, num_frames=17)
        case = PromptCase("new", clip.caption, clip.spec)
        score = score_video(case, clip.frames, 8.0, detect(clip.frames, NEW))
        assert score["color"] and score["shape"] and score["count"], (motion, score)
    world = generate_clip(5, num_frames=9, family="single")
    assert detect(world.frames, NEW) == detect(world.frames)  # no world pixel turns pink


def test_the_bundled_vae_shows_the_new_concepts():
    """Encoded and decoded by the bundled VAE, pink clips still read pink and bar clips bars."""
    from chronotope.data.video_io import to_tensor, to_uint8
    from chronotope.training.latents import LatentCodec

    codec = LatentCodec.load("bundled")
    hits = []
    for i, (color, shape, attribute) in enumerate(
        [("pink", "circle", "color"), ("green", "bar", "shape"), ("pink", "square", "color")] * 2
    ):
        clip = concept_clip(9000 + i, color=color, shape=shape, motion=MOTIONS[i], num_frames=9)
        decoded = to_uint8(codec.decode(codec.encode(to_tensor(clip.frames))))
        case = PromptCase("new", clip.caption, clip.spec)
        hits.append(score_video(case, decoded, 8.0, detect(decoded, NEW))[attribute])
    assert all(hits), hits
