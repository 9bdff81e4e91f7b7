"""The whole evaluation end to end on a tiny random pipeline: its figures are poor (it makes
noise), so this checks the structure of what is written and the threshold gate; the metric tests
check values on ground truth."""

import json

import numpy as np
import pytest

from chronotope.cli.main import main
from chronotope.errors import UsageError
from chronotope.eval import sections, tasks
from chronotope.eval.prompts import SETS
from chronotope.eval.subject import Subject, pipeline_subject
from chronotope.eval.suite import EvalConfig, EvalResult
from chronotope.pipeline import ChronotopePipeline, loading
from chronotope.world import generate_clip


@pytest.fixture(scope="module")
def tiny_pipe():
    pipe = ChronotopePipeline.from_random(
        seed=0, steps=1, window_frames=9, context_frames=5, bridge_seconds=0.5
    )
    pipe.register_to_config(width=32, height=32)
    pipe.autocast = False  # fp32: no bf16 kernel warm-up for every new shape (seconds each)
    return pipe


@pytest.fixture(scope="module")
def first_run(tiny_pipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    mp = pytest.MonkeyPatch()
    mp.setattr(loading, "load_pipeline", lambda path=None: tiny_pipe)
    args = ["--quick", "--steps", "1", "--prompts", "1", "--seed", "3"]
    code = main(["eval", "--out", str(out / "a"), *args, "--save-thresholds", str(out / "t.json")])
    yield out, args, mp, code
    mp.undo()


def test_report_files_and_keys(first_run):
    out, _, _, code = first_run
    assert code == 0
    doc = json.loads((out / "a" / "results.json").read_text())
    assert set(doc) >= {"config", "model", "metrics", "rows", "figures", "sheets", "timings"}
    m = doc["metrics"]
    keys = [f"adherence.{s}.{a}" for s in SETS for a in ("color", "shape", "motion", "count")]
    keys += [
        "parse_floor.center_error",
        "physics.velocity_error.model",
        "physics.velocity_error.found",
        "physics.velocity_error.parse_floor",
        "physics.velocity_error.linear",
        "physics.velocity_error.copy_last",
        "physics.velocity_error.direction_median_speed",
        "physics.falls",
        "physics.size_permanence",
        "world.game.action",
        "world.pan.direction",
        "world.collision.bounce",
        "world.occlusion.reappears",
        "tasks.extend_forward.seam_ratio",
        "tasks.extend_forward.pass",
        "tasks.loop.wrap_ratio",
        "tasks.connect.seam_in",
        "tasks.image_to_video.pass",
        "tasks.restyle.layout_error",
        "tasks.pass_rate",
        "video.flicker",
        "vae.psnr",
        "vae.ssim",
        "vae.ceiling.shape",
    ]
    for key in keys:
        assert key in m, key
    # known figures even on a random model: the truth's own references
    assert m["parse_floor.shape_accuracy"] >= 0.95
    assert m["physics.velocity_error.linear"] < m["physics.velocity_error.copy_last"]
    assert (
        m["physics.velocity_error.direction_median_speed"] < m["physics.velocity_error.copy_last"]
    )
    assert doc["model"]["width"] == 32 and doc["config"]["prompts"] == 1
    assert [r["set"] for r in doc["rows"]["adherence"]] == list(SETS)
    for name, fig in doc["figures"].items():
        assert (out / "a" / fig["file"]).is_file() and fig["data"], name
    assert {"adherence_in_distribution", "physics", "tasks"} <= set(doc["sheets"])
    md = (out / "a" / "report.md").read_text()
    html = (out / "a" / "report.html").read_text()
    for text in (md, html):
        assert "velocity error: model" in text and "sheets/adherence_paraphrase.png" in text
        assert "held-out" in text and "saw four of the six" in text


def test_check_passes_saved_thresholds_and_fails_one_above_the_measure(first_run, capsys):
    out, args, _, _ = first_run
    saved = json.loads((out / "t.json").read_text())
    assert "max" in saved["physics.velocity_error.parse_floor"]
    assert all(not k.endswith(".found") or "min" in b for k, b in saved.items())
    measured = json.loads((out / "a" / "results.json").read_text())["metrics"]
    saved["vae.psnr"] = {"min": measured["vae.psnr"] + 1.0}
    (out / "t2.json").write_text(json.dumps(saved))
    capsys.readouterr()
    code = main(["eval", "--out", str(out / "b"), *args, "--check", str(out / "t2.json"), "--json"])
    assert code == 1
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["checks"]) == 1 and printed["checks"][0].startswith("vae.psnr")
    assert printed["metrics"] == measured  # same seed, same figures: the gate is reproducible


