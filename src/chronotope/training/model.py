"""The DiT a run trains: built from the config's preset and overrides, or started from saved
weights (`--init`, fine-tuning with a fresh optimizer)."""

from __future__ import annotations

import json
from pathlib import Path

from chronotope.errors import UsageError
from chronotope.model import DiT
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec
from chronotope.utils.configs import config_differences
from chronotope.utils.paths import BUNDLED_MODEL_DIR


def build_model(cfg: TrainConfig, codec: LatentCodec) -> DiT:
    overrides = {k: getattr(cfg, k) for k in ("width", "depth", "heads") if getattr(cfg, k)}
    return DiT.from_preset(
        cfg.model, in_channels=codec.channels, patch=tuple(cfg.patch), **overrides
    )


def init_weights_dir(spec: str) -> Path:
    """The transformer folder named by `--init`: "bundled", a pipeline or final/ folder (with a
    transformer/ inside), or a transformer folder itself."""
    folder = BUNDLED_MODEL_DIR if spec == "bundled" else Path(spec)
    for candidate in (folder / "transformer", folder):
        if (candidate / "config.json").is_file():
            return candidate
    raise UsageError(f"--init: no DiT folder (config.json) at {folder}", param="init")


def load_init_weights(model: DiT, spec: str) -> None:
    """Copy the weights of `spec` into `model` (in the model's dtype); the architecture must
    match exactly, so a fine-tune never silently drops or reshapes a tensor."""
    from chronotope.utils.checkpoint import load_safetensors

    folder = init_weights_dir(spec)
    saved = json.loads((folder / "config.json").read_text())
    weights = load_safetensors(folder / "diffusion_pytorch_model.safetensors")
    # a key the saved config lacks is a field added since: its default applies
    diff = config_differences(model.config, saved, keys=[k for k in model.config if k in saved])
    if diff:
        key = diff[0]
        raise UsageError(
            f"--init {folder}: its DiT has {key}={saved[key]} but this run's has "
            f"{model.config[key]}",
            param="init",
        )
    state = model.state_dict()
    missing = sorted(set(state) - set(weights))
    extra = sorted(set(weights) - set(state))
    if missing or extra:
        raise UsageError(
            f"--init {folder}: tensors differ from this run's model "
            f"(missing {missing[:3]}, unexpected {extra[:3]})",
            param="init",
        )
    model.load_state_dict({k: v.to(state[k].dtype) for k, v in weights.items()})
