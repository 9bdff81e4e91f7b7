"""A training run's final folder becomes a pipeline that generates (train -> export -> generate)."""

from dataclasses import replace

import numpy as np
import torch

from chronotope.autoencoder import CausalVAE
from chronotope.pipeline.export import export_pipeline
from chronotope.pipeline.loading import load_pipeline
from chronotope.training import Trainer
from chronotope.training.config import get_preset


def test_train_export_generate(tmp_path):
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
    pipe = export_pipeline(tmp_path / "run" / "final", tmp_path / "pipe", steps=2)
    assert pipe.config.width == 32 and pipe.config.fps == 8.0
    assert pipe.config.shift == cfg.to_dict()["shift"]
    loaded = load_pipeline(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    out = loaded("a red circle", num_frames=5, seed=0)
    assert out.frames.shape == (5, 32, 32, 3) and out.frames.dtype == np.uint8
