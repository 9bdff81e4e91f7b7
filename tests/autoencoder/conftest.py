"""A tiny deterministic stand-in for world clips: flat rectangles moving on a flat background."""

from __future__ import annotations

import pytest
import torch


class ShapesSource:
    def __init__(self, *, seed: int = 0, batch_size: int = 2, size=(16, 16), frames: int = 5):
        self.seed, self.batch_size, self.size, self.frames = seed, batch_size, size, frames

    def batch(self, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + step % 2**31)
        h, w = self.size
        out = torch.empty(self.batch_size, 3, self.frames, h, w)
        for b in range(self.batch_size):
            out[b] = (torch.rand(3, 1, 1, 1, generator=g) * 2 - 1).expand(3, self.frames, h, w)
            color = torch.rand(3, generator=g) * 2 - 1
            y, x = torch.randint(0, h // 2, (2,), generator=g).tolist()
            dy, dx = torch.randint(-1, 2, (2,), generator=g).tolist()
            for t in range(self.frames):
                yy, xx = (y + dy * t) % (h // 2), (x + dx * t) % (w // 2)
                out[b, :, t, yy : yy + h // 3, xx : xx + w // 3] = color[:, None, None]
        return out


@pytest.fixture
def shapes():
    """Factory of deterministic synthetic batch sources (tests must not depend on the world)."""
    return ShapesSource
