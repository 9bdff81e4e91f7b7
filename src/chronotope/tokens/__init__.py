"""Spacetime tokens: patchify/unpatchify, `Segments`, and NaViT-style packing."""

from chronotope.tokens.packing import PackedBatch, SampleInfo, pack, pack_stream
from chronotope.tokens.patchify import (
    DEFAULT_PATCH,
    frame_to_tokens,
    grid_positions,
    num_tokens,
    patch_grid,
    patchify,
    unpatchify,
)
from chronotope.tokens.segments import Segments

__all__ = [
    "DEFAULT_PATCH",
    "PackedBatch",
    "SampleInfo",
    "Segments",
    "frame_to_tokens",
    "grid_positions",
    "num_tokens",
    "pack",
    "pack_stream",
    "patch_grid",
    "patchify",
    "unpatchify",
]
