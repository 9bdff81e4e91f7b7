"""Per-channel latent statistics, stored in the VAE config so the DiT sees unit-variance
latents (`CausalVAE.normalize`)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from chronotope.autoencoder.vae import CausalVAE
from chronotope.utils.precision import autocast


@torch.no_grad()
def compute_latent_stats(
    model: CausalVAE, videos: Iterable[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (C,) of posterior means over all latent positions of `videos` (B,3,T,H,W);
    accumulated in float64 (sum, sum of squares) so batches of any size mix correctly."""
    c = model.config.latent_channels
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for video in videos:
        with autocast(video.device.type):
            mean, _ = model.encode(video)
        z = mean.double().transpose(0, 1).reshape(c, -1)  # (C, B*T'*H'*W')
        total += z.sum(1)
        total_sq += z.pow(2).sum(1)
        count += z.shape[1]
    mu = total / count
    std = (total_sq / count - mu**2).clamp_min(1e-12).sqrt()
    return mu.float(), std.float()
