"""Training noise levels: logit-normal sampling (SD3, Esser et al. 2024, sec. 3.1)."""

from __future__ import annotations

import torch


def sample_sigma(
    n: int, generator: torch.Generator | None = None, *, mean: float = 0.0, std: float = 1.0
) -> torch.Tensor:
    """`n` noise levels `sigmoid(mean + std * N(0,1))` in (0,1), float32.

    Logit-normal puts most weight on middle noise levels, where the velocity is hardest to
    predict, and little on the near-trivial ends; the median is sigmoid(mean).
    """
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator))
