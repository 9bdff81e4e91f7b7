"""Exponential moving average of the weights (Polyak averaging), kept as a full model copy so
it can be sampled from and `save_pretrained` directly."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`ema = d * ema + (1 - d) * param` after each step, with d warmed up as
    min(decay, (1 + step) / (10 + step)) so early averages are not dominated by the init."""

    def __init__(self, model: nn.Module, *, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._ema = [p for p in self.model.parameters()]
        self._src = [p for p in model.parameters()]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        # lerp(ema, p, 1 - d) = ema + (1 - d) * (p - ema), one fused kernel over all tensors
        torch._foreach_lerp_(self._ema, self._src, 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
