import math

import numpy as np
import pytest
import torch

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.evaluate import reconstruct_file, valid_frames, write_video_chunks
from chronotope.autoencoder.metrics import psnr, ssim
from chronotope.cli.main import main
from chronotope.data.video_io import read_video


def test_psnr_and_ssim_values():
    x = torch.rand(3, 2, 32, 32) * 2 - 1
    assert psnr(x, x) == float("inf") and ssim(x, x) == pytest.approx(1.0)
    y = x + 0.1  # mse 0.01 on a range of 2: 10*log10(4/0.01) = 26.02 dB
    assert psnr(x, y) == pytest.approx(26.0206, abs=1e-3)
    # SSIM drops with noise and with a contrast change, and is symmetric
    noisy = x + 0.5 * torch.randn_like(x)
    assert ssim(x, noisy) < 0.9 and ssim(x, noisy) == pytest.approx(ssim(noisy, x))
    assert ssim(x, 0.5 * x) < 1.0


def test_ssim_of_constant_shift_matches_formula():
    # for a constant shift c the structure and contrast terms are 1: SSIM = luminance term
    x = torch.full((1, 1, 16, 16), 0.2)
    y = x + 0.1
    c1 = (0.01 * 1.0) ** 2
    want = (2 * 0.2 * 0.3 + c1) / (0.2**2 + 0.3**2 + c1)
    assert ssim(x, y, data_range=1.0) == pytest.approx(want, rel=1e-6)


def test_valid_frames():
    assert [valid_frames(n, 4) for n in (1, 4, 5, 8, 9, 120)] == [1, 1, 5, 5, 9, 117]


def test_reconstruct_cli_writes_clip_and_scores(tmp_path, capsys):
    torch.manual_seed(0)
    CausalVAE.from_preset("tiny").save_pretrained(tmp_path / "vae")
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, 16, 24, 3), dtype=np.uint8), 7, axis=0)
    write_video_chunks(tmp_path / "in.mp4", iter([frames[:3], frames[3:]]), 8.0)
    code = main(
        [
            "vae",
            "reconstruct",
            "--in",
            str(tmp_path / "in.mp4"),
            "--out",
            str(tmp_path / "out.mp4"),
            "--model",
            str(tmp_path / "vae"),
        ]
    )
    out = capsys.readouterr().out
    # 7 frames is not 1 + 4k: the last latent frame is padded, and every frame comes back
    assert code == 0 and "7 frames" in out and "PSNR" in out
    assert len(read_video(tmp_path / "out.mp4").frames) == 7
    vae = CausalVAE.from_pretrained(tmp_path / "vae")
    score = reconstruct_file(vae, tmp_path / "in.mp4", tmp_path / "o.png", max_frames=1)
    assert score.num_frames == 1 and 0 < score.psnr < 40
    # the first 5 frames come out as a 5-frame clip's do (padding touches only the last group)
    five = reconstruct_file(vae, tmp_path / "in.mp4", tmp_path / "five.mp4", max_frames=5)
    a = read_video(tmp_path / "five.mp4").frames.astype(int)  # each through its own H.264
    b = read_video(tmp_path / "out.mp4").frames[:5].astype(int)
    assert np.abs(a - b).mean() < 1.0
    assert five.num_frames == 5


def test_cli_bad_input_is_usage_error(tmp_path, capsys):
    assert main(["vae", "reconstruct", "--in", str(tmp_path / "nope.mp4"), "--out", "x.mp4"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train-vae", "--data", "world", "--out", str(tmp_path), "--preset", "huge"]) == 2
    assert "unknown VAE preset" in capsys.readouterr().err


def test_video_source_crops_are_deterministic(tmp_path):
    from chronotope.autoencoder.sources import VideoSource, video_paths

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (12, 40, 48, 3), dtype=np.uint8)
    write_video_chunks(tmp_path / "clip.mp4", iter([frames]), 8.0)
    (tmp_path / "m.csv").write_text("path,text\nclip.mp4,noise\n")
    paths = video_paths(tmp_path / "m.csv")
    assert paths == [tmp_path / "clip.mp4"]
    src = VideoSource(paths=paths, seed=3, batch_size=2, crop=(16, 24), frames=(5, 9))
    a, b = src.batch(7), src.batch(7)
    assert torch.equal(a, b) and a.shape[:2] == (2, 3) and a.shape[3:] == (16, 24)
    assert a.shape[2] in (5, 9) and a.min() >= -1 and a.max() <= 1


def test_video_source_reads_real_clip(real_clips):
    from chronotope.autoencoder.sources import VideoSource

    src = VideoSource(paths=[real_clips / "bikes.mp4"], seed=0, batch_size=2, max_frames=12)
    assert src.batch(0).shape[3:] == (64, 64)


def test_train_vae_cli_on_world_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train-vae",
        "--data",
        "world",
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch",
        "1",
        "--sample-every",
        "1",
        "--save-every",
        "1",
    ]
    assert main(args) == 0
    assert (out / "final" / "config.json").is_file() and (out / "samples").is_dir()
    assert main(args) == 2  # refuses to overwrite a run without --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main(args[:-4] + ["--resume", "--steps", "3"]) == 0
    assert (
        main(["vae", "eval", "--model", str(out / "final"), "--clips", "1", "--frames", "5"]) == 0
    )
    assert '"psnr"' in capsys.readouterr().out


def test_world_eval_reports_each_scene_family_and_the_whole_is_their_mix():
    from chronotope.autoencoder.evaluate import evaluate_world
    from chronotope.world import FAMILIES

    torch.manual_seed(0)
    vae = CausalVAE.from_preset("tiny")
    one = evaluate_world(vae, num_clips=1, num_frames=5, sizes=((32, 32),))
    assert len(one.by_family) == 1  # one clip: its family's score is the whole score
    (only,) = one.by_family.values()
    assert (only.psnr, only.ssim, only.num_frames) == (one.psnr, one.ssim, one.num_frames)

    many = evaluate_world(vae, num_clips=6, num_frames=5, sizes=((32, 32),))
    assert set(many.by_family) <= set(FAMILIES) and len(many.by_family) > 1
    assert sum(s.num_frames for s in many.by_family.values()) == many.num_frames == 30
    # equal-size frames: the whole MSE is the frame-weighted mean of the families' MSEs
    mse = sum(10 ** (-s.psnr / 10) * s.num_frames for s in many.by_family.values()) / 30
    assert abs(-10 * math.log10(mse) - many.psnr) < 1e-6
    assert set(many.to_dict()["by_family"]) == set(many.by_family)
