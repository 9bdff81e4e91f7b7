"""`Trainer` under torchrun: data parallel (DDP, or FSDP2 with `parallel="fsdp"`) or Ulysses
sequence parallel training of the same model on the same data as the single-process run.

A step's global batch is `packs_per_step` packs drawn from the packer. Every rank runs the same
packer on the same stream, so every rank knows the whole global batch; it then keeps only its
share (`balance_packs`: equal pack counts, balanced tokens and attention cost) and builds noise,
sigma and task masks for those packs only, each from a generator seeded by (seed, step, pack
index). So the global batch does not depend on the number of ranks: a run resumed on another
world size continues the same run, and one process (`world_size` 1) is the oracle the tests
compare against. Gradients are accumulated pack by pack (no sync until the last one) and each
pack's loss is scaled so that the data-parallel gradient average is the gradient of the mean
over every sample of the global batch, as `global_sample_mean` explains.

Sequence parallelism instead gives every pack to every rank, split by tokens (`shard_pack`),
and sums the partial gradients (`all_reduce_gradients`): for packs too long for one GPU.

Checkpoints are DCP folders (`save_sharded`) in the same `out/checkpoints`; the EMA weights are
kept sharded like the model. Only rank 0 writes logs, previews and `out/final/` (the same
layout as the single-process run: an EMA `save_pretrained` folder in safetensors).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor

from chronotope.distributed.balance import balance_packs
from chronotope.distributed.checkpoint import (
    is_sharded,
    latest_complete,
    load_files,
    load_sharded,
    save_sharded,
)
from chronotope.distributed.parallelize import comm_device, global_count, parallelize, unwrap
from chronotope.distributed.sequence import all_reduce_gradients, shard_pack
from chronotope.errors import UsageError
from chronotope.flow import flow_loss
from chronotope.training.batches import TrainBatch, make_batch
from chronotope.training.config import TrainConfig, lr_at
from chronotope.training.logs import MetricsLog
from chronotope.training.trainer import _RESUME_FIXED, Trainer, TrainResult, _Window, build_model
from chronotope.utils.precision import autocast

FORMAT = "chronotope-sharded-v1"


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if isinstance(t, DTensor) else t


def _full(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor (an all-gather under FSDP2: every rank must call)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


class ShardedEMA:
    """`training.EMA`'s average, kept like the parameters it follows: replicated under DDP,
    sharded (DTensors) under FSDP2, so it costs no gather per step. `gather()` builds the full
    EMA model for previews and export (a collective: every rank calls it; rank 0 gets it)."""

    def __init__(self, model: nn.Module, *, decay: float):
        self.decay = decay
        self.names = [n for n, p in model.named_parameters()]
        self._src = [p for p in model.parameters()]
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.model: nn.Module | None = None  # the gathered full model, on rank 0

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # the same warmup as `training.EMA`
        ema = [_local(self.shadow[n]) for n in self.names]
        torch._foreach_lerp_(ema, [_local(p.detach()) for p in self._src], 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow  # DCP fills these tensors in place on load

    def gather(self, template: nn.Module, main: bool) -> nn.Module | None:
        """Full EMA weights loaded into `template` (a plain model) on the main rank."""
        full = {n: _full(t).detach() for n, t in self.shadow.items()}
        if not main:
            return None
        missing, unexpected = template.load_state_dict(full, strict=False)
        buffers = {n for n, _ in template.named_buffers()}
        if unexpected or not set(missing) <= buffers:
            raise RuntimeError(f"EMA keys do not match the model: {missing} {unexpected}")
        self.model = template.eval().requires_grad_(False)
        return self.model


@dataclass
class StepBatch:
    """This rank's packs of one global batch, and the global batch's totals (for logs)."""

    packs: list[TrainBatch]
    tokens: int  # tokens of the whole global batch
    samples: int


class DistributedTrainer(Trainer):
    """`Trainer` over the ranks of the current process group (or one process, no group)."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        parallel: str = "ddp",
        sequence_parallel: bool = False,
        packs_per_step: int | None = None,
        activation_checkpointing: bool = False,
        compile: bool = False,
        mixed_precision: torch.dtype | None = None,
        stream_factory=None,
        codec=None,
        text_encoder=None,
    ):
        if parallel not in ("ddp", "fsdp"):
            raise UsageError(f"--parallel must be ddp or fsdp, got {parallel!r}", param="parallel")
        grouped = dist.is_initialized()
        self.rank = dist.get_rank() if grouped else 0
        self.world = dist.get_world_size() if grouped else 1
        self.main = self.rank == 0
        # one rank splits nothing: the same run as without the flag
        self.sequence_parallel = sequence_parallel = sequence_parallel and self.world > 1
        if packs_per_step is None:  # a pack per rank; under SP the ranks share each pack
            packs_per_step = 1 if sequence_parallel else self.world
        self.packs_per_step = packs_per_step
        if self.packs_per_step < 1:
            raise UsageError("--packs-per-step must be >= 1", param="packs_per_step")
        if not sequence_parallel and self.packs_per_step % self.world:
            raise UsageError(
                f"--packs-per-step ({self.packs_per_step}) must be a multiple of the number of "
                f"ranks ({self.world}): every rank runs the same number of forwards",
                param="packs_per_step",
            )
        if self.world == 1 or sequence_parallel:
            self.mode = "none"
        else:
            self.mode = parallel
        if mixed_precision is not None and self.mode != "fsdp":
            raise UsageError("--mixed-precision applies to --parallel fsdp on several ranks")
        self._wrap = dict(
            activation_checkpointing=activation_checkpointing,
            compile=compile,
            mixed_precision=mixed_precision,
        )
        nccl = grouped and dist.get_backend() == "nccl"
        self.device = comm_device() if nccl else torch.device("cpu")
        # Trainer.__init__ builds the plain model, EMA, optimizer and packer, then calls
        # `_resume` last: the parallel wrapping happens there, before any state is loaded
        super().__init__(cfg, stream_factory=stream_factory, codec=codec, text_encoder=text_encoder)

    # ---- setup ----

    def _setup_parallel(self) -> None:
        cfg = self.cfg
        self.model = parallelize(self.model.to(self.device), mode=self.mode, **self._wrap)
        self.inner = unwrap(self.model)
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=cfg.lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
            # fused AdamW as the single-process run; FSDP2's DTensors take the for-loop one
            fused=self.mode != "fsdp",
            foreach=False if self.mode == "fsdp" else None,
        )
        self.ema = ShardedEMA(self.inner, decay=cfg.ema_decay)
        self.generator = None  # noise comes from per-pack generators (`_pack_generator`)

    def _resume(self) -> None:
        self._setup_parallel()
        path = latest_complete(self.out / "checkpoints")
        if path is None:
            return
        if not is_sharded(path):
            raise UsageError(
                f"{path} is a single-process checkpoint; resume it with `chronotope train` "
                "in one process (no torchrun, no --parallel), or use another --out"
            )
        meta = json.loads((path / "meta.json").read_text())
        saved = meta["config"]
        for name in _RESUME_FIXED:
            mine = json.loads(json.dumps(getattr(self.cfg, name)))
            if saved.get(name) != mine:
                raise UsageError(
                    f"--{name.replace('_', '-')} is {mine} but the checkpoint in {path} was "
                    f"trained with {saved.get(name)}; use another --out to start afresh",
                    param=name,
                )
        if meta["packs_per_step"] != self.packs_per_step:
            raise UsageError(
                f"--packs-per-step is {self.packs_per_step} but the checkpoint in {path} was "
                f"trained with {meta['packs_per_step']} (the global batch); pass that value",
                param="packs_per_step",
            )
        load_sharded(path, self.model, self.opt, extra={"ema": self.ema.state_dict()})
        files = load_files(path)
        self.packer.load_state_dict(files.get("data", {}), meta["data"])
        self.step = int(meta["step"])
        self.resumed_from = path

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

    def _predict(self, batch: TrainBatch) -> torch.Tensor:
        p, dev = batch.packed, self.device
        args = (p.tokens.to(dev), p.sigma.to(dev), p.positions.to(dev), p.segments)
        args += (p.text.to(dev), p.text_segments)
        with autocast(dev.type):
            if not self.sequence_parallel:
                return self.model(*args)
            shard = shard_pack(*args)
            return shard.gather(self.model(*shard.model_args()))

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
        per-sample losses, grad norm)."""
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.cfg, self.step)
        counts = [_targets(b) for b in batch.packs]
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
                loss, ps = flow_loss(pred, target, weight, b.packed.segments)
                pack_sum = loss * n  # sum of the per-sample losses with a target
                (pack_sum * scale).backward()
            loss_sum += pack_sum.detach()
            per_sample.append(ps)
        if self.sequence_parallel and self.world > 1:
            all_reduce_gradients(self.model)  # partial sums over token slices
        elif self.mode != "none":
            dist.all_reduce(loss_sum)  # for logging: the global batch's loss
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.step)
        self.step += 1
        return loss_sum / max(total, 1), torch.cat(per_sample), _full(grad_norm)

    # ---- the loop ----

    def run(self, *, max_steps: int | None = None) -> TrainResult:
        """`Trainer.run` on every rank; logs, previews and the final model from rank 0."""
        from tqdm import tqdm

        cfg = self.cfg
        stop_at = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        deadline = None if cfg.minutes is None else time.monotonic() + 60 * cfg.minutes
        log = MetricsLog(self.out) if self.main else None
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=not (cfg.progress and self.main),
            dynamic_ncols=True,
        )
        window, last_loss, timed_out = _Window(), float("nan"), False
        try:
            while self.step < stop_at and not timed_out:
                batch = self.next_batch()
                loss, _, grad_norm = self.train_step(batch)
                window.losses.append(loss)
                window.tokens += batch.tokens
                window.samples += batch.samples
                bar.update(1)
                timed_out = deadline is not None and self._agree(time.monotonic() > deadline)
                if self.step % cfg.log_every == 0 or self.step == stop_at or timed_out:
                    metrics = window.metrics(cfg.token_budget * self.packs_per_step)
                    metrics.update(lr=lr_at(cfg, self.step - 1), grad_norm=float(grad_norm))
                    if log is not None:
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
            if log is not None:
                log.close()
        if self.step % cfg.checkpoint_every:
            self.save_checkpoint()
        if self.step < cfg.steps and not timed_out:
            return TrainResult(self.step, last_loss, None)
        self.write_samples(self.out / "samples" / "final")
        return TrainResult(self.step, last_loss, self.save_final())

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
        template = build_model(self.cfg, self.codec) if self.main else None
        return self.ema.gather(template, self.main)

    def write_samples(self, folder: Path) -> list[Path]:
        if self.ema_model() is None:
            return []
        return super().write_samples(folder)

    def save_final(self) -> Path:
        if self.ema_model() is not None:
            super().save_final()
        if self.world > 1:
            dist.barrier()  # the folder is complete when any rank returns
        return self.out / "final"

    def save_checkpoint(self) -> Path:
        data_tensors, data_meta = self.packer.state_dict()
        meta = {
            "format": FORMAT,
            "data": data_meta,
            "config": self.cfg.to_dict(),
            "packs_per_step": self.packs_per_step,
            "world_size": self.world,
            "parallel": "sequence" if self.sequence_parallel else self.mode,
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


def _targets(batch: TrainBatch) -> int:
    """Samples of a pack with at least one noisy token: those `flow_loss` averages over."""
    seg = batch.packed.segments
    den = torch.zeros(len(seg)).index_add(0, seg.segment_ids(), batch.weight.float().cpu())
    return int((den[: seg.num_samples] > 0).sum())
