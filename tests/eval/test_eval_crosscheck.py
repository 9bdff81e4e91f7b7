"""The second-opinion detector: agrees with the world on uniform motions, says None on junk."""

import numpy as np
import pytest

from chronotope.eval.crosscheck import centroid_series, crosscheck_motion, disagreements
from chronotope.world import COLORS, generate_clip

FPS, T = 8.0, 16
UNIFORM = ("moves left", "moves right", "moves up", "moves down", "stays still")


def clip(seed, motion, width=64, height=64, num_frames=T):
    return generate_clip(seed, width=width, height=height, num_frames=num_frames, fps=FPS,
                         family="single", motion=motion)  # fmt: skip


@pytest.mark.parametrize("motion", UNIFORM)
def test_agrees_with_the_world_on_uniform_motions(motion):
    for seed, (w, h), n in ((0, (64, 64), 16), (1, (112, 64), 24), (2, (64, 112), 32)):
        c = clip(seed, motion, w, h, n)
        assert crosscheck_motion(c.frames, c.spec.objects[0].color, FPS) == motion, (seed, w, h)


def test_centroid_lands_on_the_recorded_center():
    c = clip(3, "moves right")
    obj = c.spec.objects[0]
    cen, count = centroid_series(c.frames, obj.color)
    for i, st in enumerate(c.states):
        o = st.objects[0]
        if o.visible_fraction == 1.0:
            assert np.allclose(cen[i], o.center, atol=0.5)
            assert count[i] > 0.3 * o.size**2


def test_reversed_clip_reads_the_other_way():
    c = clip(4, "moves left")
    assert crosscheck_motion(c.frames[::-1], c.spec.objects[0].color, FPS) == "moves right"


def test_degenerate_inputs():
    c = clip(5, "moves down")
    color = c.spec.objects[0].color
    still = np.repeat(c.frames[:1], T, axis=0)
    assert crosscheck_motion(still, color, FPS) == "stays still"
    noise = np.random.default_rng(0).integers(0, 256, c.frames.shape, dtype=np.uint8)
    assert crosscheck_motion(noise, color, FPS) is None  # scattered pixels are no object
    assert np.isnan(centroid_series(noise, color)[0]).all()
    blank = np.zeros_like(c.frames)
    assert crosscheck_motion(blank, color, FPS) is None
    other = next(k for k in COLORS if k != color)
    assert crosscheck_motion(c.frames, other, FPS) is None  # the prompt's color is not there
    tiny = blank.copy()
    tiny[:, 30, 30:33] = COLORS[color]  # 3 px: fewer than a few pixels
    assert crosscheck_motion(tiny, color, FPS) is None
    brief = blank.copy()
    brief[:4] = c.frames[:4]  # there in 4 frames of 16
    assert crosscheck_motion(brief, color, FPS) is None
    assert crosscheck_motion(c.frames[:1], color, FPS) is None  # one frame has no motion


def test_slow_drift_is_still_and_the_threshold_is_in_world_units():
    # a 4x4 square drifting 0.04 units/s (below half the slowest motion, 0.05): still;
    # 0.1 units/s (the slowest world motion): moves; the same at 64 and 128 px
    for side in (64, 128):
        for speed, want in ((0.04, "stays still"), (0.1, "moves right")):
            f = np.zeros((T, side, side, 3), np.uint8)
            for i in range(T):
                x = int(round(side * (0.3 + speed * i / FPS)))
                f[i, side // 2 : side // 2 + side // 16, x : x + side // 16] = COLORS["red"]
            assert crosscheck_motion(f, "red", FPS) == want, (side, speed)


def test_disagreements():
    rows = [
        {"prompt": "a red circle moves left", "main": "moves left", "cross": "moves left"},
        {"prompt": "a blue square stays still", "main": "stays still", "cross": None},
        {"prompt": "a green circle moves up", "main": None, "cross": None},
        {"prompt": "a cyan square moves down", "main": "moves up", "cross": "moves down"},
    ]
    out = disagreements(rows)
    assert out["n"] == 4 and out["fraction"] == 0.5
    assert [r["prompt"] for r in out["rows"]] == [rows[1]["prompt"], rows[3]["prompt"]]
    assert disagreements([]) == {"n": 0, "fraction": 0.0, "rows": []}
