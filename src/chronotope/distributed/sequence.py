"""Sequence (context) parallelism, Ulysses-style (Jacobs et al. 2023, arXiv:2309.14509).

One packed sequence of L tokens is split by tokens over the P ranks of a group: rank r holds
tokens [r*L/P, (r+1)*L/P). Everything in the DiT but attention is per token, so it runs on the
local shard unchanged. Attention needs every token of a segment, so around it an all-to-all
trades the token split for a head split: (L/P, h, d) -> (L, h/P, d), each rank runs the
ordinary packed `attention` over the whole sequence for its h/P heads, and a second all-to-all
brings the output back to (L/P, h, d). Memory for activations drops by P; heads must divide by P.

Cross-attention: the text (few tokens) is whole on every rank; q goes through the same
all-to-all and each rank attends with its own heads' slice of the text k/v.

How the model files stay free of it: `shard_pack` hands the model a `ShardedSegments`, whose
`total` is the local token count (so `DiT` shape checks pass) and which carries the full
`Segments`. `parallelize(model, sequence_parallel=True)` sets `sequence_parallel_attention` as
that model's attention (`DiT.attention`); it dispatches on the segments' type, and with plain
`Segments` it is the ordinary packed attention.

Padding: L is padded to a multiple of P with a trailing padding segment (as the packer pads:
`Segments(padding=True)`, one zero text token for it), or an existing trailing padding segment
is lengthened. Padding tokens attend only among themselves and carry loss weight 0.

Gradients: each rank's parameter gradients are partial sums over its tokens (and its heads of
the text projections); `all_reduce_gradients` sums them into the single-process gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
import torch.distributed as dist

from chronotope.errors import UsageError
from chronotope.model.attention import attention as _attention
from chronotope.tokens.segments import Segments


@dataclass(frozen=True, eq=False)  # identity hash: one object per pack
class ShardedSegments:
    """This rank's view of a packed sequence split by tokens: `total` counts local tokens."""

    full: Segments  # the padded whole sequence
    rank: int
    world_size: int
    group: dist.ProcessGroup | None = None

    def __len__(self) -> int:
        return len(self.full)

    @cached_property
    def total(self) -> int:
        return self.full.total // self.world_size

    @property
    def padding(self) -> bool:
        return self.full.padding

    @property
    def num_samples(self) -> int:
        return self.full.num_samples

    @property
    def local(self) -> slice:
        """Rows of the full sequence held here."""
        return slice(self.rank * self.total, (self.rank + 1) * self.total)

    def segment_ids(self, device: torch.device | str | None = None) -> torch.Tensor:
        """(total,) segment index of each local token."""
        return self.full.segment_ids(device)[self.local]


# ---- all-to-all with autograd: each direction's backward is the other direction ----


def _exchange(send: torch.Tensor, group) -> torch.Tensor:
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send, group=group)  # chunk i of dim 0 goes to rank i
    return recv


