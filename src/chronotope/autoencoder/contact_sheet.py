"""PNG contact sheets of reconstructions: for each clip, its input frames in one row and the
reconstructed frames in the row below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _row(video: torch.Tensor, max_frames: int) -> np.ndarray:
    """(3, T, H, W) in [-1,1] -> uint8 (H, min(T, max_frames) * W, 3), frames side by side."""
    v = ((video[:, :max_frames].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return v.permute(2, 1, 3, 0).flatten(1, 2).numpy()  # (H, T*W, 3)


def write_contact_sheet(
    path: str | Path, inputs: torch.Tensor, recons: torch.Tensor, *, max_frames: int = 9
) -> Path:
    """inputs, recons: (B, 3, T, H, W); writes rows input_0, recon_0, input_1, ... as one PNG."""
    rows = []
    for x, y in zip(inputs, recons):
        rows += [_row(x, max_frames), _row(y, max_frames)]
    sheet = np.concatenate(rows, axis=0)  # (2B*H, T*W, 3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path
