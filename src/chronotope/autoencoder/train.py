"""VAE training: L1 + MSE + edge + small KL, AdamW, bf16 autocast, atomic checkpoints, exact resume.

Resume is exact because everything a step depends on is restored or recomputed: weights,
AdamW state, torch/numpy/python RNG (posterior noise), and the batch, which is a pure function
of (seed, step) (see `sources.py`). At the end the latent statistics are measured and the model
is written with `save_pretrained(out/final)`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from chronotope.autoencoder.contact_sheet import write_contact_sheet
from chronotope.autoencoder.losses import LossWeights, vae_loss
from chronotope.autoencoder.metrics import psnr
from chronotope.autoencoder.networks import grow_decoder
from chronotope.autoencoder.presets import get_preset
from chronotope.autoencoder.sources import BatchSource, VideoSource, WorldSource, video_paths
from chronotope.autoencoder.stats import compute_latent_stats
from chronotope.autoencoder.vae import CausalVAE
from chronotope.errors import CorruptFileError, UsageError
from chronotope.utils.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    load_optimizer_state,
    optimizer_state_tensors,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from chronotope.utils.configs import config_differences
from chronotope.utils.precision import autocast


@dataclass
class VAETrainConfig:
    data: str = "world"  # "world", a manifest .csv, or a video file
    out: Path = Path("runs/vae")
    preset: str = "world"
    steps: int = 20_000
    minutes: float | None = None  # wall-time bound; the run stops cleanly and saves
    batch: int = 4
    lr: float = 1e-3
    warmup: int = 100
    schedule: str = "constant"  # or "cosine": decay to min_lr_ratio * lr at `steps`
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    resume: bool = False
    # train the decoder only: the encoder (and so every latent and the latent statistics) stays
    # bit-exact, so a DiT trained on this VAE's latents stays valid while the decoder improves
    freeze_encoder: bool = False
    # start from this trained VAE (a save_pretrained folder, or a pipeline folder's vae/) instead
    # of a random init; with freeze_encoder its latent statistics are kept as they are
    init: Path | None = None
    # blocks per decoder level (None: the preset's); more than --init's decoder has grows it:
    # the extra blocks start as the identity, so the run starts from the init's exact output
    decoder_blocks: int | None = None
    # decoder denoising: each clip's latent gets Gaussian noise of a level drawn uniformly from
    # [0, latent_noise], in units of the latent statistics' per-channel std (the DiT's units),
    # so the decoder learns to turn a generated latent's small, frame-to-frame independent
    # errors into a steady clip instead of a judder at every latent-frame boundary
    latent_noise: float = 0.0
    sample_every: int = 250
    save_every: int = 500
    crop: tuple[int, int] = (64, 64)  # (H, W) crops for video data
    stats_batches: int = 16  # batches used for latent statistics at the end
    weights: LossWeights = field(default_factory=LossWeights)
    progress: bool = True

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "batch": self.batch >= 1,
            "lr": self.lr > 0,
            "sample-every": self.sample_every >= 1,
            "save-every": self.save_every >= 1,
            "minutes": self.minutes is None or self.minutes > 0,
            "schedule": self.schedule in ("constant", "cosine"),
            "decoder-blocks": self.decoder_blocks is None or self.decoder_blocks >= 1,
            "latent-noise": math.isfinite(self.latent_noise) and self.latent_noise >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                hint = {"schedule": "'constant' or 'cosine'", "latent-noise": "0 or more"}.get(
                    name, "positive"
                )
                raise UsageError(f"--{name} must be {hint}", param=name)
        get_preset(self.preset)  # raises on an unknown name
        self.out = Path(self.out)


def build_model(cfg: VAETrainConfig) -> CausalVAE:
    """The preset's VAE, with `cfg.decoder_blocks` per decoder level, or else --init's depth
    (a fine-tune of a grown decoder needs no flag to keep its size)."""
    kwargs = get_preset(cfg.preset).to_kwargs()
    if cfg.decoder_blocks is not None:
        kwargs["decoder_res_blocks"] = cfg.decoder_blocks
    elif cfg.init is not None:
        kwargs["decoder_res_blocks"] = CausalVAE.load_config(_init_folder(cfg)).get(
            "decoder_res_blocks"
        )
    return CausalVAE(**kwargs)


def build_source(cfg: VAETrainConfig) -> BatchSource:
    if cfg.data == "world":
        return WorldSource(seed=cfg.seed, batch_size=cfg.batch)
    return VideoSource(
        paths=video_paths(cfg.data), seed=cfg.seed, batch_size=cfg.batch, crop=cfg.crop
    )


def learning_rate(cfg: VAETrainConfig, step: int) -> float:
    """Linear warmup, then constant or a cosine decay that ends at `cfg.steps`.

    The schedule is a function of the step only (never of wall time), so a resumed run follows
    exactly the curve of an uninterrupted one.
    """
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    if cfg.schedule == "constant" or step < cfg.warmup:
        return cfg.lr * warm
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _restore(cfg: VAETrainConfig, model: CausalVAE, opt: torch.optim.Optimizer) -> int:
    ckpt = latest_checkpoint(cfg.out / "checkpoints")
    if ckpt is None:
        return 0
    files, meta = load_checkpoint(ckpt)
    keys = ("preset", "data", "seed", "decoder_blocks", "latent_noise")
    saved = {**{"latent_noise": 0.0}, **meta}  # checkpoints from before the flag: no noise
    if any(saved.get(k) != getattr(cfg, k) for k in keys):
        was = " ".join(f"{k}={saved.get(k)}" for k in keys)
        raise UsageError(f"--resume: {ckpt} was trained with {was}; pass the same values")
    model.load_state_dict(files["model"])
    load_optimizer_state(opt, files["optimizer"], meta["optimizer"])
    set_rng_state(files["rng"])
    return int(meta["step"])


def load_checkpoint_model(folder: str | os.PathLike) -> CausalVAE:
    """The VAE of a train-vae checkpoint, to score a run while it trains (`chronotope vae eval
    --model RUN/checkpoints/step-N`). Its preset is in the checkpoint's meta.json; the decoder's
    depth (grown or not) is the one whose parameter names are the checkpoint's. Latent statistics
    are measured when a run ends: a checkpoint has none (reconstructions need none)."""
    files, meta = load_checkpoint(folder)
    state = files["model"]
    kwargs = get_preset(meta["preset"]).to_kwargs()
    for depth in range(1, 17):
        model = CausalVAE(**{**kwargs, "decoder_res_blocks": depth})
        if set(model.state_dict()) == set(state):
            model.load_state_dict(state)
            return model
    raise CorruptFileError(f"{folder}: its weights are no {meta['preset']!r} VAE of any depth")


def _init_folder(cfg: VAETrainConfig) -> Path:
    folder = Path(cfg.init)
    if (folder / "model_index.json").is_file():  # a pipeline folder: its VAE
        folder = folder / "vae"
    if not (folder / "config.json").is_file():
        raise UsageError(f"--init {folder}: not a VAE folder written by save_pretrained")
    return folder


def _load_init(cfg: VAETrainConfig, model: CausalVAE) -> None:
    folder = _init_folder(cfg)
    source = CausalVAE.from_pretrained(folder).float()
    ignore = ("latent_stats", "decoder_res_blocks")
    diff = config_differences(model.config, source.config, keys=model.config, ignore=ignore)
    if diff:
        key = diff[0]
        raise UsageError(
            f"--init {folder}: its {key} is {source.config.get(key)}, preset "
            f"{cfg.preset!r} has {model.config[key]}"
        )
    have, want = source.decoder.blocks_per_level, model.decoder.blocks_per_level
    if want < have:
        raise UsageError(
            f"--decoder-blocks {want}: --init {folder} has {have} decoder blocks per level; a "
            f"decoder can be grown, not shrunk",
            param="decoder_blocks",
        )
    model.encoder.load_state_dict(source.encoder.state_dict())
    grow_decoder(source.decoder, model.decoder)  # a plain copy when the sizes are equal
    stats = source.get_latent_stats()
    if stats is not None:
        model.set_latent_stats(*stats)


def _save(cfg: VAETrainConfig, model: CausalVAE, opt: torch.optim.Optimizer, step: int) -> Path:
    opt_tensors, skeleton = optimizer_state_tensors(opt)
    meta = {"preset": cfg.preset, "data": cfg.data, "seed": cfg.seed, "optimizer": skeleton}
    meta["decoder_blocks"] = cfg.decoder_blocks
    meta["latent_noise"] = cfg.latent_noise
    meta["data_position"] = step  # batches are a pure function of (seed, step)
    files = {"model": model.state_dict(), "optimizer": opt_tensors, "rng": rng_state()}
    return save_checkpoint(cfg.out / "checkpoints", step, files, meta)


def train_step(
    model: CausalVAE,
    opt: torch.optim.Optimizer,
    video: torch.Tensor,
    cfg: VAETrainConfig,
    lr: float,
) -> dict[str, float]:
    for group in opt.param_groups:
        group["lr"] = lr
    with autocast(video.device.type):
        if cfg.latent_noise > 0:
            recon, mean, logvar = _noisy_pass(model, video, cfg.latent_noise)
        else:
            recon, mean, logvar = model(video)
    loss, parts = vae_loss(recon, video, mean, logvar, cfg.weights)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return {"loss": loss.item(), "psnr": psnr(recon.detach().float().clamp(-1, 1), video), **parts}


def _noisy_pass(
    model: CausalVAE, video: torch.Tensor, max_level: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training pass with each clip's posterior sample noised at a level drawn from
    [0, max_level] times the per-channel latent std (the VAE's statistics, else the batch's)."""
    mean, logvar = model.encode(video)
    z = model.sample(mean, logvar)
    if model.config.latent_stats is not None:
        _, std = model._stats(z)  # the per-channel std, shaped for z (as `normalize` uses it)
    else:
        std = mean.detach().std(dim=(0, 2, 3, 4), keepdim=True)
    level = max_level * torch.rand(z.shape[0], 1, 1, 1, 1, dtype=z.dtype, device=z.device)
    z = z + level * std * torch.randn_like(z)
    return model.decoder(z), mean, logvar


