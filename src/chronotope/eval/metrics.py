"""Frame-level video metrics with no networks: flicker, motion, PSNR, SSIM.

All intensities are in [0, 1] (uint8 / 255). Steps, seams and a loop's wrap are in
`chronotope.tasks.seams` (the pipeline judges its candidate samples with them too).
"""

from __future__ import annotations

import numpy as np
import torch

from chronotope.autoencoder.metrics import psnr, ssim
from chronotope.eval.detect import Detection

PSNR_CAP = 100.0  # dB reported for identical frames (JSON has no infinity)


def object_mask(shape: tuple[int, int], dets: list[Detection], margin: int = 2) -> np.ndarray:
    """(H, W) bool: the detections' bboxes grown by `margin` px (blur and AA fringe)."""
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    for d in dets:
        x0, y0, x1, y1 = d.bbox
        mask[max(y0 - margin, 0) : y1 + margin + 1, max(x0 - margin, 0) : x1 + margin + 1] = True
    return mask


def flicker(frames: np.ndarray, detections: list[list[Detection]]) -> float:
    """Mean |step| over static pixels (outside every object in both frames), in [0, 1].

    VBench's temporal flickering score is 1 - this (there on all pixels of static videos; here
    the objects are masked out so moving content does not count as flicker).
    """
    h, w = frames.shape[1:3]
    x = frames.astype(np.float32) / 255.0
    vals = []
    for t in range(len(frames) - 1):
        static = ~(object_mask((h, w), detections[t]) | object_mask((h, w), detections[t + 1]))
        if static.any():
            vals.append(float(np.abs(x[t + 1] - x[t])[static].mean()))
    return float(np.mean(vals)) if vals else float("nan")


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images or clips (capped at PSNR_CAP for identical inputs)."""
    v = psnr(
        torch.from_numpy(a.astype(np.float32)),
        torch.from_numpy(b.astype(np.float32)),
        data_range=255.0,
    )
    return min(v, PSNR_CAP)


def video_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 clips (T,H,W,3)."""
    ta = torch.from_numpy(a.astype(np.float32)).permute(0, 3, 1, 2)  # (T,3,H,W)
    tb = torch.from_numpy(b.astype(np.float32)).permute(0, 3, 1, 2)
    return ssim(ta, tb, data_range=255.0)
