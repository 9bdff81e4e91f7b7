"""The diffusion transformer: packed attention, 3D RoPE, DiT blocks, text encoders."""

from chronotope.model.attention import attention, dense_mask_attention
from chronotope.model.dit import DIT_PRESETS, DiT
from chronotope.model.rope import apply_rope, axis_dims, rope_cos_sin
from chronotope.model.text import TextEncoder

__all__ = [
    "DIT_PRESETS",
    "DiT",
    "TextEncoder",
    "apply_rope",
    "attention",
    "axis_dims",
    "dense_mask_attention",
    "rope_cos_sin",
]
