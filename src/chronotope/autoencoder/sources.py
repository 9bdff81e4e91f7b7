"""Training batches for the VAE, each a pure function of (seed, step).

Because batch `step` depends on nothing but the seed and the step number, the "data position"
of a checkpoint is just its step, and a resumed run sees exactly the batches an uninterrupted
run would. Every batch holds clips of one size (mixed sizes across steps).

- `WorldSource`: clips rendered by `chronotope.world` at mixed sizes and lengths; training seeds
  are drawn below `world.seeds.TRAIN_SEEDS`, so they never reach the VAE's held-out clips
  (`HELDOUT_SEED_BASE + i`) or the eval's (`world.seeds.EVAL_SEEDS`).
- `VideoSource`: random crops (time and space) of real clips listed in a manifest CSV or given
  as video files; decoded frames are cached in memory (meant for small clip sets).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from chronotope.errors import UsageError
from chronotope.world.seeds import TRAIN_SEEDS

# The VAE's held-out clips use seeds HELDOUT_SEED_BASE + i, above every training seed.
HELDOUT_SEED_BASE = 2_000_000_000
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (64, 112), (112, 64))  # (H, W)
# convolutions are local in time: clips of up to 9 frames teach what 17 would, at half the cost
DEFAULT_FRAMES: tuple[int, ...] = (1, 5, 9)


class BatchSource(Protocol):
    def batch(self, step: int) -> torch.Tensor:
        """Video batch (B, 3, T, H, W) in [-1, 1] for training step `step`."""
        ...


def _rng(seed: int, step: int) -> np.random.Generator:
    # negative steps (fixed sample / statistics batches) map to keys no training step uses
    return np.random.default_rng([seed, step % 2**63])


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T,H,W,3) -> float (3,T,H,W) in [-1,1] (same as chronotope.data.to_tensor)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # (3, T, H, W)
    return x.float() / 127.5 - 1.0


class WorldSource:
    def __init__(
        self,
        *,
        seed: int,
        batch_size: int,
        sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
        frames: Sequence[int] = DEFAULT_FRAMES,
        fps: float = 8.0,
    ):
        self.seed, self.batch_size, self.sizes, self.frames, self.fps = (
            seed,
            batch_size,
            list(sizes),
            list(frames),
            fps,
        )

    def clip_seed(self, step: int, i: int) -> int:
        return (self.seed * 1_000_003 + step * self.batch_size + i) % TRAIN_SEEDS

    def batch(self, step: int) -> torch.Tensor:
        from chronotope.world import generate_clip

        rng = _rng(self.seed, step)
        h, w = self.sizes[rng.integers(len(self.sizes))]
        t = int(self.frames[rng.integers(len(self.frames))])
        clips = [
            generate_clip(self.clip_seed(step, i), width=w, height=h, num_frames=t, fps=self.fps)
            for i in range(self.batch_size)
        ]
        return torch.stack([frames_to_tensor(c.frames) for c in clips])  # (B, 3, T, H, W)


def video_paths(data: str | os.PathLike) -> list[Path]:
    """A manifest CSV's clip paths, or a single video file."""
    path = Path(data)
    if not path.exists():
        raise UsageError(f"--data {data}: no such file (use 'world', a manifest .csv or a video)")
    if path.suffix.lower() == ".csv":
        from chronotope.data.manifest import read_manifest

        manifest = read_manifest(path)
        return [manifest.resolve(row) for row in manifest]
    return [path]


class VideoSource:
    """Random (T, H, W) crops of real clips; crops are multiples of fs, T = 1 + k*ft."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        seed: int,
        batch_size: int,
        crop: tuple[int, int] = (64, 64),
        frames: Sequence[int] = DEFAULT_FRAMES,
        max_frames: int = 300,
    ):
        from chronotope.data.video_io import read_video

        self.clips = [read_video(p, max_frames=max_frames).frames for p in paths]  # (T,H,W,3)
        usable = [c for c in self.clips if c.shape[1] >= crop[0] and c.shape[2] >= crop[1]]
        if not usable:
            raise UsageError(f"no clip is at least {crop[0]}x{crop[1]} (HxW) for the crop size")
        self.clips = usable
        self.seed, self.batch_size, self.crop, self.frames = seed, batch_size, crop, list(frames)

    def batch(self, step: int) -> torch.Tensor:
        rng = _rng(self.seed, step)
        t = int(self.frames[rng.integers(len(self.frames))])
        ch, cw = self.crop
        out = []
        for _ in range(self.batch_size):
            clip = self.clips[rng.integers(len(self.clips))]
            tt = t if clip.shape[0] >= t else 1  # a too-short clip gives an image
            t0 = rng.integers(clip.shape[0] - tt + 1)
            y0 = rng.integers(clip.shape[1] - ch + 1)
            x0 = rng.integers(clip.shape[2] - cw + 1)
            crop = clip[t0 : t0 + tt, y0 : y0 + ch, x0 : x0 + cw]
            if rng.random() < 0.5:
                crop = crop[:, :, ::-1]  # horizontal flip
            out.append(frames_to_tensor(crop))
        t_min = min(v.shape[1] for v in out)  # all clips of one batch share T
        return torch.stack([v[:, :t_min] for v in out])  # (B, 3, T, H, W)
