"""The long-video drift check: its windows are the pipeline's own, the world's own clips pass it,
and a brightness ramp, a fading saturation, a lost object and a jump at a join each fail it."""

import numpy as np
import pytest

from chronotope.eval import long_video as lv
from chronotope.eval.sections import Runner
from chronotope.eval.subject import Subject
from chronotope.eval.suite import EvalConfig, EvalResult
from chronotope.pipeline import ChronotopePipeline
from chronotope.world.clip import render_clip

W, H, FPS = 32, 32, 8.0  # small frames: the detector is the cost
SPANS = lv.window_spans(121, 33, 9, 4)  # the bundled model's windows over 15 s


@pytest.fixture(scope="module")
def world():
    """The world's own clip of the first long-video prompt, 15 s (121 frames)."""
    case = lv.long_cases(1, seed=0, width=W, height=H)[0]
    clip = render_clip(case.prompt.spec, num_frames=121, fps=FPS, caption=case.prompt.text)
    return clip.frames, case.color


@pytest.mark.parametrize(("window", "context", "frames"), [(17, 5, 45), (17, 9, 41)])
def test_windows_are_the_pipelines_own(window, context, frames):
    pipe = ChronotopePipeline.from_random(
        seed=0, steps=1, window_frames=window, context_frames=context
    )
    chunks = []
    pipe("a red circle", width=32, height=32, num_frames=frames, seed=0, frame_sink=chunks.append)
    spans = lv.window_spans(frames, window, context, pipe.ft)
    assert [b - a for a, b in spans] == [len(c) for c in chunks]
    assert spans[0][0] == 0 and spans[-1][1] == frames
    assert all(a == b0 for (_, b0), (a, _) in zip(spans, spans[1:]))  # contiguous


def test_the_worlds_own_clip_meets_the_floor(world):
    frames, color = world
    got = lv.measure(frames, SPANS, color)
    assert got["windows"] == 5 and len(got["joins"]) == 4
    assert got["presence"] == 1.0 and got["object_size_drift"] == 0.0
    assert all(abs(got[f"{k}_drift"]) < 1e-3 for k in lv.FIGURES)
    assert got["join_ratio"] <= lv.JOIN_MAX and got["pass"]


def test_a_brightness_ramp_is_measured_and_fails(world):
    frames, color = world
    ramp = np.linspace(1.0, 0.85, len(frames))[:, None, None, None]
    dim = np.round(frames * ramp).astype(np.uint8)
    got = lv.measure(dim, SPANS, color)
    # the oracle: luma scales with the frames, so the drift is the ratio of the windows' ramps
    (a0, b0), (a1, b1) = SPANS[0], SPANS[-1]
    expected = ramp[a1:b1].mean() / ramp[a0:b0].mean() - 1
    assert got["brightness_drift"] == pytest.approx(expected, abs=0.01)
    assert got["contrast_drift"] == pytest.approx(expected, abs=0.01)
    assert abs(got["saturation_drift"]) < 0.01  # a uniform scale keeps HSV saturation
    assert got["brightness_drift"] < -lv.DRIFT_MAX and not got["pass"]
    gentle = np.round(frames * np.linspace(1.0, 0.98, len(frames))[:, None, None, None])
    got = lv.measure(gentle.astype(np.uint8), SPANS, color)
    assert all(abs(got[f"{k}_drift"]) <= lv.DRIFT_MAX for k in lv.FIGURES)  # 2% is within


def test_fading_color_fails_on_saturation(world):
    frames, color = world
    x = frames.astype(np.float32)
    gray = x.mean(axis=-1, keepdims=True)
    fade = np.linspace(0.0, 0.5, len(frames))[:, None, None, None]
    got = lv.measure(np.round(x + fade * (gray - x)).astype(np.uint8), SPANS, color)
    assert got["saturation_drift"] < -0.2 and not got["pass"]


def test_a_lost_object_is_counted_per_frame(world):
    frames, color = world
    gone = frames.copy()
    gone[100:] = frames[0, :1, :1]  # the top-left pixel's color: background, no object
    got = lv.measure(gone, SPANS, color)
    assert got["presence"] == pytest.approx(100 / 121)
    assert np.isnan(got["object_size_drift"])  # none in the last window: no size to compare
    assert not got["pass"]


def test_a_jump_at_a_join_is_found():
    t = 121
    x = np.linspace(0, 1, W)[None, None, :, None] * np.ones((t, H, W, 3))
    drift = np.arange(t)[:, None, None, None] * 0.5  # a steady pan: equal steps
    join = SPANS[2][0]
    drift[join:] += 3.0  # the window after the third join starts 6 steps further on
    frames = np.round(x * 150 + drift).astype(np.uint8)
    ratios = lv.join_ratios(frames, SPANS)
    assert ratios[1] > 4 and all(0.5 < r < 1.5 for i, r in enumerate(ratios) if i != 1)
    assert lv.measure(frames, SPANS, "red")["join_ratio"] == pytest.approx(ratios[1])


def test_the_section_runs_in_the_eval_and_judges_a_fading_model():
    """The section end to end on two stand-ins: the world itself, and the world fading."""
    cases = {c.prompt.text: c.prompt.spec for c in lv.long_cases(2, seed=0, width=W, height=H)}

    def world(prompt, *, num_frames, fade=0.0, **kw):
        spec = cases[prompt]
        frames = render_clip(spec, num_frames=num_frames, fps=FPS, caption=prompt).frames
        ramp = np.linspace(1.0, 1.0 - fade, num_frames)[:, None, None, None]
        return np.round(frames * ramp).astype(np.uint8)

    cfg = EvalConfig(
        prompts=1,
        physics_cases=1,
        falling_cases=1,
        world_cases=1,
        task_cases=1,
        tasks=("extend_forward",),
        default_candidates=False,
        floor_clips=1,
        long_video_cases=2,
        long_video_seconds=8.0,
    )
    for fade, passes in ((0.0, 1.0), (0.3, 0.0)):
        subject = Subject(
            generate=lambda p, fade=fade, **kw: world(p, fade=fade, **kw),
            width=W,
            height=H,
            fps=FPS,
            window_frames=33,
        )
        res = EvalResult(config={}, model={})
        lv.section(Runner(subject, cfg, res))
        m = res.metrics
        assert m["long_video.pass"] == passes
        assert m["long_video.presence.truth"] == 1.0
        assert (m["long_video.presence"] == 1.0) == (fade == 0)  # a dimmed object leaves its color
        assert (m["long_video.brightness_drift"] > lv.DRIFT_MAX) == (fade > 0)
        assert res.cases["long_video.pass"] == 2 and len(res.rows["long_video"]) == 2
        assert m["long_video.windows"] == len(lv.window_spans(65, 33, 9, 4))


def test_the_cli_runs_it_in_the_full_eval_only():
    from chronotope.cli.eval import _config
    from chronotope.cli.main import build_parser
    from chronotope.errors import UsageError

    def config(*flags):
        return _config(build_parser().parse_args(["eval", "--out", "x", *flags]))

    assert config().long_video_cases == 2 and config("--quick").long_video_cases == 0
    assert config("--long-video-cases", "0").long_video_cases == 0
    with pytest.raises(UsageError, match="--long-video-cases"):
        config("--long-video-cases", "-1")
