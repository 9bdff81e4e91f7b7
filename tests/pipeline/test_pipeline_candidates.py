"""Seam candidates: a window with a seam is sampled K times in one packed run and the sample
whose seams look most like its other steps is kept."""

import numpy as np
import pytest

from chronotope.errors import UsageError
from chronotope.pipeline.window import CANDIDATE_SEED_STRIDE
from chronotope.tasks.seams import (
    moving_seams,
    seam_discontinuity,
    seam_positions,
    seam_ratio,
    steps,
)


def _ramp(n: int, jump_at: int | None = None, jump: float = 0.0) -> np.ndarray:
    """Frames whose gray level rises 6 levels per frame, with an extra jump into `jump_at`."""
    levels = np.arange(n, dtype=np.float64) * 6 + 40
    if jump_at is not None:
        levels[jump_at:] += jump
    return np.broadcast_to(levels[:, None, None, None], (n, 4, 4, 3)).astype(np.uint8)


def test_seam_positions_are_where_known_and_generated_frames_meet():
    known = np.array([1, 1, 0, 0, 0, 1, 1], bool)
    assert seam_positions(known) == [2, 5]
    assert seam_positions(np.zeros(5, bool)) == [] and seam_positions(np.ones(5, bool)) == []


def test_seam_discontinuity_counts_a_jump_and_a_stall_alike():
    known = np.array([1] * 4 + [0] * 6, bool)
    smooth = _ramp(10)
    assert seam_discontinuity(smooth, known) == pytest.approx(0.0, abs=1e-6)
    jump = _ramp(10, 4, 12.0)  # step into frame 4: 6 + 12 = 18 levels against 6: ratio 3
    assert seam_ratio(jump, 4) == pytest.approx(3.0, rel=1e-3)
    assert seam_discontinuity(jump, known) == pytest.approx(np.log(3.0), rel=1e-3)
    stall = _ramp(10, 4, -4.0)  # 6 - 4 = 2 levels: ratio 1/3
    assert seam_discontinuity(stall, known) == pytest.approx(np.log(3.0), rel=1e-2)
    # the worst of two seams counts
    both = np.array([1] * 4 + [0] * 3 + [1] * 3, bool)  # seams at 4 (the jump) and 7
    assert seam_discontinuity(jump, both) == pytest.approx(np.log(3.0), rel=1e-3)
    assert seam_discontinuity(jump, np.zeros(10, bool)) == 0.0  # no seam, nothing to judge


def test_candidates_keep_the_sample_with_the_smoothest_seam(tiny_pipe):
    tiny_pipe.autocast = False  # exact float32: the packed candidates equal each alone
    try:
        clip = tiny_pipe("a red circle", num_frames=5, width=64, height=64, seed=1).frames
        kw = dict(video=clip, extend="forward", num_frames=8, width=64, height=64)
        best = tiny_pipe("a red circle", seed=7, candidates=3, **kw)
        alone = [
            tiny_pipe("a red circle", seed=7 + i * CANDIDATE_SEED_STRIDE, candidates=1, **kw)
            for i in range(3)
        ]
        plain = tiny_pipe("a red circle", seed=7, **kw).frames
    finally:
        tiny_pipe.autocast = True
    # the window here is the whole output: the 5 given frames and 8 new ones
    known = np.arange(13) < 5
    scores = [seam_discontinuity(a.frames, known) for a in alone]
    assert len(set(np.round(scores, 6))) == 3  # the three samples differ
    chosen = alone[int(np.argmin(scores))].frames
    assert np.abs(best.frames.astype(int) - chosen.astype(int)).max() <= 1
    assert np.array_equal(best.frames[:5], clip)  # given frames stay bit-exact
    assert best.metadata["candidates"] == 3
    # candidate 0 is the call's own seed: one candidate is the plain call
    assert np.array_equal(alone[0].frames, plain)


def test_windows_with_no_moving_seam_are_sampled_once(tiny_pipe, monkeypatch):
    import chronotope.pipeline.window as pw

    sizes = []
    real = pw.sample_draws
    monkeypatch.setattr(pw, "sample_draws", lambda t, draws, **kw: sizes.append(len(draws)) or real(t, draws, **kw))  # fmt: skip
    kw = dict(width=64, height=64, seed=0, candidates=4)
    a = tiny_pipe("x", num_frames=5, **kw).frames
    assert sizes == [1]  # text-to-video: nothing given, no seam
    tiny_pipe("x", image=a[0], num_frames=5, **kw)
    assert sizes == [1, 1]  # one given image sets no pace to continue
    tiny_pipe("x", video=a, extend="forward", num_frames=4, **kw)
    assert sizes == [1, 1, 4]  # a given clip in motion meets generated frames
    tiny_pipe("x", num_frames=8, loop=True, **kw)
    assert sizes == [1, 1, 4, 4]  # a loop's circle: its wrap is judged


def test_moving_seams_need_a_given_side_in_motion():
    frames = _ramp(10)
    known = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], bool)
    # seam 3: three moving known frames before it; 7 and 8: a lone known frame (no pace)
    assert seam_positions(known) == [3, 7, 8] and moving_seams(frames, known) == [3]
    held = frames.copy()
    held[:3] = frames[0]  # the same frame three times: a held image sets no pace either
    assert moving_seams(held, known) == []
    after = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], bool)  # given frames after the new ones
    assert moving_seams(frames, after) == [6]


@pytest.mark.parametrize("bad", [0, -1, 2.5, 17])
def test_bad_candidate_counts_are_refused(tiny_pipe, bad):
    with pytest.raises(UsageError, match="candidates"):
        tiny_pipe("x", num_frames=5, width=64, height=64, candidates=bad)


def test_memory_estimate_counts_the_candidates(tiny_pipe):
    one = tiny_pipe.validate_request(width=64, height=64, num_frames=9, candidates=1)
    four = tiny_pipe.validate_request(width=64, height=64, num_frames=9, candidates=4)
    assert four.total > one.total


def test_steps_are_mean_absolute_differences():
    frames = _ramp(3)
    assert np.allclose(steps(frames), 6 / 255.0)


def test_only_calls_that_draw_candidates_count_them_against_the_memory_budget(tiny_pipe):
    """A text-to-video of one window samples once: a model's `seam_candidates` must not refuse
    it (1920x1080 text-to-video fits 16 GiB once, not three times). Where candidates would not
    fit, the model's default draws as many as fit; a count asked for is refused instead."""
    from chronotope.errors import MemoryBudgetError
    from chronotope.pipeline import ChronotopePipeline

    one = tiny_pipe.validate_request(width=64, height=64, num_frames=9, candidates=1).total
    two = tiny_pipe.validate_request(width=64, height=64, num_frames=9, candidates=2).total
    budget = (one + two) / 2 / 1024**3  # room for one sample of the window, not two
    pipe = ChronotopePipeline.from_random(
        seed=0, steps=1, window_frames=17, context_frames=5, memory_budget_gib=budget,
        candidates=3,
    )  # fmt: skip
    kw = dict(width=64, height=64, seed=0)
    out = pipe("x", num_frames=9, **kw)  # one sample: it runs
    assert out.metadata["candidates"] == 1
    clip = out.frames
    assert pipe("x", image=clip[0], num_frames=9, **kw).frames.shape[0] == 9
    ext = pipe("x", video=clip, extend="forward", num_frames=8, **kw)
    assert ext.frames.shape[0] == 17 and ext.metadata["candidates"] == 1  # as many as fit
    with pytest.raises(MemoryBudgetError):  # asked for: three samples of the window
        pipe("x", video=clip, extend="forward", num_frames=8, candidates=3, **kw)
