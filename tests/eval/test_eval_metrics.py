import json

import numpy as np
import pytest

from chronotope.errors import UsageError
from chronotope.eval.check import check, load_thresholds, lower_is_better, margin, suggest
from chronotope.eval.detect import detect
from chronotope.eval.metrics import PSNR_CAP, flicker, frame_psnr
from chronotope.tasks.seams import seam_ratio, wrap_ratio
from chronotope.world import generate_clip


def moving_clip(n=17):
    return generate_clip(
        4, width=64, height=64, num_frames=n, family="single", motion="moves right"
    )


def test_seam_ratio_is_one_for_smooth_motion_and_large_for_a_cut():
    frames = moving_clip().frames
    assert 0.5 < seam_ratio(frames, 8) < 2.0
    other = generate_clip(9, width=64, height=64, num_frames=17, family="single", motion="moves up")
    cut = np.concatenate([frames[:8], other.frames[8:]])
    assert seam_ratio(cut, 8) > 3.0


def test_wrap_ratio_separates_a_loop_from_a_one_way_clip():
    frames = moving_clip().frames
    assert wrap_ratio(frames) > 3.0  # the object is far from where it started
    there_and_back = np.concatenate([frames, frames[-2:0:-1]])
    assert wrap_ratio(there_and_back) < 1.5


def test_flicker_is_zero_on_a_static_background_and_sees_noise():
    frames = moving_clip(9).frames
    assert flicker(frames, detect(frames)) == 0.0
    noisy = frames.astype(np.int16) + np.random.default_rng(0).integers(-8, 9, frames.shape)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    assert flicker(noisy, detect(noisy)) > 0.01


def test_psnr_of_identical_frames_is_capped_and_finite():
    f = moving_clip(1).frames[0]
    assert frame_psnr(f, f) == PSNR_CAP
    assert 10 < frame_psnr(f, np.clip(f.astype(int) + 10, 0, 255).astype(np.uint8)) < 40


def test_check_fails_below_min_and_above_max(tmp_path):
    metrics = {
        "adherence.color": 0.8,
        "physics.velocity_error.model": 0.02,
        "vae.psnr": float("nan"),
    }
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"adherence.color": 0.7, "physics.velocity_error.model": {"max": 0.03}})
    )
    assert check(metrics, load_thresholds(path)) == []
    path.write_text(
        json.dumps({"adherence.color": 0.9, "physics.velocity_error.model": {"max": 0.01}})
    )
    failed = check(metrics, load_thresholds(path))
    assert len(failed) == 2 and failed[0].startswith("adherence.color = 0.8")
    assert check(metrics, {"vae.psnr": {"min": 0.0}})  # NaN never passes
    with pytest.raises(UsageError, match="unmeasured"):
        check(metrics, {"adherence.colour": {"min": 0.5}})
    path.write_text(json.dumps({"adherence.color": "high"}))
    with pytest.raises(UsageError):
        load_thresholds(path)


def test_suggested_thresholds_pass_now_and_a_model_20_percent_worse_fails():
    metrics = {
        "adherence.in_distribution.color": 0.9,
        "adherence.heldout.motion": 0.5,
        "tasks.loop.pass": 1.0,
        "physics.velocity_error.model": 0.02,
        "physics.velocity_error.found": 0.9,
    }
    cases = {"adherence.in_distribution.color": 36, "adherence.heldout.motion": 10}
    cases.update({"tasks.loop.pass": 3, "physics.velocity_error.found": 16})
    t = suggest(metrics, list(metrics), cases)
    # one binomial standard error: sqrt(0.9 * 0.1 / 36) = 0.05
    assert t["adherence.in_distribution.color"] == {"min": pytest.approx(0.85, abs=1e-6)}
    # capped at 15% of the figure: sqrt(0.25 / 10) = 0.158 > 0.075
    assert t["adherence.heldout.motion"] == {"min": pytest.approx(0.425, abs=1e-6)}
    assert t["physics.velocity_error.model"] == {"max": pytest.approx(0.023, abs=1e-5)}
    assert "min" in t["physics.velocity_error.found"]  # found: higher is better
    assert check(metrics, t) == []
    for name in metrics:
        worse = dict(metrics)
        worse[name] = metrics[name] * (1.2 if lower_is_better(name) else 0.8)
        assert check(worse, t), name
    assert margin(1.0, 10) == pytest.approx(0.1)  # a perfect rate allows one case to flip