def test_bad_arguments_exit_2(first_run, tmp_path, capsys):
    assert main(["eval", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path), "--falling-cases", "0"]) == 2
    assert "--falling-cases must be >= 1" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path), "--early-guidance", "-1"]) == 2
    assert "--early-guidance must be >= 0" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path), "--seed", "1000"]) == 2
    assert "--seed must be in [0, 1000)" in capsys.readouterr().err


def test_case_counts_reach_the_config():
    from chronotope.cli.eval import _config
    from chronotope.cli.main import build_parser

    def cfg(*argv):
        return _config(build_parser().parse_args(["eval", "--out", "x", *argv]))

    assert cfg("--falling-cases", "3", "--physics-cases", "5").falling_cases == 3
    assert cfg("--physics-cases", "5").physics_cases == 5
    assert cfg("--quick", "--falling-cases", "2").falling_cases == 2
    assert cfg("--quick").falling_cases == 4 and cfg().falling_cases == 12
    assert cfg("--quick").prompts == 10 and cfg("--world-cases", "3").world_cases == 3
    assert cfg("--early-guidance", "2").early_guidance == 2.0 and cfg().early_guidance is None


def test_long_video_and_backward_extension_checks(tiny_pipe):
    def gen(prompt, **kw):
        return tiny_pipe(prompt, steps=1, seed=0, width=32, height=32, **kw).frames

    clip = generate_clip(1, width=32, height=32, num_frames=9, family="single")
    back = tasks.extend_backward(gen, clip, 5, 5)
    assert np.array_equal(back["frames"][5:], clip.frames[-5:])
    assert back["frames"].shape == (10, 32, 32, 3) and "seam_ratio" in back
    still = generate_clip(
        2, width=32, height=32, num_frames=13, family="single", motion="stays still"
    )
    long = tasks.long_video(gen, still)  # window: 9
    assert long["frames_out"] == 13 and 0.0 <= long["detection_rate"] <= 1.0
    assert tasks.long_video(lambda p, **kw: still.frames, still)["detection_rate"] == 1.0
    with pytest.raises(UsageError, match="unknown task"):
        EvalConfig(tasks=("extend_sideways",))


def test_task_checks_over_several_cases_report_medians_and_pass_fractions(tiny_pipe):
    cfg = EvalConfig(steps=1, seconds=1.0, task_cases=3, tasks=("extend_forward", "connect"))
    subject = pipeline_subject(tiny_pipe)
    r = sections.Runner(subject, cfg, EvalResult(config={}, model={}))
    cases = [sections._task_case(r, i, 1) for i in range(3)]
    r = sections.Runner(subject, cfg, EvalResult(config={}, model={}))  # the same seeds again
    sections.tasks_section(r)
    m = r.res.metrics
    ratios = sorted(c["extend_forward"]["seam_ratio"] for c in cases)
    assert m["tasks.extend_forward.seam_ratio"] == pytest.approx(ratios[1])  # the median
    passes = [c["connect"]["pass"] for c in cases]
    assert m["tasks.connect.pass"] == pytest.approx(sum(passes) / 3)
    assert [row["cases"] for row in r.res.rows["tasks"]] == [3, 3]
    assert r.res.cases["tasks.connect.pass"] == 3 and r.res.cases["tasks.pass_rate"] == 6
    assert m["tasks.pass_rate"] == pytest.approx(
        (m["tasks.extend_forward.pass"] + m["tasks.connect.pass"]) / 2
    )


def test_tasks_are_judged_on_one_sample_and_the_default_is_its_own_row(tiny_pipe):
    seen = []

    def generate(prompt, **kw):
        seen.append(kw.get("candidates", "default"))
        return tiny_pipe(prompt, **kw).frames

    subject = Subject(generate=generate, width=32, height=32, fps=8.0, window_frames=9)
    cfg = EvalConfig(steps=1, seconds=1.0, task_cases=1, tasks=("extend_forward",))
    r = sections.Runner(subject, cfg, EvalResult(config={}, model={}))
    sections.tasks_section(r)
    assert seen == [1, "default"]  # one sample for the figures, then the pipeline's own K
    assert "tasks.extend_forward.pass" in r.res.metrics
    assert "tasks_default.extend_forward.pass" in r.res.metrics
