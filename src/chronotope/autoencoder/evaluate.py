"""Reconstruction quality of a trained VAE: held-out world clips, or a clip file.

Both go through the memory-bounded path (`encode_chunked` + `decode_iter`, bf16 autocast, the
way the pipeline uses the VAE) and score uint8 frames, as a viewer would see them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
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
        self.sq, self.pixels, self.ssim_sum, self.frames = 0.0, 0, 0.0, 0

    def add(self, ref: np.ndarray, out: np.ndarray) -> None:
        """ref, out: uint8 (T, H, W, 3)."""
        a = torch.from_numpy(ref).float() / 255.0
        b = torch.from_numpy(out).float() / 255.0
        self.sq += (a.double() - b.double()).pow(2).sum().item()
        self.pixels += a.numel()
        planes_a, planes_b = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)  # (T, 3, H, W)
        self.ssim_sum += ssim(planes_a, planes_b, data_range=1.0) * a.shape[0]
        self.frames += a.shape[0]

    def score(self) -> Score:
        mse = self.sq / max(1, self.pixels)
        value = float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))
        return Score(psnr=value, ssim=self.ssim_sum / max(1, self.frames), num_frames=self.frames)


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1,1] -> uint8 (T, H, W, 3) (same as chronotope.data.to_uint8)."""
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).numpy()


@torch.no_grad()
def reconstruct_iter(
    model: CausalVAE, frames: np.ndarray, *, chunk_latent_frames: int = 2
) -> Iterator[np.ndarray]:
    """uint8 (T,H,W,3) -> reconstructed uint8 chunks in order (T must be 1 + k*ft)."""
    video = frames_to_tensor(frames)[None]  # (1, 3, T, H, W)
    fs = model.config.spatial_factor
    tile = auto_tile(video.shape[3] // fs, video.shape[4] // fs)
    with autocast():
        mean, _ = model.encode_chunked(video, tile=tile)
        for chunk in model.decode_iter(mean, chunk_latent_frames=chunk_latent_frames, tile=tile):
            yield to_uint8_frames(chunk[0])


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
        start = 0
        for out in reconstruct_iter(model, clip.frames):
            ref = clip.frames[start : start + len(out)]
            meter.add(ref, out)
            family.add(ref, out)
            start += len(out)
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
) -> tuple[Score, int]:
    """Encode + decode a clip file, write `dst`, return (score, frames dropped to fit 1 + k*ft)."""
    from chronotope.data.video_io import read_video

    video = read_video(src, max_frames=max_frames)
    frames = video.frames
    h, w = frames.shape[1:3]
    model.check_size(1, h, w)  # names the nearest valid H x W
    keep = valid_frames(len(frames), model.config.temporal_factor)
    frames = frames[:keep]
    meter = _Meter()

    def scored() -> Iterator[np.ndarray]:
        start = 0
        for out in reconstruct_iter(model, frames):
            meter.add(frames[start : start + len(out)], out)
            start += len(out)
            yield out

    write_video_chunks(dst, scored(), video.fps)
    return meter.score(), len(video.frames) - keep


def write_video_chunks(path: str | os.PathLike, chunks: Iterable[np.ndarray], fps: float) -> Path:
    """Write uint8 (t,H,W,3) chunks as they come: `.mp4` streams through PyAV (memory flat in
    length, written to a temporary name then renamed); other formats are collected and handed
    to `chronotope.data.write_video`."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        from chronotope.data.video_io import write_video

        return write_video(path, np.concatenate(list(chunks)), fps)
    import av

    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with av.open(str(tmp), "w") as out:
            stream = None
            for chunk in chunks:
                if stream is None:
                    stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.height, stream.width = (s + s % 2 for s in chunk.shape[1:3])
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": "18"}
                for frame in chunk:
                    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
                    img = av.VideoFrame.from_ndarray(
                        np.pad(frame, pad, mode="edge"), format="rgb24"
                    )
                    out.mux(stream.encode(img))
            if stream is None:
                raise UsageError("no frames to write")
            out.mux(stream.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
