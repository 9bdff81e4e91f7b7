"""Reconstruction quality of a trained VAE: held-out world clips, or a clip file.

Both go through the memory-bounded path (`encode_stream` into `decode_stream`, bf16 autocast,
tiles on large frames) and score uint8 frames, as a viewer would see them. A file streams end
to end (PyAV frames in, chunks through the VAE, H.264 out), so an HD clip of any length runs
in the memory of one chunk and the causal state (`streaming.py`).
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from chronotope.autoencoder.metrics import ssim
from chronotope.autoencoder.sources import HELDOUT_SEED_BASE, frames_to_tensor
from chronotope.autoencoder.streaming import auto_tile
from chronotope.autoencoder.vae import CausalVAE
from chronotope.errors import UsageError
from chronotope.utils.precision import autocast


@dataclass
class Score:
    psnr: float  # dB over all pixels of all clips, uint8 frames
    ssim: float  # mean gaussian-window SSIM (see metrics.py)
    num_frames: int
    # the same per world scene family (single, pair, collision, ...), where clips have one
    by_family: dict[str, Score] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"psnr": round(self.psnr, 3), "ssim": round(self.ssim, 5), "frames": self.num_frames}
        if self.by_family:
            d["by_family"] = {k: v.to_dict() for k, v in sorted(self.by_family.items())}
        return d


class _Meter:
    """Accumulates squared error and SSIM frame by frame, so clips can stream through."""

    def __init__(self) -> None:
        self.sq, self.pixels, self.ssim_sum, self.frames = 0, 0, 0.0, 0

    def add(self, ref: np.ndarray, out: np.ndarray) -> None:
        """ref, out: uint8 (T, H, W, 3); one frame at a time, so an HD chunk costs a frame."""
        for a, b in zip(ref, out):
            d = (a.astype(np.int64) - b).ravel()  # (H*W*3,), in uint8 levels
            self.sq += int(d @ d)  # exact
            self.pixels += d.size
            planes = [torch.from_numpy(f).permute(2, 0, 1).double() / 255.0 for f in (a, b)]
            self.ssim_sum += ssim(*planes, data_range=1.0)  # (3, H, W) planes
            self.frames += 1

    def score(self) -> Score:
        mse = self.sq / 255.0**2 / max(1, self.pixels)
        value = float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))
        return Score(psnr=value, ssim=self.ssim_sum / max(1, self.frames), num_frames=self.frames)


def to_uint8_frames(video: torch.Tensor, *, overwrite: bool = False) -> np.ndarray:
    """(3, T, H, W) in [-1,1] -> uint8 (T, H, W, 3) (same as chronotope.data.to_uint8).
    `overwrite=True` converts a float32 `video` in place (it is spent): an HD chunk's float copy
    is 100 MB."""
    x = video.detach().float()
    if not overwrite and x.data_ptr() == video.data_ptr():
        x = x.clone()
    x = x.clamp_(-1, 1).add_(1).mul_(127.5).round_().to(torch.uint8)
    return x.permute(1, 2, 3, 0).numpy()


@torch.no_grad()
def reconstruct_iter(
    model: CausalVAE, chunks: Iterable[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A clip arriving as uint8 (t,H,W,3) parts in any cut (1 + k*ft frames in all) -> its
    (input, reconstruction) uint8 frame pairs, in order, one latent frame (ft frames) at a time.
    Each part is encoded as it arrives and each latent frame decoded as it is made, so memory
    holds one chunk through one tile (`TileSpec()`, on grids larger than it) and the causal
    state, whatever the clip's length."""
    parts = iter(chunks)
    first = next(parts, None)
    if first is None:
        raise UsageError("no frames to reconstruct")
    ft, fs = model.config.temporal_factor, model.config.spatial_factor
    model.check_size(1, *first.shape[1:3])  # names the nearest valid H x W
    tile = auto_tile(first.shape[1] // fs, first.shape[2] // fs)
    pending: deque[np.ndarray] = deque()  # input frames whose reconstruction is not out yet

    def tensors() -> Iterator[torch.Tensor]:
        for part in itertools.chain([first], parts):
            pending.extend(part)
            yield frames_to_tensor(part)[None]  # (1, 3, t, H, W)

    with autocast():
        encoded = model.encode_stream(tensors(), chunk_frames=ft, tile=tile)
        decoded = model.decode_stream(
            (mean for mean, _ in encoded), chunk_latent_frames=1, tile=tile
        )
        for chunk in decoded:
            out = to_uint8_frames(chunk[0], overwrite=True)
            del chunk
            yield np.stack([pending.popleft() for _ in range(len(out))]), out


def evaluate_world(
    model: CausalVAE,
    *,
    num_clips: int = 12,
    sizes: Sequence[tuple[int, int]] = ((64, 64), (64, 112), (112, 64)),
    num_frames: int = 17,
    seed_base: int = HELDOUT_SEED_BASE,
) -> Score:
    """PSNR/SSIM on world clips with seeds `seed_base + i` (never used in training), overall
    and per scene family (the families differ a lot: a still object reconstructs far better
    than a fast fall, whose positions within one latent frame's 4 pixel frames must be kept)."""
    from chronotope.world import generate_clip

    model.eval()
    meter, families = _Meter(), {}
    for i in range(num_clips):
        h, w = sizes[i % len(sizes)]
        clip = generate_clip(seed_base + i, width=w, height=h, num_frames=num_frames, fps=8.0)
        family = families.setdefault(clip.spec.family, _Meter())
        for ref, out in reconstruct_iter(model, [clip.frames]):
            meter.add(ref, out)
            family.add(ref, out)
    score = meter.score()
    score.by_family = {k: m.score() for k, m in families.items()}
    return score


def valid_frames(n: int, temporal_factor: int) -> int:
    """The longest encodable length <= n: 1 + k*ft."""
    return 1 + (n - 1) // temporal_factor * temporal_factor


def reconstruct_file(
    model: CausalVAE,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    max_frames: int | None = None,
) -> Score:
    """Encode + decode a clip file, write `dst` with as many frames as `src` has, and score it.
    Streamed end to end: frames are decoded, encoded, decoded again, scored and written chunk
    by chunk, so peak memory does not grow with the clip's length. A clip whose length is not
    1 + k*ft has its last latent frame filled with copies of its last frame, cut again from
    the output: no frame is lost."""
    from chronotope.data.video_io import VideoFrames, VideoWriter

    ft = model.config.temporal_factor
    reader = VideoFrames(src, max_frames=max_frames)
    read = [0]

    def encodable() -> Iterator[np.ndarray]:
        """The clip's chunks; the last one padded to whole latent frames (1 + k*ft in all)."""
        for i, part in enumerate(reader.chunks(ft)):
            read[0] += len(part)
            short = 0 if i == 0 else -len(part) % ft
            yield np.concatenate([part, part[-1:].repeat(short, axis=0)]) if short else part

    meter, written = _Meter(), 0
    with VideoWriter(dst, reader.fps or 1.0) as writer:
        # the padding is in the last chunk, which comes out after every frame has been read
        for ref, out in reconstruct_iter(model, encodable()):
            keep = min(len(out), read[0] - written)
            meter.add(ref[:keep], out[:keep])
            writer.write(out[:keep])
            written += keep
    return meter.score()


def write_video_chunks(path: str | os.PathLike, chunks: Iterable[np.ndarray], fps: float) -> Path:
    """Write uint8 (t,H,W,3) chunks as they come (`chronotope.data.VideoWriter`: an `.mp4` is
    encoded as it arrives, memory flat in length; other formats are collected)."""
    from chronotope.data.video_io import VideoWriter

    with VideoWriter(path, fps) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return Path(path)
