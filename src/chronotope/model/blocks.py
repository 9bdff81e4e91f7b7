"""The DiT block: adaLN-zero modulated self-attention (3D RoPE, QK-norm), cross-attention to
the sample's own text, and an MLP. Every token carries its own modulation (its own noise level).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chronotope.model.attention import attention
from chronotope.model.ops import add_mul, layer_norm, rms_norm
from chronotope.model.rope import apply_rope
from chronotope.tokens.segments import Segments


def modulate(x: torch.Tensor, shift: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """adaLN: norm(x) * gain + shift per token, where gain = 1 + scale."""
    return add_mul(shift, layer_norm(x), gain)


def expand_modulation(
    mod: torch.Tensor, table: torch.Tensor, scale_rows: tuple[int, ...], index: torch.Tensor
) -> list[torch.Tensor]:
    """Per-unique-sigma modulation (U, k, W) + a block's table (k, W) -> k tensors (L, W).

    The table and the +1 of every `1 + scale` are added on the U unique sigmas, before the
    per-token gather (L = tokens >> U), so neither costs a pass over the tokens, and the
    backward accumulates into (U, k, W) instead of summing over L.
    """
    one = torch.zeros(table.shape[0], 1, dtype=mod.dtype, device=mod.device)
    one[list(scale_rows)] = 1.0
    m = mod + (table.to(mod.dtype) + one)  # (U, k, W)
    return m.index_select(0, index).unbind(1)  # k x (L, W)


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x2, x1], dim=-1)


class QKNorm(nn.Module):
    """RMSNorm over the head dim of q and k, one learned gain each: keeps attention logits
    bounded so bf16 training does not blow up (SD3, Wan). Holds the gains; the attention
    modules apply them where it is cheapest (folded into RoPE's tables or into k)."""

    def __init__(self, *, head_dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(2, 1, head_dim))  # (q/k, heads bcast, d)


class SelfAttention(nn.Module):
    def __init__(self, *, width: int, heads: int, qk_norm: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, 3 * width)  # fused: one matmul for q, k and v
        self.norm = QKNorm(head_dim=self.head_dim) if qk_norm else None
        self.out = nn.Linear(width, width)

    def forward(self, x, cos, sin, segments: Segments, backend=None, attend=attention):
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim))  # (L, 3, h, d)
        # split, not slices: its backward is one cat into the (L, 3, h, d) gradient, where two
        # slices' backwards each zero-fill a full-size tensor and then add the two
        qk, v = qkv.split((2, 1), dim=1)  # (L, 2, h, d), (L, 1, h, d)
        cos, sin = cos[:, None], sin[:, None]  # (L, 1, 1, d)
        if self.norm is not None:
            # rope(n * g) = n * (g*cos) + swap(n) * (swap(g)*sin): the gains go into the
            # (L, 2, 1, d) tables, a pass over (L, 2, 1, d) instead of (L, 2, h, d).
            g = self.norm.weight.to(qk.dtype)  # (2, 1, d)
            cos, sin = cos * g, sin * swap_halves(g)  # (L, 2, 1, d)
            qk = rms_norm(qk, self.norm.eps)
        # unbind, not qk[:, 0] / qk[:, 1]: its backward is one stack (same reason as the split)
        q, k = apply_rope(qk, cos, sin).unbind(1)  # (L, h, d) each
        o = attend(q, k, v.squeeze(1), segments, backend=backend)  # (L, h, d)
        return self.out(o.flatten(1))  # (L, width)


class CrossAttention(nn.Module):
    """Each sample's tokens attend to that sample's text tokens only (q/text segments paired)."""

    def __init__(self, *, width: int, heads: int, qk_norm: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.norm = QKNorm(head_dim=self.head_dim) if qk_norm else None
        self.out = nn.Linear(width, width)
        # Zero init: the block starts as the identity (adaLN-zero gates the other two branches).
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, text, segments, text_segments, backend=None, attend=attention):
        q = self.q(x).unflatten(-1, (self.heads, self.head_dim))  # (L, h, d)
        k, v = self.kv(text).unflatten(-1, (2, self.heads, self.head_dim)).unbind(1)  # (Lt, h, d)
        if self.norm is not None:
            # (g_q*q).(g_k*k) = q.(g_q*g_k*k): both gains go to the few text tokens.
            g = self.norm.weight.to(q.dtype)  # (2, 1, d)
            q, k = rms_norm(q, self.norm.eps), rms_norm(k, self.norm.eps) * (g[0] * g[1])
        o = attend(q, k, v, segments, text_segments, backend=backend)  # (L, h, d)
        return self.out(o.flatten(1))


class MLP(nn.Module):
    def __init__(self, *, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class DiTBlock(nn.Module):
    """x + g1*attn(mod(x)) -> x + cross(norm(x), text) -> x + g2*mlp(mod(x))."""

    def __init__(self, *, width: int, heads: int, mlp_ratio: float, qk_norm: bool = True):
        super().__init__()
        self.attn = SelfAttention(width=width, heads=heads, qk_norm=qk_norm)
        self.cross = CrossAttention(width=width, heads=heads, qk_norm=qk_norm)
        self.mlp = MLP(width=width, hidden=int(width * mlp_ratio))
        # Per-block offset added to the shared per-token modulation (Wan 2.1): zero init, so
        # shift = scale = gate = 0 at init and the block is the identity (adaLN-zero).
        self.modulation = nn.Parameter(torch.zeros(6, width))

    def forward(
        self, x, mod, index, cos, sin, text, segments, text_segments, backend=None,
        attend=attention,
    ):  # fmt: skip
        """x (L, W); mod (U, 6, W) shared modulation of the U unique sigmas, index (L,) the
        sigma of each token; cos/sin (L, 1, d); text (Lt, W); `attend` is the packed attention
        (`model.attention.attention`, or a parallel one set on the model by `parallelize`)."""
        m = expand_modulation(mod, self.modulation, (1, 4), index)
        shift1, gain1, gate1, shift2, gain2, gate2 = m  # (L, W) each; gain = 1 + scale
        a = self.attn(modulate(x, shift1, gain1), cos, sin, segments, backend, attend)
        x = add_mul(x, gate1, a)  # x + gate * branch in one pass
        x = x + self.cross(layer_norm(x), text, segments, text_segments, backend, attend)
        return add_mul(x, gate2, self.mlp(modulate(x, shift2, gain2)))
