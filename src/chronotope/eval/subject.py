"""What the eval measures: a generate call and the model's native settings.

A `Subject` is all the eval needs of a model, so a test can hand it a stand-in (the world's own
clips, noise, a copy of the last frame) and check that the judge fails and passes where it
should; `pipeline_subject` wraps a `ChronotopePipeline`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Subject:
    # generate(prompt, **pipeline keyword arguments) -> uint8 frames (T, H, W, 3); the eval
    # passes width, height, num_frames, seed, candidates and each task's arguments (video +
    # extend, image, connect, loop, strength) as `ChronotopePipeline.__call__` takes them
    generate: Callable[..., np.ndarray]
    width: int
    height: int
    fps: float
    ft: int = 4  # frames per latent frame: lengths are 1 + k * ft
    window_frames: int = 65  # the longest sampling window
    context_frames: int = 9  # frames each window of a long video keeps from the one before
    vae: object | None = None  # the autoencoder, for the VAE section (None: skipped)
    parameters: int = 0

    def info(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "parameters": int(self.parameters),
        }


def pipeline_subject(pipe) -> Subject:
    """A `ChronotopePipeline` as an eval subject (its frames; progress bars off)."""
    c = pipe.config

    def generate(prompt: str, **kw) -> np.ndarray:
        return pipe(prompt, **kw).frames

    return Subject(
        generate=generate,
        width=int(c.width),
        height=int(c.height),
        fps=float(c.fps),
        ft=int(pipe.ft),
        window_frames=int(pipe.tasks.window_frames),
        context_frames=int(pipe.tasks.context_frames),
        vae=pipe.vae,
        parameters=sum(p.numel() for p in pipe.components_parameters()),
    )