def train_vae(cfg: VAETrainConfig, *, source: BatchSource | None = None) -> Path:
    """Train (or resume) and return the `save_pretrained` folder `cfg.out / "final"`."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).train()
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay
    )
    if cfg.init is not None:
        _load_init(cfg, model)  # a resumed checkpoint (below) still wins
    torch.manual_seed(cfg.seed)  # the posterior noise does not depend on the model's size
    step = _restore(cfg, model, opt) if cfg.resume else 0
    model.encoder.requires_grad_(not cfg.freeze_encoder)  # AdamW skips params with no grad
    if not cfg.resume and latest_checkpoint(cfg.out / "checkpoints") is not None:
        raise UsageError(f"{cfg.out} already has checkpoints; pass --resume or a new --out")
    source = source or build_source(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    with open(cfg.out / "train_log.jsonl", "a", buffering=1) as log:  # line-buffered: tail -f
        step = _loop(cfg, model, opt, source, step, log)
    _save(cfg, model, opt, step)
    return finish(model, source, cfg)


def _loop(cfg: VAETrainConfig, model, opt, source: BatchSource, step: int, log) -> int:
    """Train from `step` until `cfg.steps` or the wall-time bound; return the step reached."""
    samples = source.batch(-1)[:4]  # fixed batch for contact sheets (step -1 is never trained)
    start = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, dynamic_ncols=True)
    while step < cfg.steps:
        if cfg.minutes is not None and time.monotonic() - start > 60 * cfg.minutes:
            break
        stats = train_step(model, opt, source.batch(step), cfg, learning_rate(cfg, step))
        step += 1
        if not math.isfinite(stats["loss"]):
            raise RuntimeError(f"loss is {stats['loss']} at step {step}")
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.4f}", psnr=f"{stats['psnr']:.2f}")
        log.write(json.dumps({"step": step, "time": time.monotonic() - start, **stats}) + "\n")
        if step % cfg.sample_every == 0:
            _sample(model, samples, cfg.out / "samples" / f"step-{step:08d}.png")
        if step % cfg.save_every == 0:
            _save(cfg, model, opt, step)
    bar.close()
    return step


@torch.no_grad()
def _sample(model: CausalVAE, video: torch.Tensor, path: Path) -> None:
    model.eval()
    with autocast(video.device.type):
        recon = model.decode(model.encode(video)[0]).float()
    model.train()
    write_contact_sheet(path, video, recon)


def finish(model: CausalVAE, source: BatchSource, cfg: VAETrainConfig) -> Path:
    """Measure latent statistics on held-in batches, then `save_pretrained(out/final)`."""
    model.eval()
    if not (cfg.freeze_encoder and model.config.latent_stats is not None):
        # (a frozen encoder keeps the statistics it came with: its latents have not changed)
        batches = (source.batch(-2 - i) for i in range(cfg.stats_batches))
        mean, std = compute_latent_stats(model, batches)
        model.set_latent_stats(mean, std)
    final = cfg.out / "final"
    model.save_pretrained(final)
    (cfg.out / "train_config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))
    return final
