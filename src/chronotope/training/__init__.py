"""The `chronotope train` loop: packed batches, optimizer, EMA, logs, atomic checkpoints, resume;
one process or the ranks of a torchrun group (one process is world size 1)."""

from chronotope.training.batches import Item, Packer, TrainBatch, make_batch
from chronotope.training.config import TRAIN_PRESETS, TrainConfig, get_preset, lr_at
from chronotope.training.ema import EMA
from chronotope.training.latents import LatentCodec, bundled_vae_dir
from chronotope.training.model import build_model
from chronotope.training.trainer import Trainer, TrainResult

__all__ = [
    "EMA",
    "TRAIN_PRESETS",
    "Item",
    "LatentCodec",
    "Packer",
    "TrainBatch",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_model",
    "bundled_vae_dir",
    "get_preset",
    "lr_at",
    "make_batch",
]
