"""VAE training loss: L1 + MSE + an edge (finite-difference) term + a temporal term + a small KL.

The world's frames are flat colors with sharp edges: plain L1 blurs edges first, so the
gradient term (L1 between spatial and temporal finite differences) weights exactly the pixels
where PSNR is lost. L1 also gives every pixel the same gradient however wrong it is, so a small
object that the decoder leaves out (a few pixels, error ~1) pulls no harder than the background
around it (error ~0.05) and fades for thousands of steps; the MSE term's gradient grows with the
error and brings such objects back (and it is what PSNR measures). No perceptual network
(nothing is downloaded).

The temporal term (MSE between frame-to-frame differences, off by default) is for the causal
latent's chunk boundaries: frames decoded from two latent frames change more from one to the next
than frames of the same chunk, so a played clip steps every `ft` frames. Squared, so the one
large boundary step costs more than the same change spread evenly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossWeights:
    l1: float = 1.0
    mse: float = 1.0
    edge: float = 0.5
    kl: float = 1e-6
    temporal: float = 0.0


def edge_l1(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between finite differences along H, W (and T when there are >1 frames)."""
    terms = []
    for dim in (3, 4, 2):
        if target.shape[dim] > 1:
            terms.append((recon.diff(dim=dim) - target.diff(dim=dim)).abs().mean())
    return torch.stack(terms).mean()


def temporal_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the frame-to-frame differences of (B, C, T, H, W) videos; 0 for images."""
    if target.shape[2] < 2:
        return recon.new_zeros(())
    return (recon.diff(dim=2) - target.diff(dim=2)).pow(2).mean()


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), averaged over latent elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def vae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    weights: LossWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss (fp32) and its parts, for logging."""
    recon, mean, logvar = recon.float(), mean.float(), logvar.float()
    err = recon - target
    l1, mse = err.abs().mean(), err.pow(2).mean()
    edge = edge_l1(recon, target)
    kl = kl_divergence(mean, logvar)
    total = weights.l1 * l1 + weights.mse * mse + weights.edge * edge + weights.kl * kl
    parts = {"l1": l1.item(), "mse": mse.item(), "edge": edge.item(), "kl": kl.item()}
    if weights.temporal:  # off by default: no extra pass over the video
        temporal = temporal_mse(recon, target)
        total = total + weights.temporal * temporal
        parts["temporal"] = temporal.item()
    return total, parts
