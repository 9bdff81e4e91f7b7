"""Packed attention: q/k/v (L, heads, head_dim) over `Segments`; no token attends across one.

Backends (`backend=None` picks the first that applies):
- "flash": FlashAttention varlen on CUDA (cu_seqlens), if `flash_attn` is importable.
- "flex":  compiled flex_attention with a document BlockMask, CUDA only (no CPU backward).
- "grouped" (CPU default): one batched call per group of segments of equal (q_len, kv_len);
           the cost grows with the sum of squared segment lengths, not the square of the
           packed length as with a dense block-diagonal mask (measured 3-4x faster). Each
           group runs `math` when its score matrix is small, else PyTorch SDPA.
- "math":  grouped, explicit matmul-softmax-matmul with a hand-written backward that keeps
           the probabilities. On this CPU (no AMX, 2 cores) it measured ~2x faster forward +
           backward than SDPA's flash kernel for segments of a few hundred tokens; it stores
           heads*q_len*kv_len probabilities per segment, hence the size limit in "grouped".
- "sdpa":  grouped, PyTorch SDPA (the flash kernel on CPU) for every group.
`dense_mask_attention` is the test oracle only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chronotope.errors import UsageError
from chronotope.tokens.segments import Segments

BACKENDS = ("grouped", "math", "sdpa", "flash", "flex")
# "grouped" uses `math` for a segment whose heads*q_len*kv_len score matrix is at most this
# (2^24 bf16 = 32 MiB kept for backward): 6 heads x 1672 x 1672 tokens.
MATH_MAX_SCORES = 2**24

try:  # optional, CUDA only
    from flash_attn import flash_attn_varlen_func
except ImportError:  # pragma: no cover - not installed on CPU machines
    flash_attn_varlen_func = None


@dataclass(frozen=True)
class _Group:
    """Segments of one (q_len, kv_len): `n` of them, gathered by index unless one run."""

    q_len: int
    kv_len: int
    n: int
    q_start: int | None  # set when the group is consecutive in q and kv: a view, no gather
    kv_start: int | None
    q_index: torch.Tensor | None
    kv_index: torch.Tensor | None


@dataclass(frozen=True)
class _Plan:
    groups: tuple[_Group, ...]
    inverse: torch.Tensor | None  # rows of the group-ordered output -> packed order; None: in order


@functools.lru_cache(maxsize=64)
def _plan(q_segments: Segments, kv_segments: Segments) -> _Plan:
    """Group segments by shape once per (q, kv) segments; every block of a forward reuses it."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, shape in enumerate(zip(q_segments.seqlens, kv_segments.seqlens)):
        by_shape.setdefault(shape, []).append(i)
    qo, ko = q_segments.offsets, kv_segments.offsets
    groups, order = [], []
    for (lq, lk), members in by_shape.items():
        run = members == list(range(members[0], members[0] + len(members)))
        q_rows = [torch.arange(qo[i], qo[i] + lq) for i in members]
        order += q_rows
        if run:
            groups.append(_Group(lq, lk, len(members), qo[members[0]], ko[members[0]], None, None))
        else:
            kv_rows = torch.cat([torch.arange(ko[i], ko[i] + lk) for i in members])
            groups.append(_Group(lq, lk, len(members), None, None, torch.cat(q_rows), kv_rows))
    perm = torch.cat(order)
    in_order = bool(torch.equal(perm, torch.arange(q_segments.total)))
    return _Plan(tuple(groups), None if in_order else torch.argsort(perm))


# kv shorter than this (text, in cross-attention) gets the scores transposed, (lk, lq):
# softmax over a short last dim is slow on CPU (8x6x320x12: 1.5 ms, 0.1 ms transposed).
SHORT_KV = 32


