"""The rectified-flow loss over a packed batch: per sample first, then the mean over samples."""

from __future__ import annotations

import torch

from chronotope.tokens.segments import Segments


def flow_loss(
    pred_v: torch.Tensor,
    target_v: torch.Tensor,
    per_token_weight: torch.Tensor,
    segments: Segments,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scalar loss and per-sample losses (num_samples,) for packed (L, D) predictions.

    A sample's loss is the weighted mean squared error over its tokens (weight 0 for
    conditioning tokens, which carry no target); the batch loss is the plain mean over samples,
    so a 500-token clip counts as much as a 16-token image. A trailing padding segment is
    skipped. Computed in float32 whatever the autocast dtype of `pred_v`.
    """
    err = (pred_v.float() - target_v.float()).pow(2).mean(dim=-1)  # (L,) per-token MSE
    w = per_token_weight.float()
    ids = segments.segment_ids(device=err.device)  # (L,)
    num = torch.zeros(len(segments), device=err.device).index_add(0, ids, err * w)
    den = torch.zeros(len(segments), device=err.device).index_add(0, ids, w)
    n = segments.num_samples
    # a sample with no noisy token (never drawn by `random_task_mask`) is left out of the mean
    has_target = (den[:n] > 0).float()
    per_sample = num[:n] / den[:n].clamp(min=1e-12)
    loss = (per_sample * has_target).sum() / has_target.sum().clamp(min=1)
    return loss, per_sample.detach()
