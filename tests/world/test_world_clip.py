import json

import numpy as np
import pytest

from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.world import FAMILIES, generate_clip, scene_from_prompt


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_clip_other_seed_other_clip(family):
    a = generate_clip(7, family=family, num_frames=6, width=48, height=32)
    b = generate_clip(7, family=family, num_frames=6, width=48, height=32)
    c = generate_clip(8, family=family, num_frames=6, width=48, height=32)
    assert np.array_equal(a.frames, b.frames) and a.caption == b.caption
    assert a.ground_truth() == b.ground_truth()
    assert not np.array_equal(a.frames, c.frames)


def test_clip_shapes_and_json_ground_truth():
    clip = generate_clip(3, width=80, height=48, num_frames=5, fps=12.0)
    assert clip.frames.shape == (5, 48, 80, 3) and clip.frames.dtype == np.uint8
    assert len(clip.states) == 5 and clip.fps == 12.0
    gt = json.loads(json.dumps(clip.ground_truth()))
    assert gt["num_frames"] == 5 and gt["frames"][2]["time"] == pytest.approx(2 / 12)
    assert gt["spec"]["family"] == clip.spec.family


@pytest.mark.parametrize("family", FAMILIES)
def test_physics_is_in_seconds_not_frames(family):
    """The same seed at twice the fps shows the same motion: every other frame is identical."""
    slow = generate_clip(11, family=family, num_frames=9, fps=6.0, width=40, height=32)
    fast = generate_clip(11, family=family, num_frames=17, fps=12.0, width=40, height=32)
    assert np.array_equal(fast.frames[::2], slow.frames)
    assert slow.caption == fast.caption


@pytest.mark.parametrize("family", ["single", "collision", "game"])
def test_positions_scale_with_the_frame(family):
    """At twice the size every center and size doubles (pixel centers at integer coordinates)."""
    small = generate_clip(5, family=family, num_frames=8, width=64, height=48)
    big = generate_clip(5, family=family, num_frames=8, width=128, height=96)
    for s, b in zip(small.states, big.states):
        for os_, ob in zip(s.objects, b.objects):
            assert ob.size == pytest.approx(2 * os_.size)
            assert (np.array(ob.center) + 0.5) == pytest.approx(2 * (np.array(os_.center) + 0.5))


@pytest.mark.parametrize("size", [(16, 16), (2048, 64), (64, 2048), (17, 31)])
def test_any_size_and_aspect(size):
    w, h = size
    clip = generate_clip(1, width=w, height=h, num_frames=2)
    assert clip.frames.shape == (2, h, w, 3)


def test_one_frame_clip():
    clip = generate_clip(4, num_frames=1)
    assert clip.frames.shape == (1, 64, 64, 3) and len(clip.states) == 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"width": -5}, "width must be an integer in [16, 2048]"),
        ({"width": 15}, "[16, 2048]"),
        ({"height": 4096}, "[16, 2048]"),
        ({"num_frames": 0}, "num_frames must be an integer >= 1"),
        ({"fps": 0.0}, "fps must be in (0, 1000]"),
        ({"fps": float("nan")}, "fps must be in"),
        ({"shape": "hexagon"}, "valid: circle, square, triangle"),
        ({"color": "pink"}, "valid: red, orange, yellow"),
        ({"motion": "spins"}, "valid: moves left"),
        ({"background": "plaid"}, "valid: black, gray, sky"),
        ({"family": "space"}, "valid: single, pair"),
        ({"speed": 3}, "unknown override 'speed'"),
        ({"family": "collision", "motion": "moves up"}, "does not take 'motion'"),
        ({"shape": "triangle", "color": "green"}, "held out"),
        ({"family": "pair", "color": "red", "color2": "red"}, "must differ"),
    ],
)
def test_bad_arguments_raise_usage_errors_naming_the_valid_range(kwargs, words):
    with pytest.raises(UsageError) as e:
        generate_clip(0, **kwargs)
    assert words in str(e.value)


def test_bad_seed_and_memory_budget():
    with pytest.raises(UsageError, match="seed"):
        generate_clip(-1)
    with pytest.raises(UsageError, match="seed"):
        generate_clip(1.5)
    with pytest.raises(MemoryBudgetError, match="num_frames must be <= 256 at 2048x2048"):
        generate_clip(0, width=2048, height=2048, num_frames=10_000)


def test_pinning_the_drawn_items_reproduces_the_clip():
    free = generate_clip(21, family="single", num_frames=4)
    obj = free.spec.objects[0]
    pinned = generate_clip(
        21,
        family="single",
        num_frames=4,
        shape=obj.shape,
        color=obj.color,
        motion=obj.motion,
        background=free.spec.background,
    )
    assert np.array_equal(free.frames, pinned.frames)


@pytest.mark.parametrize("seed", range(12))
def test_scene_from_caption_reproduces_the_clip(seed):
    """The caption names every drawn item, so parsing it and rendering gives the same frames."""
    clip = generate_clip(seed, num_frames=5, width=48, height=40)
    again = scene_from_prompt(clip.caption, seed=seed, num_frames=5, width=48, height=40)
    assert again.spec.family == clip.spec.family
    assert np.array_equal(again.frames, clip.frames), clip.caption


def test_scene_from_prompt_pins_what_it_names():
    clip = scene_from_prompt("a blue square moves right on a gray background", seed=3)
    (o,) = clip.spec.objects
    assert (o.color, o.shape, o.motion, clip.spec.background) == (
        "blue",
        "square",
        "moves right",
        "gray",
    )
    assert clip.caption == "a blue square moves right on a gray background"
    xs = [s.objects[0].center[0] for s in clip.states]
    assert xs[-1] > xs[0]
    held = scene_from_prompt("a green triangle stays still", seed=0)
    assert (held.spec.objects[0].color, held.spec.objects[0].shape) == ("green", "triangle")
    game = scene_from_prompt("the red player walks left", seed=0)
    assert game.spec.family == "game" and game.spec.objects[0].motion == "walks left"


def test_scene_from_prompt_rejects_prompts_outside_the_vocabulary():
    with pytest.raises(UsageError, match="no object of the world's vocabulary"):
        scene_from_prompt("a dog runs in the park", seed=0)
    with pytest.raises(UsageError, match="at most 2"):
        scene_from_prompt("a red circle, a blue square and a white triangle", seed=0)


def test_training_streams_never_reach_eval_seeds():
    from chronotope.autoencoder.sources import HELDOUT_SEED_BASE, WorldSource
    from chronotope.data import WorldStream
    from chronotope.world.seeds import EVAL_BLOCK, EVAL_SEEDS, TRAIN_SEEDS, eval_seed

    assert TRAIN_SEEDS <= EVAL_SEEDS and TRAIN_SEEDS <= HELDOUT_SEED_BASE
    assert eval_seed(0, 0) == EVAL_SEEDS and eval_seed(999, EVAL_BLOCK - 1) < HELDOUT_SEED_BASE
    assert eval_seed(1, 0) - eval_seed(0, 0) == EVAL_BLOCK  # --seed moves the clips
    stream = WorldStream(seed=2**40 + 7)
    seeds = [stream.plan(i)["seed"] for i in range(2000)]
    assert max(seeds) < TRAIN_SEEDS and len(set(seeds)) > 1990
    source = WorldSource(seed=2**40 + 7, batch_size=64)
    vae_seeds = [source.clip_seed(step, i) for step in (0, 10**9, 2**50) for i in range(64)]
    assert max(vae_seeds) < TRAIN_SEEDS
    with pytest.raises(UsageError):
        eval_seed(1000, 0)
