"""The whole evaluation end to end on a tiny random pipeline: its figures are poor (it makes
noise), so this checks the structure of what is written and the threshold gate; the metric tests
check values on ground truth."""

import json

import pytest

from chronotope.cli.main import main
from chronotope.errors import UsageError
from chronotope.eval import tasks
from chronotope.eval.suite import EvalConfig
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
    for key in (
        "parse_floor.center_error",
        "adherence.color",
        "adherence.heldout.shape",
        "adherence.pair.count",
        "physics.velocity_error.model",
        "physics.velocity_error.parse_floor",
        "physics.velocity_error.linear",
        "physics.velocity_error.copy_last",
        "physics.falls_accelerate",
        "physics.reappears",
        "physics.size_permanence",
        "tasks.extend_forward.seam_ratio",
        "tasks.extend_forward.given_exact",
        "tasks.loop.wrap_ratio",
        "tasks.connect.seam_in",
        "tasks.image_to_video.first_frame_psnr",
        "tasks.restyle.layout_error",
        "video.flicker",
        "vae.psnr",
        "vae.ssim",
        "vae.ceiling.shape",
    ):
        assert key in m, key
    # known figures even on a random model: the truth's own references and bit-exact conditions
    assert m["parse_floor.shape_accuracy"] >= 0.95
    assert m["physics.velocity_error.linear"] < m["physics.velocity_error.copy_last"]
    assert m["tasks.extend_forward.given_exact"] == 1.0
    assert m["tasks.image_to_video.first_frame_psnr"] == 100.0
    assert doc["model"]["width"] == 32 and doc["config"]["prompts"] == 1
    assert [r["kind"] for r in doc["rows"]["adherence"]] == ["single", "pair", "heldout", "heldout"]
    for name, fig in doc["figures"].items():
        assert (out / "a" / fig["file"]).is_file() and fig["data"], name
    assert {"adherence", "physics", "tasks"} <= set(doc["sheets"])
    md = (out / "a" / "report.md").read_text()
    html = (out / "a" / "report.html").read_text()
    for text in (md, html):
        assert "velocity error: model" in text and "sheets/adherence.png" in text


def test_check_passes_saved_thresholds_and_fails_one_above_the_measure(first_run, capsys):
    out, args, _, _ = first_run
    saved = json.loads((out / "t.json").read_text())
    assert "adherence.color" in saved and "max" in saved["physics.velocity_error.parse_floor"]
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


def test_case_counts_reach_the_config():
    from chronotope.cli.eval import _config
    from chronotope.cli.main import build_parser

    def cfg(*argv):
        return _config(build_parser().parse_args(["eval", "--out", "x", *argv]))

    assert cfg("--falling-cases", "3", "--physics-cases", "5").falling_cases == 3
    assert cfg("--physics-cases", "5").physics_cases == 5
    assert cfg("--quick", "--falling-cases", "2").falling_cases == 2
    assert cfg("--quick").falling_cases == 1 and cfg().falling_cases == 8
    assert cfg("--early-guidance", "2").early_guidance == 2.0 and cfg().early_guidance is None


def test_long_video_and_backward_extension_checks(tiny_pipe):
    def gen(prompt, **kw):
        return tiny_pipe(prompt, steps=1, seed=0, width=32, height=32, **kw).frames

    clip = generate_clip(1, width=32, height=32, num_frames=9, family="single")
    back = tasks.extend_backward(gen, clip, 5, 5)
    assert back["given_exact"] and back["frames"].shape == (10, 32, 32, 3)
    still = generate_clip(
        2, width=32, height=32, num_frames=13, family="single", motion="stays still"
    )
    long = tasks.long_video(gen, still)  # window: 9
    assert long["frames_out"] == 13 and 0.0 <= long["detection_rate"] <= 1.0
    assert long["detection_rate_truth"] == 1.0  # the world's own still object is always found
    with pytest.raises(UsageError, match="unknown task"):
        EvalConfig(tasks=("extend_sideways",))


def test_task_checks_over_several_cases_report_medians_and_pass_fractions(tiny_pipe):
    from chronotope.eval import suite

    cfg = EvalConfig(steps=1, seconds=1.0, task_cases=3, tasks=("extend_forward", "connect"))
    r = suite._Runner(tiny_pipe, cfg, lambda s: None)
    cases = [suite._task_case(r, i) for i in range(3)]
    r = suite._Runner(tiny_pipe, cfg, lambda s: None)  # same seeds again: the same figures
    suite._tasks(r)
    m = r.res.metrics
    ratios = sorted(c["extend_forward"]["seam_ratio"] for c in cases)
    assert m["tasks.extend_forward.seam_ratio"] == pytest.approx(ratios[1])  # the median
    passes = [c["connect"]["pass"] for c in cases]
    assert m["tasks.connect.pass"] == pytest.approx(sum(passes) / 3)
    assert m["tasks.extend_forward.given_exact"] == 1.0
    assert [row["cases"] for row in r.res.rows["tasks"]] == [3, 3]
    # each case's own figures, in results.json order: task by task, case by case
    per_case = r.res.rows["task_cases"]
    assert [(row["task"], row["case"]) for row in per_case] == [
        (t, i) for t in ("extend_forward", "connect") for i in range(3)
    ]
    assert [row["motion"] for row in per_case[:3]] == ["moves right", "moves left", "moves down"]
    assert [row["seam_ratio"] for row in per_case[:3]] == [
        c["extend_forward"]["seam_ratio"] for c in cases
    ]
    assert [row["pass"] for row in per_case[3:]] == [bool(p) for p in passes]
    json.dumps(per_case)  # plain JSON values
    assert m["tasks.pass_rate"] == pytest.approx(
        (m["tasks.extend_forward.pass"] + m["tasks.connect.pass"]) / 2
    )


def test_connect_check_prompts_with_both_scenes(tiny_pipe):
    """The connect output shows clip A, then clip B: its prompt names the objects of both."""
    import numpy as np

    from chronotope.eval import suite
    from chronotope.world.captions import parse_prompt

    cfg = EvalConfig(steps=1, seconds=1.0, task_cases=2, tasks=("connect",))
    r = suite._Runner(tiny_pipe, cfg, lambda s: None)
    seen = []

    def gen(prompt, *, connect, num_frames, **kw):
        seen.append(prompt)
        a, b = connect
        return np.concatenate([a, np.repeat(a[-1:], num_frames - 1, 0), b])

    r.gen = gen
    for i in range(2):
        suite._task_case(r, i)
        length = max(r.frames_for(cfg.seconds), cfg.cond_frames + 1)
        motion_a, motion_b = suite._TASK_MOTIONS[i]
        a = r.world(suite.HELDOUT_SEED + 400 + 2 * i, length, family="single", motion=motion_a)
        b = r.world(suite.HELDOUT_SEED + 401 + 2 * i, length, family="single", motion=motion_b)
        named = [(o["color"], o["shape"], o["motion"]) for o in parse_prompt(seen[i])["objects"]]
        want = [(o.color, o.shape, o.motion) for o in (a.spec.objects[0], b.spec.objects[0])]
        assert named == want, (seen[i], want)
