"""The diffusion transformer over packed spacetime tokens (no batch dim; see `chronotope.tokens`).

Read top-down: embeddings, the model, size presets. Blocks live in `blocks.py`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders.peft import PeftAdapterMixin
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from chronotope.errors import UsageError
from chronotope.model.attention import attention
from chronotope.model.blocks import DiTBlock, expand_modulation, modulate
from chronotope.model.rope import axis_dims, rope_cos_sin
from chronotope.tokens.segments import Segments
from chronotope.utils.weights import SafetensorsOnly


def sigma_embedding(sigma: torch.Tensor, dim: int = 256, max_period: float = 10000.0):
    """Sinusoidal features (N, dim) of sigma in [0,1], scaled by 1000 like a timestep."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=sigma.device) / half)
    args = sigma.float()[:, None] * 1000.0 * freqs[None]  # (N, half)
    return torch.cat([args.cos(), args.sin()], dim=-1)


class DiT(SafetensorsOnly, ModelMixin, ConfigMixin, PeftAdapterMixin):
    """Velocity model v(x_sigma, sigma, text) over packed tokens; one sigma per token. LoRA
    adapters attach through diffusers' `PeftAdapterMixin` (`pipeline/lora.py`), as in Wan."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 16,
        patch: tuple[int, int, int] = (1, 2, 2),
        width: int = 256,
        depth: int = 8,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        text_dim: int = 384,
        qk_norm: bool = True,
        rope_theta: float = 10000.0,
        sigma_dim: int = 256,
    ):
        super().__init__()
        if width % heads:
            raise UsageError(f"width {width} must be a multiple of heads {heads}")
        axis_dims(width // heads)  # validates the head dim for 3D RoPE
        self.in_dim = in_channels * patch[0] * patch[1] * patch[2]
        self.gradient_checkpointing = False
        self.attention_backend: str | None = None  # None: chosen per device by `attention`
        # the packed attention every block calls; `distributed.parallelize` sets the
        # sequence-parallel one on a model instance (the model file holds no parallelism)
        self.attention = attention

        self.x_embed = nn.Linear(self.in_dim, width)
        self.sigma_mlp = nn.Sequential(
            nn.Linear(sigma_dim, width), nn.SiLU(), nn.Linear(width, width)
        )
        # One projection to 6*width shared by all blocks, computed once per forward (Wan 2.1);
        # each block adds its own (6, width) table. Zero init: adaLN-zero.
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        self.text_embed = nn.Sequential(
            nn.Linear(text_dim, width), nn.GELU(), nn.Linear(width, width)
        )
        self.blocks = nn.ModuleList(
            DiTBlock(width=width, heads=heads, mlp_ratio=mlp_ratio, qk_norm=qk_norm)
            for _ in range(depth)
        )
        self.final_modulation = nn.Parameter(torch.zeros(2, width))  # (shift, scale) offsets
        self.final = nn.Linear(width, self.in_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:  # re-zero the cross-attention output after xavier
            nn.init.zeros_(block.cross.out.weight)
        for layer in (self.modulation[1], self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.normal_(self.sigma_mlp[0].weight, std=0.02)
        nn.init.normal_(self.sigma_mlp[2].weight, std=0.02)

    def _sigma_conditioning(self, sigma: torch.Tensor):
        """Embedding (U, W) and shared modulation (U, 6, W) of the U unique sigmas, and the
        index (L,) of each token's sigma among them.

        Sigma takes few distinct values (one per latent frame at most), so the MLPs run on the
        unique values; blocks gather per token (index_select: its backward measured ~5x
        faster than x[index]'s on CPU).
        """
        uniq, index = torch.unique(sigma, return_inverse=True)  # (U,), (L,)
        emb = self.sigma_mlp(sigma_embedding(uniq, self.config.sigma_dim))  # (U, W)
        mod = self.modulation(emb).unflatten(-1, (6, -1))  # (U, 6, W)
        return emb, mod, index

    def _check_inputs(self, x, sigma, positions, segments, text, text_segments) -> None:
        L, Lt = segments.total, text_segments.total
        expect = {
            "x": (x, (L, self.in_dim)),
            "sigma": (sigma, (L,)),
            "positions": (positions, (L, 3)),
            "text": (text, (Lt, self.config.text_dim)),
        }
        for name, (t, shape) in expect.items():
            if tuple(t.shape) != shape:
                raise UsageError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if len(text_segments) != len(segments):
            raise UsageError(f"{len(text_segments)} text segments for {len(segments)} segments")

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        positions: torch.Tensor,
        segments: Segments,
        text: torch.Tensor,
        text_segments: Segments,
    ) -> torch.Tensor:
        """x (L, in_dim), sigma (L,), positions (L, 3) -> velocity (L, in_dim)."""
        self._check_inputs(x, sigma, positions, segments, text, text_segments)
        h = self.x_embed(x)  # (L, W)
        emb, mod, index = self._sigma_conditioning(sigma)  # (U, W), (U, 6, W), (L,)
        ctx = self.text_embed(text)  # (Lt, W)
        cos, sin = rope_cos_sin(
            positions,
            self.config.width // self.config.heads,
            theta=self.config.rope_theta,
            dtype=h.dtype,
        )  # (L, 1, d) each: once per forward, shared by all blocks
        args = (mod, index, cos, sin, ctx, segments, text_segments, self.attention_backend)
        args += (self.attention,)
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                h = self._gradient_checkpointing_func(block, h, *args)
            else:
                h = block(h, *args)
        shift, gain = expand_modulation(emb[:, None], self.final_modulation, (1,), index)
        return self.final(modulate(h, shift, gain))  # (L, in_dim)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DiT:
        """A model of a named size (`DIT_PRESETS`); keyword overrides for any config field."""
        if name not in DIT_PRESETS:
            raise UsageError(f"unknown DiT preset {name!r}; valid: {', '.join(DIT_PRESETS)}")
        return cls(**{**DIT_PRESETS[name], **overrides})

    def load_lora_adapter(self, pretrained_model_name_or_path_or_dict, **kwargs):
        """diffusers' method for a dict of tensors only: given a path it would `torch.load` a
        `.bin`; files go through `pipe.load_lora_weights` (safetensors, checked)."""
        if not isinstance(pretrained_model_name_or_path_or_dict, dict):
            raise UsageError(
                "DiT.load_lora_adapter takes a dict of tensors; load an adapter file with "
                "pipe.load_lora_weights (safetensors only)",
                param="lora",
            )
        return super().load_lora_adapter(pretrained_model_name_or_path_or_dict, **kwargs)


# Sizes: head dim 64 (128 for the largest), MLP 4x. Parameter counts at in_channels=16.
DIT_PRESETS: dict[str, dict[str, Any]] = {
    "world-tiny": dict(width=256, depth=8, heads=4),  # ~9M: trains on a 2-core CPU
    "world-small": dict(width=384, depth=12, heads=6),  # ~29M
    "base": dict(width=768, depth=16, heads=12),  # ~152M: one GPU
    "xl": dict(width=1536, depth=30, heads=12),  # ~1.1B: Wan 2.1 1.3B class, GPUs
}
