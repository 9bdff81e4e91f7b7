"""Frame-level video metrics with no networks: steps, seams, flicker, motion, PSNR.

All intensities are in [0, 1] (uint8 / 255). A *step* is the mean absolute difference between
consecutive frames; a seam (where two pieces of a task's output meet) is judged against the
median step elsewhere in the same video, so the figure is scale-free and needs no reference.
"""

from __future__ import annotations

import numpy as np
import torch

from chronotope.autoencoder.metrics import psnr, ssim
from chronotope.eval.detect import Detection

PSNR_CAP = 100.0  # dB reported for identical frames (JSON has no infinity)


def steps(frames: np.ndarray) -> np.ndarray:
    """(T-1,) mean |frame[t+1] - frame[t]| in [0, 1]."""
    x = frames.astype(np.float32) / 255.0
    return np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))


def seam_ratio(frames: np.ndarray, seam: int) -> float:
    """Step into frame `seam` (from seam-1) over the median of every other step.

    1 means the seam is as smooth as the rest; a cut or a jump shows as a large ratio.
    """
    s = steps(frames)
    if not 1 <= seam < len(frames) or len(s) < 2:
        raise ValueError(f"seam {seam} needs frames on both sides of it ({len(frames)} frames)")
    others = np.delete(s, seam - 1)
    return float(s[seam - 1] / max(float(np.median(others)), 1e-6))


def wrap_ratio(frames: np.ndarray) -> float:
    """Step from the last frame back to the first, over the median step: a loop's seam."""
    s = steps(frames)
    wrap = np.abs(frames[0].astype(np.float32) - frames[-1].astype(np.float32)).mean() / 255.0
    return float(wrap / max(float(np.median(s)), 1e-6))


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