class _MathAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d)) v on (B, h, l, d), saving the probabilities for backward.

    The scale goes on q (l*d values), not on the scores (l*l). q, k and v arrive as strided
    (B, l, h, d) -> (B, h, l, d) views of the packed rows; they are made contiguous once here,
    since every batched matmul of a strided operand (three per tensor, forward and backward)
    would copy it again. With a short kv the scores are kept transposed (B, h, lk, lq) and
    softmax runs over dim -2.
    """

    @staticmethod
    def forward(ctx, q, k, v):
        scale = q.shape[-1] ** -0.5
        t = k.shape[-2] < SHORT_KV
        with torch.autocast(q.device.type, enabled=False):
            qs = torch.empty_like(q, memory_format=torch.contiguous_format)
            torch.mul(q, scale, out=qs)  # (B, h, lq, d): scaled and made contiguous, one pass
            k, v = k.contiguous(), v.contiguous()  # (B, h, lk, d)
            if t:
                p = torch.softmax(torch.matmul(k, qs.transpose(-1, -2)), dim=-2)  # (B,h,lk,lq)
                o = torch.matmul(p.transpose(-1, -2), v)  # (B, h, lq, d)
            else:
                p = torch.softmax(torch.matmul(qs, k.transpose(-1, -2)), dim=-1)  # (B,h,lq,lk)
                o = torch.matmul(p, v)
        ctx.save_for_backward(qs, k, v, p)
        ctx.scale, ctx.t = scale, t
        return o

    @staticmethod
    def backward(ctx, do):
        qs, k, v, p = ctx.saved_tensors
        do = do.to(qs.dtype).contiguous()  # a strided view of the output's grad: copy once
        if ctx.t:  # p, dp, ds are (B, h, lk, lq)
            dv = torch.matmul(p, do)  # (B, h, lk, d)
            dp = torch.matmul(v, do.transpose(-1, -2))
            ds = torch._softmax_backward_data(dp, p, -2, p.dtype)
            dq = torch.matmul(ds.transpose(-1, -2), k).mul_(ctx.scale)
            return dq, torch.matmul(ds, qs), dv
        dv = torch.matmul(p.transpose(-1, -2), do)  # (B, h, lk, d)
        dp = torch.matmul(do, v.transpose(-1, -2))  # (B, h, lq, lk)
        ds = torch._softmax_backward_data(dp, p, -1, p.dtype)  # d loss / d scores
        dq = torch.matmul(ds, k).mul_(ctx.scale)
        return dq, torch.matmul(ds.transpose(-1, -2), qs), dv


def _take(x: torch.Tensor, start: int | None, index: torch.Tensor | None, n: int, length: int):
    """(n*length, h, d) rows of x as (n, h, length, d) for SDPA."""
    # index_select, not x[index]: its backward (index_add) measured ~5x faster on CPU
    rows = x[start : start + n * length] if index is None else x.index_select(0, index)
    return rows.view(n, length, *x.shape[1:]).transpose(1, 2)


@torch.compiler.disable  # opaque to torch.compile: the plan is Python over segment lengths
def _grouped(q, k, v, q_segments: Segments, kv_segments: Segments, kernel: str) -> torch.Tensor:
    plan = _plan(q_segments, kv_segments)
    outs = []
    for g in plan.groups:
        qi, ki = (None if i is None else i.to(q.device) for i in (g.q_index, g.kv_index))
        qg = _take(q, g.q_start, qi, g.n, g.q_len)  # (n, h, lq, d)
        kg = _take(k, g.kv_start, ki, g.n, g.kv_len)  # (n, h, lk, d)
        vg = _take(v, g.kv_start, ki, g.n, g.kv_len)
        small = q.shape[1] * g.q_len * g.kv_len <= MATH_MAX_SCORES
        if kernel == "math" or (kernel == "grouped" and small):
            og = _MathAttention.apply(qg, kg, vg)  # (n, h, lq, d)
        else:
            og = F.scaled_dot_product_attention(qg, kg, vg)
        outs.append(og.transpose(1, 2).reshape(g.n * g.q_len, *q.shape[1:]))  # (n*lq, h, d)
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    return out if plan.inverse is None else out.index_select(0, plan.inverse.to(out.device))


def _flash(q, k, v, q_segments: Segments, kv_segments: Segments) -> torch.Tensor:
    dev = q.device
    return flash_attn_varlen_func(
        q,
        k,
        v,
        cu_seqlens_q=q_segments.cu_seqlens.to(dev),
        cu_seqlens_k=kv_segments.cu_seqlens.to(dev),
        max_seqlen_q=q_segments.max_seqlen,
        max_seqlen_k=kv_segments.max_seqlen,
    )


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


@functools.lru_cache(maxsize=16)
def _document_mask(q_segments: Segments, kv_segments: Segments, device: str):
    from torch.nn.attention.flex_attention import create_block_mask

    q_ids = q_segments.segment_ids(device)
    kv_ids = kv_segments.segment_ids(device)

    def same_segment(b, h, q_idx, kv_idx):
        return q_ids[q_idx] == kv_ids[kv_idx]

    return create_block_mask(
        same_segment, None, None, q_segments.total, kv_segments.total, device=device
    )


def _flex(q, k, v, q_segments: Segments, kv_segments: Segments) -> torch.Tensor:
    mask = _document_mask(q_segments, kv_segments, str(q.device))
    qb, kb, vb = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))  # (1, h, L, d)
    out = _compiled_flex()(qb, kb, vb, block_mask=mask)  # (1, h, Lq, d)
    return out[0].transpose(0, 1)  # (Lq, h, d)


def default_backend(device: torch.device) -> str:
    """flash if importable on CUDA, else flex on CUDA, else grouped."""
    if device.type == "cuda":
        return "flash" if flash_attn_varlen_func is not None else "flex"
    return "grouped"


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_segments: Segments,
    kv_segments: Segments | None = None,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """Softmax attention of q (Lq, h, d) over k/v (Lk, h, d), segment i of q to segment i of kv.

    `kv_segments=None` is self-attention (kv segments are the q segments).
    """
    kv_segments = q_segments if kv_segments is None else kv_segments
    if len(q_segments) != len(kv_segments):
        raise UsageError(f"{len(q_segments)} q segments but {len(kv_segments)} kv segments")
    if q.shape[0] != q_segments.total or k.shape[0] != kv_segments.total:
        raise UsageError(
            f"q/k have {q.shape[0]}/{k.shape[0]} rows, segments cover "
            f"{q_segments.total}/{kv_segments.total}"
        )
    backend = backend or default_backend(q.device)
    if backend in ("grouped", "math", "sdpa"):
        return _grouped(q, k, v, q_segments, kv_segments, backend)
    if backend == "flash":
        if flash_attn_varlen_func is None or q.device.type != "cuda":
            raise UsageError("backend='flash' needs CUDA and the flash_attn package")
        return _flash(q, k, v, q_segments, kv_segments)
    if backend == "flex":
        if q.device.type != "cuda":
            raise UsageError("backend='flex' needs CUDA (flex_attention has no CPU backward)")
        return _flex(q, k, v, q_segments, kv_segments)
    raise UsageError(f"unknown attention backend {backend!r}; valid: {', '.join(BACKENDS)}")


def dense_mask_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_segments: Segments,
    kv_segments: Segments | None = None,
) -> torch.Tensor:
    """The oracle: one SDPA call over the whole sequence with a block-diagonal mask."""
    kv_segments = q_segments if kv_segments is None else kv_segments
    same = q_segments.segment_ids(q.device)[:, None] == kv_segments.segment_ids(q.device)[None]
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), attn_mask=same
    )  # (h, Lq, d)
    return out.transpose(0, 1)
