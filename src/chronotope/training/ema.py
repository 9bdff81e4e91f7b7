"""Exponential moving average of the weights (Polyak averaging), kept like the parameters it
follows: plain tensors in one process or under DDP, DTensor shards under FSDP2 (no gather per
step). `gather` builds the full EMA model for previews and export."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.tensor import DTensor


def local_tensor(t: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a DTensor; a plain tensor as it is."""
    return t.to_local() if isinstance(t, DTensor) else t


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor (an all-gather under FSDP2: every rank must call)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


class EMA:
    """`ema = d * ema + (1 - d) * param` after each step, with d warmed up as
    min(decay, (1 + step) / (10 + step)) so early averages are not dominated by the init.
    Only trained parameters are averaged (frozen ones, a LoRA run's base, never change)."""

    def __init__(self, model: nn.Module, *, decay: float):
        self.decay = decay
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in trained]
        self._src = [p for _, p in trained]
        self.shadow = {n: p.detach().clone() for n, p in trained}

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        ema = [local_tensor(self.shadow[n]) for n in self.names]
        # lerp(ema, p, 1 - d) = ema + (1 - d) * (p - ema), one fused kernel over all tensors
        torch._foreach_lerp_(ema, [local_tensor(p.detach()) for p in self._src], 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow  # a checkpoint load fills these tensors in place

    def gather(self, template: nn.Module | None) -> nn.Module | None:
        """The full EMA weights loaded into `template` (a plain model of the same config, with
        the frozen weights the EMA does not hold), on the rank that passes one (the others pass
        None and get None); every rank calls it."""
        full = {n: full_tensor(t).detach() for n, t in self.shadow.items()}
        if template is None:
            return None
        missing, unexpected = template.load_state_dict(full, strict=False)
        buffers = {n for n, _ in template.named_buffers()}
        frozen = {n for n, p in template.named_parameters() if not p.requires_grad}
        if unexpected or not set(missing) <= buffers | frozen:
            raise RuntimeError(f"EMA keys do not match the model: {missing} {unexpected}")
        return template.eval().requires_grad_(False)
