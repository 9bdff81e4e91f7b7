"""The `chronotope train` loop: packed batches, optimizer, EMA, logs, atomic checkpoints, resume;
one process or the ranks of a torchrun group (one process is world size 1)."""

from typing import TYPE_CHECKING

from chronotope.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from chronotope.training.batches import Item, Packer, TrainBatch, make_batch
    from chronotope.training.config import TRAIN_PRESETS, TrainConfig, get_preset, lr_at
    from chronotope.training.ema import EMA
    from chronotope.training.latents import LatentCodec, bundled_vae_dir
    from chronotope.training.model import build_model
    from chronotope.training.trainer import Trainer, TrainResult

# imported on first use: the CLI reads `config` to build its flags without the trainer's imports
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Item": "batches",
        "Packer": "batches",
        "TrainBatch": "batches",
        "make_batch": "batches",
        "TRAIN_PRESETS": "config",
        "TrainConfig": "config",
        "get_preset": "config",
        "lr_at": "config",
        "EMA": "ema",
        "LatentCodec": "latents",
        "bundled_vae_dir": "latents",
        "build_model": "model",
        "Trainer": "trainer",
        "TrainResult": "trainer",
    },
)
__all__ = [
    "EMA",
    "Item",
    "LatentCodec",
    "Packer",
    "TRAIN_PRESETS",
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
