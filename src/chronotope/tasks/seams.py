"""Seams: where known frames meet generated ones, judged by the video's own steps.

A *step* is the mean absolute difference between consecutive frames (intensities in [0, 1]); a
seam's ratio is its step over the median of every other step of the same video, so 1 is as
smooth as the rest and a jump shows as a large ratio, with no reference needed; a loop's wrap
(its last frame into its first) is judged the same way. The pipeline uses them to choose among
candidate samples of a window, `chronotope eval` to judge the tasks.
"""

from __future__ import annotations

import numpy as np


def steps(frames: np.ndarray) -> np.ndarray:
    """(T-1,) mean |frame[t+1] - frame[t]| in [0, 1] of uint8 frames (T,H,W,3)."""
    x = frames.astype(np.float32) / 255.0
    return np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))


def _ratio(s: np.ndarray, seam: int) -> float:
    others = np.delete(s, seam - 1)
    return float(s[seam - 1] / max(float(np.median(others)), 1e-6))


def seam_ratio(frames: np.ndarray, seam: int) -> float:
    """Step into frame `seam` (from seam-1) over the median of every other step."""
    s = steps(frames)
    if not 1 <= seam < len(frames) or len(s) < 2:
        raise ValueError(f"seam {seam} needs frames on both sides of it ({len(frames)} frames)")
    return _ratio(s, seam)


def wrap_ratio(frames: np.ndarray) -> float:
    """Step from the last frame back to the first, over the median step: a loop's seam."""
    s = steps(frames)
    wrap = np.abs(frames[0].astype(np.float32) - frames[-1].astype(np.float32)).mean() / 255.0
    return float(wrap / max(float(np.median(s)), 1e-6))


def _log_distance(ratio: float) -> float:
    return abs(float(np.log(max(ratio, 1e-6))))


def seam_positions(known: np.ndarray) -> list[int]:
    """Frames t where a known frame and a generated one meet (known[t] != known[t-1])."""
    known = np.asarray(known, bool)
    return [int(t) for t in np.flatnonzero(known[1:] != known[:-1]) + 1]


def moving_seams(frames: np.ndarray, known: np.ndarray) -> list[int]:
    """The seams whose given side shows motion to continue: at least two known frames in a row
    beside the seam, not all alike. A lone given image (image-to-video) or a held frame (a last
    image) sets no pace: from rest the first step of a fall is rightly the smallest."""
    known = np.asarray(known, bool)
    out = []
    for t in seam_positions(known):
        side, step = (t - 1, -1) if known[t - 1] else (t, 1)  # the known frame at the seam
        run = [side]
        while 0 <= run[-1] + step < len(known) and known[run[-1] + step]:
            run.append(run[-1] + step)
        if len(run) >= 2 and any(not np.array_equal(frames[run[0]], frames[i]) for i in run[1:]):
            out.append(t)
    return out


def seam_discontinuity(
    frames: np.ndarray, known: np.ndarray, seams: list[int] | None = None
) -> float:
    """How far the worst seam of a video whose frames `known` were given is from an ordinary
    step: max over seams (default: all, `seam_positions`) of |log(seam ratio)|, 0 with no
    seam. A jump (ratio 3) and a stall (ratio 1/3, the motion stopping at the seam) count
    alike."""
    seams = seam_positions(known) if seams is None else seams
    if not seams or len(frames) < 3:
        return 0.0
    s = steps(frames)
    return max(_log_distance(_ratio(s, t)) for t in seams)


def wrap_discontinuity(frames: np.ndarray) -> float:
    """|log(wrap ratio)| of a loop's period: its last frame into its first against its steps."""
    return _log_distance(wrap_ratio(frames)) if len(frames) >= 3 else 0.0
