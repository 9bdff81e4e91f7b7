"""The training loop, in one process or over the ranks of a torchrun group: packed batches ->
DiT -> flow loss -> AdamW + EMA, with logs, previews, atomic checkpoints and exact resume.

One process is world size 1 of the same run. A step's global batch is `packs_per_step` packs
drawn from the packer. Every rank runs the same packer on the same stream, so every rank knows
the whole global batch; it then keeps only its share (`balance_packs`: equal pack counts,
balanced tokens and attention cost) and builds noise, sigma and task masks for those packs only,
each from a generator seeded by (seed, step, pack index). So the global batch does not depend
on the number of ranks: a run resumed on another world size continues the same run, and one
process is the oracle the tests compare against. Gradients are accumulated pack by pack (no
sync until the last one) and each pack's loss is scaled so that the data-parallel gradient
average is the gradient of the mean over every sample of the global batch, as
`distributed.global_sample_mean` explains.

Sequence parallelism instead gives every pack to every rank, split by tokens (`shard_pack`),
and sums the partial gradients (`all_reduce_gradients`): for packs too long for one GPU.

Checkpoints are DCP folders (`save_sharded`) in `out/checkpoints` at any world size, the EMA
weights kept sharded like the model; they hold model, EMA, optimizer and data position, and the
noise needs no saved state (it derives from the step). Rank 0 alone writes logs, previews and
`out/final/` (the EMA model as a `save_pretrained` folder in safetensors).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from chronotope.distributed.balance import balance_packs
from chronotope.distributed.checkpoint import load_files, load_sharded, save_sharded
from chronotope.distributed.launch import group_rank_world
from chronotope.distributed.parallelize import comm_device, global_count, parallelize, unwrap
from chronotope.distributed.sequence import all_reduce_gradients, shard_pack
from chronotope.errors import UsageError
from chronotope.flow import flow_loss
from chronotope.training.batches import (
    Packer,
    StepBatch,
    StreamFactory,
    TrainBatch,
    make_batch,
    target_count,
)
from chronotope.training.checkpoints import FORMAT, resumable_checkpoint
from chronotope.training.config import TrainConfig, lr_at
from chronotope.training.ema import EMA, full_tensor
from chronotope.training.latents import LatentCodec
from chronotope.training.logs import MetricsLog
from chronotope.training.lora import add_lora, save_adapter
from chronotope.training.model import build_model, load_init_weights
from chronotope.training.preview import sample_latents, write_previews
from chronotope.utils.checkpoint import save_pretrained
from chronotope.utils.precision import autocast


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

    def add(self, loss: torch.Tensor, batch: StepBatch) -> None:
        self.losses.append(loss)
        self.tokens += batch.tokens
        self.samples += batch.samples

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


class Trainer:
    """Holds the model, EMA, optimizer, packer and step over the ranks of the current process
    group (one process: no group); `run()` trains to `cfg.steps`."""

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
        self.rank, self.world = group_rank_world()
        self.main = self.rank == 0
        # one rank splits nothing: the same run as without the flag
        self.sequence_parallel = cfg.sequence_parallel and self.world > 1
        self.mode = "none" if self.world == 1 or self.sequence_parallel else cfg.parallel
        self._check_layout()
        checkpoint, meta = resumable_checkpoint(cfg)
        self.packs_per_step = self._global_batch(meta)  # all refusals before anything is built
        nccl = dist.is_initialized() and dist.get_backend() == "nccl"
        self.device = comm_device() if nccl else torch.device("cpu")
        torch.manual_seed(cfg.seed)  # model init
        self.codec = codec if codec is not None else LatentCodec.load(cfg.vae)
        self.text = text_encoder if text_encoder is not None else self._text_encoder()
        self._build_model()
        if stream_factory is None:
            from chronotope.training.streams import default_stream_factory

            stream_factory = default_stream_factory(cfg, self.codec)
        # --preserve with clips of one's own: the stream marks world clips for the base's target
        self.distil = bool(getattr(stream_factory, "distils", False))
        self.data_report: str | None = None  # real clips: how many train, how many skipped
        if hasattr(stream_factory, "prepare"):  # encode every clip once, before training
            stream_factory.prepare(progress=cfg.progress and self.main)
            self.data_report = stream_factory.report()
        self.packer = Packer(
            stream_factory,
            self.codec,
            token_budget=cfg.token_budget,
            buffer_size=cfg.buffer_size,
            patch=tuple(cfg.patch),
        )
        self.step = 0
        self.elapsed_s = 0.0  # wall time of the run before this command (resumes add up)
        self._start = time.monotonic()  # this command's share of the clock starts here
        self.resumed_from: Path | None = None
        if checkpoint is not None:
            self._resume(checkpoint, meta)

    # ---- setup ----

    def _check_layout(self) -> None:
        cfg = self.cfg
        if self.world == 1 and (cfg.parallel != "ddp" or cfg.mixed_precision is not None):
            raise UsageError(
                "--parallel fsdp / --mixed-precision need several processes: launch with "
                "`torchrun --nproc-per-node N -m chronotope.cli.main train ...` "
                "(docs/DISTRIBUTED.md)"
            )
        if cfg.mixed_precision is not None and self.mode != "fsdp":
            raise UsageError("--mixed-precision applies to --parallel fsdp on several ranks")

    def _global_batch(self, meta: dict | None) -> int:
        """Packs per step: the config's, else the resumed run's, else one per rank."""
        saved = None if meta is None else int(meta["packs_per_step"])
        n = self.cfg.packs_per_step or saved or (1 if self.sequence_parallel else self.world)
        if saved is not None and n != saved:
            raise UsageError(
                f"--packs-per-step is {n} but the checkpoint in {self.out / 'checkpoints'} was "
                f"trained with {saved} (the global batch); pass that value",
                param="packs_per_step",
            )
        if not self.sequence_parallel and n % self.world:
            raise UsageError(
                f"--packs-per-step ({n}) must be a multiple of the number of ranks "
                f"({self.world}): every rank runs the same number of forwards",
                param="packs_per_step",
            )
        return n

    def _text_encoder(self):
        from chronotope.model import TextEncoder

        return TextEncoder(max_length=self.cfg.text_max_length, cache_dir=self.out / "text_cache")

    def _build_model(self) -> None:
        """The DiT (from `--init` weights if given), parallelized; its optimizer and EMA."""
        cfg = self.cfg
        model = self._base_model().train()
        self.model = parallelize(
            model.to(self.device),
            mode=self.mode,
            activation_checkpointing=cfg.activation_checkpointing,
            compile=cfg.compile,
            mixed_precision=torch.bfloat16 if cfg.mixed_precision == "bf16" else None,
            sequence_parallel=self.sequence_parallel,
        )
        self.inner = unwrap(self.model)
        self.opt = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],  # with --lora: the adapter
            lr=cfg.lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
            # one kernel for the whole update; FSDP2's DTensors take the for-loop one
            fused=self.mode != "fsdp",
            foreach=False if self.mode == "fsdp" else None,
        )
        self.ema = EMA(self.inner, decay=cfg.ema_decay)

    def _base_model(self) -> nn.Module:
        """The DiT of the config, from the `--init` weights if given (a resumed checkpoint still
        wins), with a fresh LoRA adapter and the rest frozen under `--lora`."""
        cfg = self.cfg
        model = build_model(cfg, self.codec)
        if cfg.init is not None:
            load_init_weights(model, cfg.init)
        if cfg.lora:
            add_lora(model, cfg.lora)
        return model

    def summary(self) -> str:
        n_params = sum(p.numel() for p in self.inner.parameters())  # DTensors: global
        kind = "sequence parallel" if self.sequence_parallel else self.mode
        trained = ""
        if self.cfg.lora:
            n = sum(p.numel() for p in self.inner.parameters() if p.requires_grad)
            trained = f" ({n / 1e6:.2f}M in a rank-{self.cfg.lora} LoRA adapter, the rest frozen)"
        data = "" if self.data_report is None else f"; data {self.cfg.data}: {self.data_report}"
        return (
            f"model {self.cfg.model}: {n_params / 1e6:.2f}M parameters{trained}; {self.world} "
            f"rank(s), {kind}, {self.packs_per_step} packs per step{data}; writing to "
            f"{self.cfg.out}"
        )

    # ---- one step ----

    def _pack_generator(self, index: int) -> torch.Generator:
        """Noise of pack `index` of this step: the same whichever rank draws it."""
        seed = np.random.SeedSequence([self.cfg.seed, self.step, index]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(seed))

    def assignment(self, packs: list[list[int]]) -> list[int]:
        """Indices of the packs (given by their segment lengths) this rank trains on."""
        if self.sequence_parallel:
            return list(range(len(packs)))  # every rank holds a slice of every pack
        return balance_packs(packs, self.world)[self.rank]

    def next_batch(self) -> StepBatch:
        packs = [self.packer.next() for _ in range(self.packs_per_step)]  # same on every rank
        mine = self.assignment([[it.num_tokens for it in items] for items in packs])
        batches = [
            make_batch(
                packs[i],
                cfg=self.cfg,
                encode_text=self.text.encode,
                generator=self._pack_generator(i),
            )
            for i in mine
        ]
        tokens = sum(it.num_tokens for items in packs for it in items)
        return StepBatch(batches, tokens, sum(len(items) for items in packs))

    def _inputs(self, batch: TrainBatch) -> tuple:
        p, dev = batch.packed, self.device
        return (p.tokens.to(dev), p.sigma.to(dev), p.positions.to(dev), p.segments,
                p.text.to(dev), p.text_segments)  # fmt: skip

    def _predict(self, batch: TrainBatch) -> torch.Tensor:
        args = self._inputs(batch)
        with autocast(self.device.type):
            if not self.sequence_parallel:
                return self.model(*args)
            shard = shard_pack(*args)
            return shard.gather(self.model(*shard.model_args()))

    def _teacher(self, batch: TrainBatch) -> torch.Tensor:
        """The frozen base model's prediction on `batch` (`--preserve`: the adapter disabled;
        the whole pack on every rank, so FSDP's gathers stay in step)."""
        self.inner.disable_adapters()
        try:
            with torch.no_grad(), autocast(self.device.type):
                return self.inner(*self._inputs(batch)).float()
        finally:
            self.inner.enable_adapters()

    def _sync_gradients(self, sync: bool):
        """Context: skip DDP's all-reduce / FSDP2's reduce-scatter for all packs but a rank's
        last (gradients accumulate locally, one collective per step)."""
        if self.mode == "ddp" and not sync:
            return self.model.no_sync()
        if self.mode == "fsdp":
            self.model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

    def train_step(self, batch: StepBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimizer step on the global batch; returns (global mean loss, this rank's
        per-sample losses, grad norm) as tensors (no host sync)."""
        lr = lr_at(self.cfg, self.step, self._clock())
        for group in self.opt.param_groups:
            group["lr"] = lr
        counts = [target_count(b) for b in batch.packs]
        if self.mode == "none":  # one process, or sequence parallel: every rank has every pack
            total, scale = sum(counts), 1.0
        else:
            total = global_count(sum(counts))
            scale = float(self.world)  # DDP / FSDP2 average over ranks: undo it
        scale /= max(total, 1)
        self.opt.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        per_sample = []
        for i, (b, n) in enumerate(zip(batch.packs, counts)):
            with self._sync_gradients(i == len(batch.packs) - 1):
                pred = self._predict(b)
                target, weight = b.target.to(pred.device), b.weight.to(pred.device)
                if self.distil:  # world clips: the base model's prediction is the target
                    target = torch.where(
                        b.teacher.to(pred.device)[:, None], self._teacher(b), target
                    )
                loss, ps = flow_loss(pred, target, weight, b.packed.segments)
                pack_sum = loss * n  # sum of the per-sample losses with a target
                (pack_sum * scale).backward()
            loss_sum += pack_sum.detach()
            per_sample.append(ps)
        if self.sequence_parallel:
            all_reduce_gradients(self.model)  # partial sums over token slices
        elif self.mode != "none":
            dist.all_reduce(loss_sum)  # for logging: the global batch's loss
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.step)
        self.step += 1
        return loss_sum / max(total, 1), torch.cat(per_sample), full_tensor(grad_norm)

    # ---- the loop ----

    def run(self, *, max_steps: int | None = None, start: float | None = None) -> TrainResult:
        """Train until `cfg.steps` (or `cfg.minutes` of the whole run's wall time, the time of
        the runs it resumes included), then save the final EMA model. `max_steps` pauses after
        that many more steps: a checkpoint, no final model. `start`: `time.monotonic()` when
        the command started (default: when this trainer was built)."""
        from tqdm import tqdm

        cfg = self.cfg
        if start is not None:
            self._start = start
        stop_at = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        deadline = None
        if cfg.minutes is not None:
            deadline = self._start + 60 * cfg.minutes - self.elapsed_s
        log = MetricsLog(self.out) if self.main else None
        show = cfg.progress and self.main
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show, dynamic_ncols=True)
        window, last_loss, timed_out = _Window(), float("nan"), False
        snapshots = sorted(m for m in cfg.snapshots if 60 * m > self.elapsed_s)  # not yet saved
        try:
            while self.step < stop_at and not timed_out:
                batch = self.next_batch()
                loss, _, grad_norm = self.train_step(batch)
                window.add(loss, batch)
                bar.update(1)
                timed_out = deadline is not None and self._agree(time.monotonic() > deadline)
                if self.step % cfg.log_every == 0 or self.step == stop_at or timed_out:
                    # the loop's only host sync
                    metrics = window.metrics(cfg.token_budget * self.packs_per_step)
                    metrics.update(lr=self.opt.param_groups[0]["lr"], grad_norm=float(grad_norm))
                    if log is not None:
                        log.write(self.step, metrics)
                    last_loss = metrics["loss"]
                    bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                    window = _Window()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.write_samples(self.out / "samples" / f"step-{self.step:08d}")
                if snapshots and self._agree(self.elapsed() >= 60 * snapshots[0]):
                    self.save_final(self.out / f"at-{snapshots.pop(0):g}min")
                if self.step % cfg.checkpoint_every == 0 or timed_out:
                    self.save_checkpoint()
        finally:
            bar.close()
            if log is not None:
                log.close()
        if self.step % cfg.checkpoint_every:
            self.save_checkpoint()
        if self.step < cfg.steps and not timed_out:
            return TrainResult(self.step, last_loss, None)  # paused by max_steps
        self.write_samples(self.out / "samples" / "final")
        return TrainResult(self.step, last_loss, self.save_final())

    def elapsed(self) -> float:
        """Seconds of wall time of the whole run so far (the runs it resumes included)."""
        return self.elapsed_s + time.monotonic() - self._start

    def _clock(self) -> float | None:
        """The run's wall time for a schedule that reads it (rank 0's clock, shared), else None."""
        if self.cfg.lr_schedule != "wsd" or self.cfg.minutes is None:
            return None
        if self.world == 1:
            return self.elapsed()
        t = torch.tensor([self.elapsed()], dtype=torch.float64, device=self.device)
        dist.broadcast(t, 0)
        return float(t.item())

    def _agree(self, flag: bool) -> bool:
        """Rank 0's clock decides a time-bounded run's end for everyone (clocks differ)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, 0)
        return bool(t.item())

    # ---- outputs ----

    def ema_model(self) -> nn.Module | None:
        """The full EMA model on rank 0 (None elsewhere); every rank must call it."""
        # under --lora the frozen base weights are not in the EMA: the template brings them
        build = self._base_model if self.cfg.lora else lambda: build_model(self.cfg, self.codec)
        return self.ema.gather(build() if self.main else None)

    def write_samples(self, folder: Path) -> list[Path]:
        """Preview videos of `cfg.sample_prompts` from the EMA model (rank 0 writes them)."""
        model = self.ema_model()
        if model is None:
            return []
        latents = sample_latents(
            model,
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

    def save_final(self, folder: str | Path | None = None) -> Path:
        """`folder` (default `out/final`): `transformer/` (the EMA DiT), `vae/` (a copy, unless
        pixel space) and `training.json` (what sampling must reproduce: shift anchors, patch,
        text); under `--lora` the EMA adapter (`pytorch_lora_weights.safetensors`) instead of
        `transformer/` and `vae/`. Every rank calls it; the folder is complete when any rank
        returns."""
        final = self.out / "final" if folder is None else Path(folder)
        model = self.ema_model()
        if model is not None:
            if self.cfg.lora:
                captions = getattr(self.packer.stream_factory, "captions", None)
                save_adapter(final, model, self.cfg.lora, captions() if captions else None)
            else:
                save_pretrained(model, final / "transformer", safe_serialization=True)
            if self.codec.vae is not None and not self.cfg.lora:
                shutil.copytree(self.codec.source, final / "vae", dirs_exist_ok=True)
            (final / "training.json").write_text(json.dumps(self._final_info(), indent=2))
        if self.world > 1:
            dist.barrier()
        return final

    def _final_info(self) -> dict:
        return {
            "step": self.step,
            "vae": "vae" if self.codec.vae is not None else "none",
            "vae_source": self.codec.source,
            "shift": asdict(self.cfg.shift),
            "patch": list(self.cfg.patch),
            "text_encoder": getattr(self.text, "name", "all-MiniLM-L6-v2"),
            "text_max_length": self.cfg.text_max_length,
            "fps": self.cfg.fps,
            "elapsed_s": self.elapsed(),
            "config": self.cfg.to_dict(),
        }

    # ---- checkpoints ----

    def save_checkpoint(self) -> Path:
        """Every rank writes its shard; `out/checkpoints/step-XXXXXXXX` counts once complete."""
        data_tensors, data_meta = self.packer.state_dict()
        meta = {
            "format": FORMAT,
            "data": data_meta,
            "config": self.cfg.to_dict(),
            "packs_per_step": self.packs_per_step,
            "world_size": self.world,
            "parallel": "sequence" if self.sequence_parallel else self.mode,
            "elapsed_s": self.elapsed(),
        }
        return save_sharded(
            self.out / "checkpoints",
            self.step,
            self.model,
            self.opt,
            meta=meta,
            keep=self.cfg.keep_checkpoints,
            extra={"ema": self.ema.state_dict()},
            files={"data": data_tensors},
        )

    def _resume(self, path: Path, meta: dict) -> None:
        load_sharded(path, self.model, self.opt, extra={"ema": self.ema.state_dict()})
        files = load_files(path)
        self.packer.load_state_dict(files.get("data", {}), meta["data"])
        self.step = int(meta["step"])
        self.elapsed_s = float(meta["elapsed_s"])
        self.resumed_from = path
