"""Preview samples during training: a few fixed prompts sampled through the EMA model with the
pipeline's guidance (`flow.guidance`), decoded, and written as videos (or PNG frames when no
video writer is available)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from chronotope.flow import get_solver, make_schedule, shift_for_tokens, token_schedules
from chronotope.flow.guidance import guided_model_fn
from chronotope.flow.settings import SamplingSettings
from chronotope.tokens import PackedBatch
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec


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
    settings = SamplingSettings(
        steps=cfg.sample_steps, guidance=cfg.sample_guidance, shift=cfg.shift
    )  # guided as `generate` guides (`flow.guidance`): both branches in one packed call
    schedule = make_schedule(settings.steps, shift=shift_for_tokens(n, **asdict(settings.shift)))
    sigmas = token_schedules([schedule] * len(prompts), packed.segments.seqlens)
    model_fn = guided_model_fn(model, packed, encode_text([""])[0], settings)
    x = get_solver(settings.solver)(model_fn, packed.tokens.float(), sigmas)
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
