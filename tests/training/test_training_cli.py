import json

import pytest
import torch

from chronotope.cli.main import build_parser, main
from chronotope.cli.train import config_from_args
from chronotope.training import EMA, TRAIN_PRESETS, get_preset, lr_at


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--lr", "-1"], "--lr"),
        (["--token-budget", "4"], "--token-budget"),
        (["--caption-dropout", "1.5"], "--caption-dropout"),
        (["--lr-schedule", "linear"], "--lr-schedule"),
        (["--patch", "1,2"], "--patch"),
        (["--shift-base-tokens", "9000"], "base_tokens"),
        (["--task-first", "-0.5"], "task probabilities"),
        (["--model", "huge"], "DiT preset"),
        (["--vae", "/no/such/dir"], "--vae"),
        (["--sizes", "64x64", "--token-budget", "100"], "--token-budget must be >= 5120"),
        (["--world-families", "single=1,puzzle=2"], "--world-families: unknown scene family"),
    ],
)
def test_bad_values_exit_2_with_one_line(argv, flag, tmp_path, capsys):
    assert main(["train", "--preset", "test", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and flag in err, err


@pytest.mark.parametrize(
    "argv",
    [["--no-such-flag", "1"], ["--steps", "ten"], ["--sizes", "64"], ["--world-families", "pair"]],
)
def test_unknown_flags_and_unparsable_values_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", *argv])
    assert e.value.code == 2


def test_flags_override_exactly_the_fields_given():
    args = build_parser().parse_args(
        [
            "train",
            "--preset",
            "test",
            "--lr",
            "0.01",
            "--sizes",
            "16x8",
            "8x16",
            "--shift-max-shift",
            "5",
            "--no-progress",
            "--sample-prompts",
            "a",
            "b c",
            "--world-families",
            "single=0.4,pair=0.6",
        ]
    )
    cfg = config_from_args(args)
    base = TRAIN_PRESETS["test"]
    expected = base.override(
        lr=0.01,
        sizes=((16, 8), (8, 16)),
        progress=False,
        sample_prompts=("a", "b c"),
        world_families=(("single", 0.4), ("pair", 0.6)),
        shift=type(base.shift)(**{**vars(base.shift), "max_shift": 5.0}),
    )
    assert cfg == expected


def test_config_round_trips_through_json():
    mixed = TRAIN_PRESETS["test"].override(world_families=(("pair", 2.0), ("game", 1.0)))
    for cfg in [*TRAIN_PRESETS.values(), mixed]:
        assert type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_lr_schedule_warmup_then_cosine_to_the_floor():
    cfg = get_preset("world-tiny").override(steps=1000, warmup_steps=100, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(1e-5)
    assert lr_at(cfg, 99) == pytest.approx(1e-3)
    assert lr_at(cfg, 550) == pytest.approx(0.55e-3)  # halfway down the cosine
    assert lr_at(cfg, 1000) == pytest.approx(1e-4)
    assert lr_at(cfg.override(lr_schedule="constant"), 900) == 1e-3


def test_wsd_holds_then_cools_down_by_steps_or_by_wall_time():
    cfg = get_preset("world-tiny").override(
        steps=1000, warmup_steps=100, lr=1e-3, min_lr_ratio=0.0, lr_schedule="wsd", cooldown=0.5
    )
    assert lr_at(cfg, 99) == pytest.approx(1e-3)
    assert lr_at(cfg, 550) == pytest.approx(1e-3)  # the stable half ends at progress 0.5
    assert lr_at(cfg, 775) == pytest.approx(0.5e-3)  # halfway down the linear decay
    assert lr_at(cfg, 1000) == pytest.approx(0.0)
    timed = cfg.override(minutes=10.0)
    assert lr_at(timed, 200, elapsed_s=450.0) == pytest.approx(0.5e-3)  # 75% of 10 min
    assert lr_at(timed, 200, elapsed_s=600.0) == pytest.approx(0.0)
    assert lr_at(timed, 775, elapsed_s=30.0) == pytest.approx(0.5e-3)  # steps further along
    assert lr_at(cfg, 200, elapsed_s=1e9) == pytest.approx(1e-3)  # no minutes: steps only


def test_ema_tracks_with_warmup_decay():
    model = torch.nn.Linear(2, 1, bias=False)
    ema = EMA(model, decay=0.9)
    w0 = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(step=0)  # warmup decay min(0.9, 1/10) = 0.1
    torch.testing.assert_close(ema.state_dict()["weight"], w0 + 0.9)
    ema.update(step=1000)  # decay 0.9 now
    torch.testing.assert_close(ema.state_dict()["weight"], w0 + 0.9 + 0.1 * 0.1)


def test_cli_trains_a_tiny_model_on_the_world_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--preset",
        "test",
        "--out",
        str(out),
        "--steps",
        "3",
        "--sizes",
        "16x16",
        "--depth",
        "1",
        "--token-budget",
        "512",
    ]
    assert main(argv) == 0
    assert (out / "final" / "transformer" / "config.json").is_file()
    assert len((out / "log.csv").read_text().splitlines()) >= 2
    assert list((out / "tb").glob("events.*"))
    assert "final model in" in capsys.readouterr().out
    # a second invocation resumes from the checkpoint at step 3 and has nothing left to do
    assert main(argv) == 0
    assert "resuming from" in capsys.readouterr().out


def test_prepare_shard_fills_its_share_of_the_pool_and_trains_nothing(tmp_path, capsys):
    argv = ["train", "--preset", "test", "--out", str(tmp_path), "--world-clips", "4"]
    assert main([*argv, "--prepare-shard", "1/2"]) == 0
    (folder,) = (tmp_path / "latents").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "00000001.safetensors",
        "00000003.safetensors",
    ]
    assert "encoded 2" in capsys.readouterr().out
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "final").exists()
    assert main([*argv, "--prepare-shard", "0/1"]) == 0  # the rest, and only the rest
    assert "encoded 2" in capsys.readouterr().out and len(list(folder.iterdir())) == 4
    assert main([*argv, "--world-clips", "0", "--prepare-shard", "0/1"]) == 2
    assert "--world-clips" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--prepare-shard", "2/2"])
