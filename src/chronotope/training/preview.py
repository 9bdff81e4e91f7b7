"""Preview samples during training: a few fixed prompts sampled with Euler through the EMA model,
decoded, and written as videos (or PNG frames when no video writer is available)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from chronotope.flow import (
    cfg_model_fn,
    euler,
    make_schedule,
    shift_for_tokens,
    token_schedules,
)
from chronotope.tokens import PackedBatch, Segments
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec
from chronotope.utils.precision import autocast


@torch.no_grad()
def sample_latents(
    model: torch.nn.Module,
    prompts: list[str],
    *,
    cfg: TrainConfig,
    codec: LatentCodec,
    encode_text,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Text-to-video for `prompts` at the preview size, all packed into one sequence."""
    width, height = cfg.sample_size
    grid_shape = (codec.channels, *codec.latent_shape(cfg.sample_frames, height, width))
    g = torch.Generator().manual_seed(seed)
    noise = [torch.randn(grid_shape, generator=g) for _ in prompts]  # (C,T',H',W') each
    texts = encode_text(list(prompts))
    packed = PackedBatch.from_latents(noise, patch=tuple(cfg.patch), text=texts)
    n = packed.samples[0].num_tokens
    schedule = make_schedule(cfg.sample_steps, shift=shift_for_tokens(n, **asdict(cfg.shift)))
    sigmas = token_schedules([schedule] * len(prompts), packed.segments.seqlens)
    empty = encode_text([""] * len(prompts))
    uncond_text = torch.cat(empty)
    uncond_segments = Segments(tuple(t.shape[0] for t in empty))

    def velocity(text, text_segments):
        def fn(x, sigma):
            with autocast(x.device.type):
                v = model(x, sigma, packed.positions, packed.segments, text, text_segments)
            return v.float()

        return fn

    model_fn = cfg_model_fn(
        velocity(packed.text, packed.text_segments),
        velocity(uncond_text, uncond_segments),
        cfg.sample_guidance,
    )
    x = euler(model_fn, packed.tokens.float(), sigmas)
    return packed.unpack_latents(x)


def write_previews(videos: list[torch.Tensor], folder: Path, fps: float) -> list[Path]:
    """Write each (3,T,H,W) video in [-1,1] as mp4 (via chronotope.data) or PNG frames."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, video in enumerate(videos):
        frames = ((video.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255)
        frames = frames.to(torch.uint8).numpy()  # (T,H,W,3)
        try:
            from chronotope.data import write_video
        except ImportError:
            write_video = None
        if write_video is not None:
            path = folder / f"sample{i}.mp4"
            write_video(path, frames, fps)
            paths.append(path)
            continue
        from PIL import Image

        strip = np.concatenate(list(frames), axis=1)  # (H, T*W, 3): the frames side by side
        path = folder / f"sample{i}.png"
        Image.fromarray(strip).save(path)
        paths.append(path)
    return paths
