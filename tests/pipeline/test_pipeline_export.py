"""A training run's final folder becomes a pipeline that generates (train -> export -> generate)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from chronotope.autoencoder import CausalVAE
from chronotope.cli.main import main
from chronotope.errors import UsageError
from chronotope.pipeline.export import export_pipeline
from chronotope.pipeline.loading import load_pipeline
from chronotope.training import Trainer
from chronotope.training.config import get_preset


def _train_tiny(tmp_path) -> None:
    """A 3-step latent-space run in tmp_path/run on a random tiny VAE in tmp_path/vae."""
    torch.manual_seed(0)
    vae = CausalVAE.from_preset("tiny")
    vae.set_latent_stats(torch.zeros(4), torch.ones(4))
    vae.save_pretrained(tmp_path / "vae")
    cfg = replace(
        get_preset("test"),
        vae=str(tmp_path / "vae"),
        sizes=((32, 32),),
        seconds=(0.125, 1.0),
        steps=3,
        world_clips=6,
        out=str(tmp_path / "run"),
    )
    Trainer(cfg).run()


def test_train_export_generate(tmp_path):
    _train_tiny(tmp_path)
    cfg = get_preset("test")
    pipe = export_pipeline(tmp_path / "run" / "final", tmp_path / "pipe", steps=2)
    assert pipe.config.width == 32 and pipe.config.fps == 8.0
    assert pipe.config.sampling["shift"] == cfg.to_dict()["shift"]
    assert pipe.sampling.shift == cfg.shift and pipe.sampling.steps == 2
    for part in ("transformer", "vae", "model_index.json"):  # no path of the exporting machine
        files = (
            [tmp_path / "pipe" / part]
            if part.endswith(".json")
            else [tmp_path / "pipe" / part / "config.json"]
        )
        assert all(str(tmp_path) not in f.read_text() for f in files)
    plain = tmp_path / "plain.txt"  # readable as any file written here (safetensors gives 0600)
    plain.write_text("x")
    modes = {f.stat().st_mode & 0o777 for f in (tmp_path / "pipe").rglob("*") if f.is_file()}
    assert modes == {plain.stat().st_mode & 0o777}
    loaded = load_pipeline(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    out = loaded("a red circle", num_frames=5, seed=0)
    assert out.frames.shape == (5, 32, 32, 3) and out.frames.dtype == np.uint8

    # fp16 storage: half-size files, fp32 modules on load, the same frames as the returned pipe
    half = export_pipeline(
        tmp_path / "run" / "final", tmp_path / "half", storage_dtype=torch.float16, steps=2
    )
    weights = tmp_path / "half" / "transformer" / "diffusion_pytorch_model.safetensors"
    assert {t.dtype for t in load_file(weights).values()} == {torch.float16}
    full = tmp_path / "pipe" / "transformer" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size < 0.6 * full.stat().st_size
    loaded_half = load_pipeline(tmp_path / "half")
    assert {p.dtype for p in loaded_half.transformer.parameters()} == {torch.float32}
    assert {p.dtype for p in loaded_half.vae.parameters()} == {torch.float32}
    for p in (half, loaded_half):
        p.set_progress_bar_config(disable=True)
    a = half("a red circle", num_frames=5, seed=0).frames
    b = loaded_half("a red circle", num_frames=5, seed=0).frames
    np.testing.assert_array_equal(a, b)


def test_export_swaps_in_a_decoder_only_when_the_latent_space_is_the_same(tmp_path):
    _train_tiny(tmp_path)
    final = tmp_path / "run" / "final"
    tuned = CausalVAE.from_pretrained(tmp_path / "vae")
    with torch.no_grad():
        next(tuned.decoder.parameters()).add_(0.5)  # what --freeze-encoder training changes
    tuned.save_pretrained(tmp_path / "tuned")
    pipe = export_pipeline(final, tmp_path / "pipe", vae_dir=tmp_path / "tuned")
    ours = pipe.vae.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in tuned.state_dict().items())

    from chronotope.autoencoder.networks import grow_decoder

    deeper = CausalVAE(**{**tuned.config, "decoder_res_blocks": 4})  # train-vae --decoder-blocks 4
    deeper.encoder.load_state_dict(tuned.encoder.state_dict())
    grow_decoder(tuned.decoder, deeper.decoder)
    deeper.save_pretrained(tmp_path / "deeper")
    pipe = export_pipeline(final, tmp_path / "pipe2", vae_dir=tmp_path / "deeper")
    assert pipe.vae.config.decoder_res_blocks == 4
    assert len(pipe.vae.decoder.layers) > len(tuned.decoder.layers)

    moved = CausalVAE.from_pretrained(tmp_path / "vae")
    with torch.no_grad():
        next(moved.encoder.parameters()).add_(1e-3)
    moved.save_pretrained(tmp_path / "moved")
    with pytest.raises(UsageError, match="encoder differs"):
        export_pipeline(final, tmp_path / "bad", vae_dir=tmp_path / "moved")

    restat = CausalVAE.from_pretrained(tmp_path / "vae")
    restat.set_latent_stats(torch.zeros(4), 2 * torch.ones(4))
    restat.save_pretrained(tmp_path / "restat")
    with pytest.raises(UsageError, match="latent_stats std"):
        export_pipeline(final, tmp_path / "bad", vae_dir=tmp_path / "restat")
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_export_of_a_pipeline_folder_swaps_the_decoder_in_place_and_keeps_the_rest(tmp_path):
    _train_tiny(tmp_path)
    pipe_dir = tmp_path / "pipe"
    export_pipeline(tmp_path / "run" / "final", pipe_dir, steps=2, bridge_start=0.8)
    before = load_pipeline(pipe_dir)
    tuned = CausalVAE.from_pretrained(tmp_path / "vae")
    with torch.no_grad():
        next(tuned.decoder.parameters()).add_(0.5)
    tuned.save_pretrained(tmp_path / "tuned")

    export_pipeline(pipe_dir, pipe_dir, vae_dir=tmp_path / "tuned", storage_dtype=torch.float16)
    after = load_pipeline(pipe_dir)
    assert dict(after.config) == dict(before.config)  # settings kept (steps, bridge_start...)
    for name, p in before.transformer.state_dict().items():  # the DiT, rounded to fp16 once
        torch.testing.assert_close(after.transformer.state_dict()[name], p.half().float())
    theirs = after.vae.state_dict()
    for name, p in tuned.state_dict().items():
        assert torch.equal(theirs[name], p.half().float()), name
    assert str(tmp_path) not in (pipe_dir / "vae" / "config.json").read_text()

    # settings changed, no VAE, through the CLI's flags
    argv = ["export", str(pipe_dir), "--out", str(tmp_path / "g6"), "--guidance", "6"]
    assert (
        main(
            [
                *argv,
                "--bridge-start",
                "0.5",
                "--early-guidance",
                "2",
                "--early-sigma",
                "0.8",
                "--early-rescale",
                "0.5",
                "--restyle-guidance",
                "7",
                "--dissolve-above",
                "0.2",
                "--candidates",
                "2",
            ]
        )
        == 0
    )
    g6 = load_pipeline(tmp_path / "g6")
    sampling, tasks = g6.sampling, g6.tasks
    assert (sampling.guidance, tasks.bridge_start, sampling.steps) == (6.0, 0.5, 2)
    assert (sampling.early_guidance, sampling.early_sigma, sampling.early_rescale) == (
        2.0,
        0.8,
        0.5,
    )
    assert (tasks.restyle_guidance, tasks.dissolve_above, sampling.candidates) == (7.0, 0.2, 2)
    saved = json.loads((tmp_path / "g6" / "model_index.json").read_text())
    assert saved["sampling"] == sampling.to_dict() and saved["tasks"] == tasks.to_dict()
    assert "guidance" not in saved and "bridge_start" not in saved  # nested, nowhere else
    with pytest.raises(UsageError, match="not a pipeline setting: guidanse"):
        export_pipeline(pipe_dir, tmp_path / "bad", guidanse=6.0)
    with pytest.raises(UsageError, match="neither a finished latent-space training run"):
        export_pipeline(tmp_path / "vae", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
