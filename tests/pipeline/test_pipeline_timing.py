"""Time told before the work: the estimate's arithmetic, its cached calibration, the plan it
costs (against the windows a call really samples), the progress of the whole call, and the
time budget refused before the transformer runs or any weight loads."""

import dataclasses

import numpy as np
import pytest
import torch

from chronotope.cli.main import main
from chronotope.pipeline import timing
from chronotope.pipeline.timing import Calibration, TimeBudgetError, calibration, dry_windows
from chronotope.tasks.request import GenerationRequest, resolve

FIXED = Calibration(forward=(1.0, 0.01, 0.001), decode=(0.5, 1e-5), encode=(0.25, 2e-5))


@pytest.fixture
def fixed(monkeypatch):
    monkeypatch.setattr(timing, "calibration", lambda pipe, **kw: FIXED)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(timing.CACHE_ENV, str(tmp_path / "cache"))


def test_estimate_is_steps_times_forward_plus_decode(tiny_pipe, fixed):
    """Text-to-video, 9 frames at 64x64: 3 latent frames of (64/8/2)^2 = 16 tokens, packed
    with their unconditional copy (guidance 4), one forward per Euler step, one decode."""
    r = resolve(GenerationRequest("x", width=64, height=64, num_frames=9), tiny_pipe.defaults)
    est = timing.CallCost(tiny_pipe, r).estimate()
    steps = tiny_pipe.sampling.steps
    forward = 1.0 + 0.01 * 48 * 2 + 0.001 * 48 * 48 * 2
    assert est.transformer == pytest.approx(steps * forward)
    assert est.autoencoder == pytest.approx(0.5 + 1e-5 * 9 * 64 * 64)
    assert (est.windows, est.steps) == (1, steps)
    heun = dataclasses.replace(r, sampling=dataclasses.replace(r.sampling, solver="heun"))
    assert timing.CallCost(tiny_pipe, heun).estimate().transformer == pytest.approx(
        2 * est.transformer
    )


def test_estimate_grows_with_size_and_names_a_tenth(tiny_pipe, fixed):
    r = resolve(GenerationRequest("x", width=512, height=256, num_frames=9), tiny_pipe.defaults)
    cost = timing.CallCost(tiny_pipe, r)
    big, small = cost.estimate(), cost.estimate((256, 128))
    assert big.total > 3 * small.total  # attention is quadratic in the tokens
    w, h = cost.tenth_size(big)
    assert cost.estimate((w, h)).total <= big.total / 10 < cost.estimate((w + 16, h + 16)).total
    assert w / h == pytest.approx(2, rel=0.25)  # the output's aspect ratio
    assert f"at {w}x{h} it would take about a tenth" in cost.message(big)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_frames=41),  # a long video: windows of 17 with a context of 5
        dict(video="clip", extend="backward", num_frames=24),
        dict(video="long", strength=0.5),  # a restyle longer than a window
        dict(connect=("clip", "clip"), num_frames=8, transition="dissolve"),
        dict(image="frame", loop=True, num_frames=9),  # the bridge back closes it
    ],
)
def test_dry_plan_has_the_windows_the_call_samples(tiny_pipe, monkeypatch, kwargs):
    from chronotope.pipeline import window as window_module

    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    given = {"clip": clip, "long": np.concatenate([clip] * 4), "frame": clip[0]}
    kwargs = {
        k: (tuple(given[x] for x in v) if isinstance(v, tuple) else given.get(v, v))
        if k in ("video", "image", "connect")
        else v
        for k, v in kwargs.items()
    }
    request = GenerationRequest("x", width=64, height=64, seed=1, candidates=2, **kwargs)
    call = tiny_pipe.prepare(request)
    sampled = []
    real = window_module.sample_draws
    monkeypatch.setattr(
        window_module,
        "sample_draws",
        lambda t, draws, **kw: sampled.append(len(draws)) or real(t, draws, **kw),
    )
    tiny_pipe.run(call)
    planned = dry_windows(call.resolved, tiny_pipe.grid_multiple)
    assert len(planned) == len(sampled) == call.time.windows
    assert all(p.draws >= s for p, s in zip(planned, sampled))  # candidates: an upper bound


def test_one_progress_over_every_window(tiny_pipe):
    seen = []
    out = tiny_pipe(
        "x", width=64, height=64, num_frames=41, seed=0, callback=lambda i, n: seen.append((i, n))
    )
    total = out.estimate.windows * tiny_pipe.sampling.steps
    assert out.estimate.windows == 3 and seen == [(i, total) for i in range(1, total + 1)]


def test_calibration_is_cached_and_reused(tiny_pipe, tmp_path):
    measured = []

    def measure(pipe):
        measured.append(1)
        return FIXED

    assert calibration(tiny_pipe, measure=measure) == FIXED
    assert timing.cache_path().parent == tmp_path / "cache" and timing.cache_path().is_file()
    assert calibration(tiny_pipe, measure=measure) == FIXED and len(measured) == 1
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # another thread count: another calibration
    try:
        calibration(tiny_pipe, measure=measure)
    finally:
        torch.set_num_threads(threads)
    assert len(measured) == 2
    assert calibration(tiny_pipe, measure=measure) == FIXED and len(measured) == 2


