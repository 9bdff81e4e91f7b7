"""A tiny DiT and a pack mixing an image, a short clip and a long clip, shared by the
distributed tests (each spawned rank rebuilds them from the same seed)."""

from __future__ import annotations

import torch

from chronotope.model import DiT
from chronotope.tokens.segments import Segments

IN_CHANNELS, TEXT_DIM = 4, 16
# (t, h, w) token grids: an image, a short clip, a long clip; 3 + 12 + 72 = 87 tokens (odd:
# sequence parallelism on 2 ranks must pad)
GRIDS = ((1, 1, 3), (3, 2, 2), (8, 3, 3))
TEXT_LENS = (3, 5, 2)


def tiny_dit(seed: int = 0, depth: int = 2) -> DiT:
    torch.manual_seed(seed)
    model = DiT(in_channels=IN_CHANNELS, width=48, depth=depth, heads=4, text_dim=TEXT_DIM)
    with torch.no_grad():  # move the adaLN-zero / zero-init layers off zero: real gradients
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def grid_positions(grid: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = (torch.arange(n) for n in grid)
    return torch.stack(torch.meshgrid(t, h, w, indexing="ij"), -1).reshape(-1, 3)  # (n, 3)


def make_pack(seed: int = 1, grids=GRIDS, text_lens=TEXT_LENS) -> dict:
    """Model inputs plus a target and weight for `flow_loss`, as a dict of one pack."""
    g = torch.Generator().manual_seed(seed)
    lens = [a * b * c for a, b, c in grids]
    n = sum(lens)
    in_dim = IN_CHANNELS * 4
    sigma = torch.cat([torch.rand(1, generator=g).expand(k) for k in lens])  # one per sample
    return dict(
        x=torch.randn(n, in_dim, generator=g),
        sigma=sigma.contiguous(),
        positions=torch.cat([grid_positions(gr) for gr in grids]),
        segments=Segments(tuple(lens)),
        text=torch.randn(sum(text_lens), TEXT_DIM, generator=g),
        text_segments=Segments(tuple(text_lens)),
        target=torch.randn(n, in_dim, generator=g),
        weight=(torch.rand(n, generator=g) > 0.2).float(),
    )


def model_args(pack: dict) -> tuple:
    keys = ("x", "sigma", "positions", "segments", "text", "text_segments")
    return tuple(pack[k] for k in keys)
