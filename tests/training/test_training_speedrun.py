"""`chronotope train --preset world-speedrun`: both cores by itself (two ranks it starts), the
wall clock over the whole run, an exact resume, and an export that holds only the DiT."""

import json

from safetensors.torch import load_file

from chronotope.cli.main import main
from chronotope.model import DiT
from chronotope.training import get_preset

TINY = [
    "--sizes", "16x16", "--seconds", "0.5,1.0", "--width", "32", "--depth", "1",
    "--heads", "1", "--token-budget", "256", "--buffer-size", "8", "--world-clips", "8",
    "--warmup-steps", "0", "--lr-schedule", "constant", "--checkpoint-every", "2",
    "--sample-every", "0", "--no-progress",
]  # fmt: skip


def train(out, *argv) -> int:
    return main(["train", "--preset", "world-speedrun", "--out", str(out), *TINY, *argv])


def test_the_preset_is_the_baseline_recipe_on_two_ranks_for_an_hour_with_the_levers_that_won():
    preset, base = get_preset("world-speedrun"), get_preset("world-tiny")
    assert preset.ranks == 2 and preset.minutes == 60.0
    won = dict(lr_schedule="wsd", world_clips=1500, seconds=(1.0, 4.0))  # docs/experiments.md
    assert all(getattr(preset, k) == v != getattr(base, k) for k, v in won.items())
    undone = {k: getattr(base, k) for k in won}
    assert preset.override(ranks=1, minutes=None, out=base.out, **undone) == base


def test_two_ranks_train_resume_exactly_and_export_only_the_dit(tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, "--steps", "4") == 0
    assert train(resumed, "--steps", "2") == 0
    assert train(resumed, "--steps", "4") == 0  # the same command, a longer run: it resumes
    weights = [load_file(d / "final/transformer/diffusion_pytorch_model.safetensors")
               for d in (straight, resumed)]  # fmt: skip
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    info = json.loads((straight / "final/training.json").read_text())
    assert info["step"] == 4 and info["config"]["ranks"] == 2
    model = tmp_path / "model"
    assert main(["export", str(straight / "final"), "--out", str(model)]) == 0
    exported = load_file(model / "transformer/diffusion_pytorch_model.safetensors")
    fresh = DiT.from_config(DiT.load_config(model / "transformer"))
    assert set(exported) == set(fresh.state_dict())  # no training-only parameter


def test_minutes_count_the_whole_run(tmp_path):
    out = tmp_path / "run"
    assert train(out, "--steps", "2", "--ranks", "1", "--snapshots", "0.0001") == 0
    snap = json.loads((out / "at-0.0001min/training.json").read_text())  # a time-to-quality point
    assert snap["step"] == 1 and snap["elapsed_s"] >= 0.006
    assert (out / "at-0.0001min/transformer/config.json").is_file()
    meta = json.loads(next((out / "checkpoints").glob("step-*/meta.json")).read_text())
    assert meta["elapsed_s"] > 0
    # a budget the first command already spent: the resumed run stops after one more step
    spent = meta["elapsed_s"] / 60 * 0.5
    assert train(out, "--steps", "50", "--ranks", "1", "--minutes", f"{spent}") == 0
    info = json.loads((out / "final/training.json").read_text())
    assert info["step"] == 3
