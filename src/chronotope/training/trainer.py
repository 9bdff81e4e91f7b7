"""The training loop: packed batches -> bf16 DiT -> flow loss -> AdamW + EMA, with logs,
previews, atomic checkpoints and exact resume (same weights as an uninterrupted run on CPU)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from chronotope.errors import UsageError
from chronotope.flow import flow_loss
from chronotope.model import DiT
from chronotope.training.batches import Packer, StreamFactory, TrainBatch, make_batch
from chronotope.training.config import TrainConfig, lr_at
from chronotope.training.ema import EMA
from chronotope.training.latents import LatentCodec
from chronotope.training.logs import MetricsLog
from chronotope.training.preview import sample_latents, write_previews
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
from chronotope.utils.paths import BUNDLED_MODEL_DIR
from chronotope.utils.precision import autocast

# fields that must match the checkpoint being resumed (they define the model or the data)
_RESUME_FIXED = (
    "model",
    "width",
    "depth",
    "heads",
    "patch",
    "data",
    "vae",
    "sizes",
    "seconds",
    "fps",
    "token_budget",
    "buffer_size",
    "seed",
)


@dataclass
class TrainResult:
    step: int
    loss: float  # mean loss over the last logging window
    final_dir: Path | None


@dataclass
class _Window:
    """Metrics accumulated between two log lines; losses stay tensors until `metrics`."""

    losses: list = field(default_factory=list)
    tokens: int = 0
    samples: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, loss: torch.Tensor, batch: TrainBatch) -> None:
        self.losses.append(loss)
        self.tokens += batch.num_tokens
        self.samples += batch.packed.num_samples

    def metrics(self, budget: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.start
        n = len(self.losses)
        return {
            "loss": torch.stack(self.losses).mean().item(),
            "tokens_per_s": self.tokens / seconds,
            "samples": self.samples / n,
            "fill": self.tokens / (n * budget),
            "seconds": seconds,
        }


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


class Trainer:
    """Holds the model, EMA, optimizer, data packer and RNG; `run()` trains to `cfg.steps`."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        stream_factory: StreamFactory | None = None,
        codec: LatentCodec | None = None,
        text_encoder=None,
    ):
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        torch.manual_seed(cfg.seed)  # model init
        self.codec = codec if codec is not None else LatentCodec.load(cfg.vae)
        if text_encoder is None:
            from chronotope.model import TextEncoder

            text_encoder = TextEncoder(
                max_length=cfg.text_max_length, cache_dir=self.out / "text_cache"
            )
        self.text = text_encoder
        self.model = build_model(cfg, self.codec).train()
        if cfg.init is not None:
            load_init_weights(self.model, cfg.init)  # a resumed checkpoint still wins
        self.ema = EMA(self.model, decay=cfg.ema_decay)
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=cfg.lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
            fused=True,  # one kernel for the whole update (CPU fused AdamW since torch 2.4)
        )
        if stream_factory is None:
            from chronotope.training.streams import default_stream_factory

            stream_factory = default_stream_factory(cfg, self.codec)
        self.packer = Packer(
            stream_factory,
            self.codec,
            token_budget=cfg.token_budget,
            buffer_size=cfg.buffer_size,
            patch=tuple(cfg.patch),
        )
        self.generator = torch.Generator().manual_seed(cfg.seed + 1)  # noise, sigma, masks
        self.step = 0
        self.resumed_from: Path | None = None
        self._resume()

    # ---- one step ----

    def next_batch(self) -> TrainBatch:
        items = self.packer.next()
        return make_batch(
            items, cfg=self.cfg, encode_text=self.text.encode, generator=self.generator
        )

    def train_step(self, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimizer step; returns (loss, per-sample losses, grad norm) as tensors (no sync)."""
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.cfg, self.step)
        p = batch.packed
        with autocast(p.tokens.device.type):
            pred = self.model(p.tokens, p.sigma, p.positions, p.segments, p.text, p.text_segments)
        loss, per_sample = flow_loss(pred, batch.target, batch.weight, p.segments)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.step)
        self.step += 1
        return loss.detach(), per_sample, grad_norm

    # ---- the loop ----

    def run(self, *, max_steps: int | None = None) -> TrainResult:
        """Train until `cfg.steps` (or `cfg.minutes`), then save the final EMA model.
        `max_steps` pauses after that many more steps: a checkpoint, no final model."""
        from tqdm import tqdm

        cfg = self.cfg
        stop_at = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        deadline = None if cfg.minutes is None else time.monotonic() + 60 * cfg.minutes
        log = MetricsLog(self.out)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not cfg.progress, dynamic_ncols=True)
        window, last_loss, timed_out = _Window(), float("nan"), False
        try:
            while self.step < stop_at and not timed_out:
                batch = self.next_batch()
                loss, _, grad_norm = self.train_step(batch)
                window.add(loss, batch)
                bar.update(1)
                timed_out = deadline is not None and time.monotonic() > deadline
                if self.step % cfg.log_every == 0 or self.step == stop_at or timed_out:
                    metrics = window.metrics(cfg.token_budget)  # the loop's only host sync
                    metrics.update(lr=lr_at(cfg, self.step - 1), grad_norm=float(grad_norm))
                    log.write(self.step, metrics)
                    last_loss = metrics["loss"]
                    bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                    window = _Window()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.write_samples(self.out / "samples" / f"step-{self.step:08d}")
                if self.step % cfg.checkpoint_every == 0 or timed_out:
                    self.save_checkpoint()
        finally:
            bar.close()
            log.close()
        if self.step % cfg.checkpoint_every:
            self.save_checkpoint()
        if self.step < cfg.steps and not timed_out:
            return TrainResult(self.step, last_loss, None)  # paused by max_steps
        self.write_samples(self.out / "samples" / "final")
        return TrainResult(self.step, last_loss, self.save_final())

    # ---- outputs ----

    def write_samples(self, folder: Path) -> list[Path]:
        latents = sample_latents(
            self.ema.model,
            list(self.cfg.sample_prompts),
            cfg=self.cfg,
            codec=self.codec,
            encode_text=self.text.encode,
            seed=self.cfg.seed,
        )
        videos = [self.codec.decode(z) for z in latents]
        paths = write_previews(videos, folder, self.cfg.fps)
        (folder / "prompts.json").write_text(json.dumps(list(self.cfg.sample_prompts), indent=2))
        return paths

    def save_final(self) -> Path:
        """`out/final/transformer` (EMA DiT), `out/final/vae` (a copy, unless pixel space) and
        `out/final/training.json` (what sampling must reproduce: shift anchors, patch, text)."""
        final = self.out / "final"
        self.ema.model.save_pretrained(final / "transformer", safe_serialization=True)
        if self.codec.vae is not None:
            shutil.copytree(self.codec.source, final / "vae", dirs_exist_ok=True)
        info = {
            "step": self.step,
            "vae": "vae" if self.codec.vae is not None else "none",
            "vae_source": self.codec.source,
            "shift": asdict(self.cfg.shift),
            "patch": list(self.cfg.patch),
            "text_encoder": getattr(self.text, "name", "all-MiniLM-L6-v2"),
            "text_max_length": self.cfg.text_max_length,
            "fps": self.cfg.fps,
            "config": self.cfg.to_dict(),
        }
        (final / "training.json").write_text(json.dumps(info, indent=2))
        return final

    # ---- checkpoints ----

    def save_checkpoint(self) -> Path:
        opt_tensors, opt_meta = optimizer_state_tensors(self.opt)
        data_tensors, data_meta = self.packer.state_dict()
        rng = {**rng_state(), "rng.generator": self.generator.get_state()}
        files = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": opt_tensors,
            "rng": rng,
            "data": data_tensors,
        }
        meta = {"optimizer": opt_meta, "data": data_meta, "config": self.cfg.to_dict()}
        return save_checkpoint(
            self.out / "checkpoints", self.step, files, meta, keep=self.cfg.keep_checkpoints
        )

    def _resume(self) -> None:
        path = latest_checkpoint(self.out / "checkpoints")
        if path is None:
            return
        files, meta = load_checkpoint(path)
        saved = meta["config"]
        for name in _RESUME_FIXED:
            mine = json.loads(json.dumps(getattr(self.cfg, name)))  # tuples -> lists, like JSON
            if saved.get(name) != mine:
                raise UsageError(
                    f"--{name.replace('_', '-')} is {mine} but the checkpoint in {path} was "
                    f"trained with {saved.get(name)}; use another --out to start afresh",
                    param=name,
                )
        self.model.load_state_dict(files["model"])
        self.ema.load_state_dict(files["ema"])
        load_optimizer_state(self.opt, files["optimizer"], meta["optimizer"])
        set_rng_state(files["rng"])
        self.generator.set_state(files["rng"]["rng.generator"])
        self.packer.load_state_dict(files.get("data", {}), meta["data"])
        self.step = int(meta["step"])
        self.resumed_from = path
