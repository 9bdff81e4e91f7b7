"""Peak memory of a generation request, estimated and checked before anything is allocated."""

from __future__ import annotations

from dataclasses import dataclass

from chronotope.errors import MemoryBudgetError
from chronotope.tasks.canvas import latent_frames

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one sampling window, by part (coarse, documented upper-ish bounds)."""

    weights: int
    transformer: int
    autoencoder: int
    frames: int

    @property
    def total(self) -> int:
        return self.weights + self.transformer + self.autoencoder + self.frames

    def __str__(self) -> str:
        parts = ", ".join(
            f"{k} {getattr(self, k) / GIB:.2f}"
            for k in ("weights", "transformer", "autoencoder", "frames")
        )
        return f"{self.total / GIB:.2f} GiB ({parts})"


def check_memory(estimate: MemoryEstimate, budget_gib: float) -> None:
    if estimate.total > budget_gib * GIB:
        raise MemoryBudgetError(
            f"request needs an estimated {estimate}, over the memory budget of {budget_gib:g} GiB; "
            "ask for fewer frames or a smaller size, or raise the budget (--memory-budget)",
            param="size",
        )


def window_estimate(
    pipe, *, width: int, height: int, num_frames: int, guided: bool, kept_frames: int,
    candidates: int,
) -> MemoryEstimate:  # fmt: skip
    """Peak memory of `pipe`'s largest window of a `num_frames` output at width x height, with
    `candidates` samples of it drawn together, and of decoding it tile by tile.

    Transformer (no grad, one block alive at a time): the residual stream and its fp32 copies,
    the MLP hidden, q/k/v and the attention output, x2 with classifier-free guidance (`guided`:
    the conditional and unconditional copies run packed together). Attention itself uses a
    fused kernel (memory linear in tokens). Autoencoder: a tile through the widest level, for a
    chunk of frames. Frames: uint8 frames kept in memory plus their float canvas for encoding,
    and `kept_frames` more uint8 frames (a long output returned whole instead of streamed).
    """
    window = min(num_frames, pipe.tasks.window_frames)
    h, w = pipe.padded(height, width)
    cfg, vae = pipe.transformer.config, pipe.vae.config
    p = cfg.patch
    per_frame = (h // pipe.fs // p[1]) * (w // pipe.fs // p[2])
    tokens = latent_frames(window, pipe.ft) // p[0] * per_frame * int(candidates)
    n = tokens * (2 if guided else 1)
    per_token = cfg.width * 4 * (6 + 2 * cfg.mlp_ratio) + cfg.heads * 64 * 4 * 4
    transformer = int(n * per_token * 1.5)
    tile_pixels = min(h * w, pipe.tile_pixels())
    autoencoder = int(tile_pixels * max(vae.channel_mults) * vae.base_channels * 4 * 4 * 9)
    in_memory = 3 * window if num_frames > pipe.tasks.window_frames else num_frames + window
    frames = int((in_memory * (1 + 4) + kept_frames) * h * w * 3)
    weights = sum(q.numel() * q.element_size() for q in pipe.components_parameters())
    return MemoryEstimate(weights, transformer, autoencoder, frames)
