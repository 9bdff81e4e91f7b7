"""The commands under torchrun (2 gloo processes on CPU): `chronotope train` trains data
parallel and writes one final model; one process resumes its sharded checkpoint; `chronotope
generate` splits the video's tokens over the ranks and writes the one-process file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chronotope.cli.main import main
from chronotope.distributed.checkpoint import is_sharded, latest_complete


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [*cmd, "-m", "chronotope.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_fsdp_in_one_process_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", "--preset", "test", "--parallel", "fsdp", "--out", str(tmp_path)]) == 2
    assert "torchrun" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before writing anything


def test_torchrun_train_then_resume_in_one_process(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    common = ["train", "--preset", "test", "--out", str(out), "--checkpoint-every", "2"]
    done = _torchrun(*common, "--steps", "2", "--sample-frames", "1", "--sample-steps", "1")
    assert done.stdout.count("final model in") == 1  # rank 0 alone prints
    assert "2 rank(s), ddp, 2 packs per step" in done.stdout
    ckpt = latest_complete(out / "checkpoints")
    assert ckpt.name == "step-00000002" and is_sharded(ckpt)
    assert (out / "final" / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    info = json.loads((out / "final" / "training.json").read_text())
    assert info["step"] == 2 and info["vae"] == "none"

    # one process, no flags: the sharded checkpoint is found and its global batch kept
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main([*common, "--steps", "3", "--sample-frames", "1", "--sample-steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "1 rank(s), none, 2 packs per step" in printed
    assert latest_complete(out / "checkpoints").name == "step-00000003"
    assert json.loads((out / "final" / "training.json").read_text())["step"] == 3


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from chronotope.pipeline.pipeline import ChronotopePipeline

    folder = tmp_path_factory.mktemp("model")
    ChronotopePipeline.from_random(heads=2).save_pretrained(folder)
    return folder


def test_torchrun_generate_writes_the_one_process_video(tmp_path, tiny_model, monkeypatch):
    args = ["generate", "--model", str(tiny_model), "--prompt", "a red ball", "--frames", "9"]
    args += ["--size", "64x64", "--steps", "2", "--quiet", "--json"]
    # no --seed: rank 0 draws one and the others take it (the printed seed)
    done = _torchrun(*args, "--out", str(tmp_path / "two.gif"))
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints and writes
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    seed = str(lines[0]["seed"])
    assert main([*args, "--seed", seed, "--out", str(tmp_path / "one.gif")]) == 0
    assert (tmp_path / "two.gif").read_bytes() == (tmp_path / "one.gif").read_bytes()