def test_measured_calibration_is_positive_and_leaves_the_rng(tiny_pipe):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    calib = timing.measure_calibration(tiny_pipe)
    assert torch.equal(torch.rand(3), expected)  # the global generator as it was
    assert calib.forward_s(1024, 2) > calib.forward_s(128, 2) > 0
    assert calib.decode_s(10**6) > calib.decode_s(10**3) > 0
    assert calib.encode_s(10**6) > calib.encode_s(10**3) > 0


@pytest.mark.parametrize("point, factor", [(0, 1.3), (1, 0.8), (2, 1.3), (3, 0.9)])
def test_forward_fit_recovers_its_law_and_one_noisy_time_barely_moves_a_large_call(point, factor):
    """Exact times give back the coefficients; one time off by 10-30% (other work on the core
    while it was measured) moves the estimate of a 1920x1080 clip's step (two segments of
    40,800 tokens, 1,600x the largest point's attention) by at most 15%. The three-point fit
    this replaced moved it 1.7x when the 1024-token time was 30% long."""
    truth = (0.02, 1.5e-4, 1.5e-7)  # the bundled DiT on one AVX-512 thread, about
    times = [truth[0] + truth[1] * n * s + truth[2] * n * n * s for n, s in timing.FORWARD_POINTS]
    assert np.allclose(timing._fit_forward(times), truth, rtol=1e-6)
    times[point] *= factor
    fit = Calibration(timing._fit_forward(times), (0.0, 0.0), (0.0, 0.0))
    exact = Calibration(truth, (0.0, 0.0), (0.0, 0.0))
    assert min(fit.forward) >= 0
    assert 0.85 <= fit.forward_s(40_800, 2) / exact.forward_s(40_800, 2) <= 1.15


def test_time_budget_refuses_before_the_transformer_runs(tiny_pipe, fixed):
    calls = []
    hook = tiny_pipe.transformer.register_forward_pre_hook(lambda *a: calls.append(1))
    tiny_pipe.time_budget_s = 1.0
    try:
        with pytest.raises(TimeBudgetError, match="over the time budget of 1.0 s"):
            tiny_pipe("x", width=64, height=64, num_frames=9, seed=0)
        assert calls == []
        tiny_pipe.time_budget_s = None
        tiny_pipe("x", width=64, height=64, num_frames=1, seed=0, steps=1)
        assert calls  # the spy sees a call that runs
    finally:
        tiny_pipe.time_budget_s = None
        hook.remove()


def test_cli_time_budget_refuses_before_any_weight_loads(tiny_pipe, tmp_path, capsys):
    """The folder's transformer weights are garbage: loading them fails (the control), so a
    refusal that names the time budget was made before they were read."""
    model = tmp_path / "model"
    tiny_pipe.save_pretrained(model)
    (model / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    out = tmp_path / "a.mp4"
    args = ["generate", "--model", str(model), "--prompt", "x", "--out", str(out)]
    assert main([*args, "--frames", "9"]) == 2
    assert "diffusion_pytorch_model.safetensors" in capsys.readouterr().err  # the control
    assert main([*args, "--frames", "9", "--time-budget", "1e-9"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "over the time budget" in err
    assert "safetensors" not in err and not out.exists()
    assert main([*args, "--time-budget", "0"]) == 2
    assert "--time-budget must be a number > 0" in capsys.readouterr().err


def test_cli_tells_a_long_call_before_it_starts(tiny_pipe, tmp_path, capsys, monkeypatch):
    slow = Calibration(forward=(10.0, 0.0, 0.0), decode=(0.0, 0.0), encode=(0.0, 0.0))
    monkeypatch.setattr(timing, "calibration", lambda pipe, **kw: slow)
    model = tmp_path / "model"
    tiny_pipe.save_pretrained(model)
    out = tmp_path / "a.mp4"
    args = ["--model", str(model), "--prompt", "x", "--out", str(out), "--frames", "9"]
    assert main(["generate", *args, "--steps", "7", "--quiet"]) == 0  # 70 s: told
    err = capsys.readouterr().err
    assert "estimated time on this machine" in err and ": 70 s (transformer 70 s" in err
    assert main(["generate", *args, "--steps", "5", "--quiet"]) == 0  # 50 s: not told
    assert "estimated time" not in capsys.readouterr().err


@pytest.mark.parametrize("task", [dict(extend="forward", num_frames=16), dict(strength=0.5)])
def test_estimate_without_fitting_equals_the_prepared_calls(tiny_pipe, fixed, task):
    """`pipe.estimate` (the server's: conditions by their length, nothing scaled) gives the
    prepared call's estimate (its conditions read and fitted to the output size)."""
    clip = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
    request = GenerationRequest("x", video=clip, width=112, height=64, seed=0, **task)
    blank = dataclasses.replace(request, video=np.zeros((30, 16, 16, 3), np.uint8))
    expected = tiny_pipe.prepare(request).time
    assert tiny_pipe.estimate(blank) == expected
    assert tiny_pipe.estimate(request).total == expected.total