def _tokens_to_heads(x: torch.Tensor, world: int, group) -> torch.Tensor:
    """(Lloc, m, h, d) -> (world*Lloc, m, h/world, d)."""
    lloc, m, h, d = x.shape
    send = x.reshape(lloc, m, world, h // world, d).permute(2, 0, 1, 3, 4).contiguous()
    return _exchange(send, group).reshape(world * lloc, m, h // world, d)  # dim 0: source rank


def _heads_to_tokens(y: torch.Tensor, world: int, group) -> torch.Tensor:
    """(world*Lloc, m, h/world, d) -> (Lloc, m, h, d)."""
    n, m, hs, d = y.shape
    recv = _exchange(y.reshape(world, n // world, m, hs, d).contiguous(), group)  # (P, Lloc, ..)
    return recv.permute(1, 2, 0, 3, 4).reshape(n // world, m, world * hs, d)


class _ToHeads(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, world, group):
        ctx.world, ctx.group = world, group
        return _tokens_to_heads(x, world, group)

    @staticmethod
    def backward(ctx, g):
        return _heads_to_tokens(g, ctx.world, ctx.group), None, None


class _ToTokens(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, world, group):
        ctx.world, ctx.group = world, group
        return _heads_to_tokens(y, world, group)

    @staticmethod
    def backward(ctx, g):
        return _tokens_to_heads(g, ctx.world, ctx.group), None, None


class _GatherTokens(torch.autograd.Function):
    """All-gather the token shards. Backward keeps the local rows of the gradient: correct when
    what follows runs identically on every rank (a replicated loss), not summed over them."""

    @staticmethod
    def forward(ctx, x, rank, world, group):
        ctx.rows = slice(rank * x.shape[0], (rank + 1) * x.shape[0])
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.rows], None, None, None


# ---- the attention of a sequence-parallel model (set on it by `parallelize`) ----


def sequence_parallel_attention(q, k, v, q_segments, kv_segments=None, *, backend=None):
    """`attention` for a `ShardedSegments` q (Ulysses); the original one otherwise."""
    if not isinstance(q_segments, ShardedSegments):
        return _attention(q, k, v, q_segments, kv_segments, backend=backend)
    s = q_segments
    p, heads = s.world_size, q.shape[1]
    if heads % p:
        raise UsageError(f"sequence parallelism needs heads ({heads}) divisible by ranks ({p})")
    if kv_segments is None:  # self-attention: q, k, v all split by tokens; one exchange
        qkv = _ToHeads.apply(torch.stack([q, k, v], 1), p, s.group)  # (L, 3, h/P, d)
        o = _attention(qkv[:, 0], qkv[:, 1], qkv[:, 2], s.full, backend=backend)
    else:  # cross-attention: text k/v whole here, take this rank's heads
        qh = _ToHeads.apply(q[:, None], p, s.group)[:, 0]  # (L, h/P, d)
        mine = slice(s.rank * heads // p, (s.rank + 1) * heads // p)
        o = _attention(qh, k[:, mine], v[:, mine], s.full, kv_segments, backend=backend)
    return _ToTokens.apply(o[:, None], p, s.group)[:, 0]  # (Lloc, h, d)


# ---- splitting a pack ----


@dataclass(frozen=True)
class SequenceShard:
    """This rank's share of one pack: model inputs plus `shard`/`gather` for other tensors."""

    x: torch.Tensor  # (Lloc, in_dim)
    sigma: torch.Tensor  # (Lloc,)
    positions: torch.Tensor  # (Lloc, 3)
    segments: ShardedSegments
    text: torch.Tensor  # (Lt [+1], text_dim), whole
    text_segments: Segments
    length: int  # tokens before padding

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a per-token tensor (L, ...) of the unpadded pack (zero-padded)."""
        pad = self.segments.full.total - t.shape[0]
        if pad:
            t = torch.cat([t, t.new_zeros(pad, *t.shape[1:])])
        return t[self.segments.local]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Local rows (Lloc, ...) -> the whole unpadded (L, ...) on every rank (autograd)."""
        s = self.segments
        return _GatherTokens.apply(t, s.rank, s.world_size, s.group)[: self.length]

    def model_args(self) -> tuple:
        return (self.x, self.sigma, self.positions, self.segments, self.text, self.text_segments)


def _pad_segments(segments: Segments, text: torch.Tensor, text_segments: Segments, pad: int):
    if pad == 0:
        return segments, text, text_segments
    if segments.padding:  # lengthen the packer's padding segment; its text token stays
        lens = (*segments.seqlens[:-1], segments.seqlens[-1] + pad)
        return Segments(lens, padding=True), text, text_segments
    text = torch.cat([text, text.new_zeros(1, text.shape[1])])  # one zero text token, as packing
    return (
        Segments((*segments.seqlens, pad), padding=True),
        text,
        Segments((*text_segments.seqlens, 1), padding=True),
    )


def shard_pack(
    x: torch.Tensor,
    sigma: torch.Tensor,
    positions: torch.Tensor,
    segments: Segments,
    text: torch.Tensor,
    text_segments: Segments,
    *,
    group: dist.ProcessGroup | None = None,
) -> SequenceShard:
    """Pad one pack to a multiple of the group size and keep this rank's tokens; the model
    that runs it must have been parallelized with `sequence_parallel=True` (see module doc).
    Every rank passes the same pack.
    """
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    length = segments.total
    pad = -length % world
    full, text, text_segments = _pad_segments(segments, text, text_segments, pad)
    sharded = ShardedSegments(full, rank, world, group)
    shard = SequenceShard(x, sigma, positions, sharded, text, text_segments, length)
    return SequenceShard(
        shard.shard(x),
        shard.shard(sigma),
        shard.shard(positions),
        sharded,
        text,
        text_segments,
        length,
    )


def all_reduce_gradients(model: torch.nn.Module, group: dist.ProcessGroup | None = None) -> None:
    """Sum parameter gradients over the sequence-parallel group (each rank saw part of the
    tokens). One flat buffer per call: one collective instead of one per parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:  # every rank must send the same layout, even for an unused parameter
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, group=group)
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))
