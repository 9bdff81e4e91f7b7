"""`Segments`: the lengths of the samples packed into one sequence. Attention never crosses one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from chronotope.errors import UsageError


@dataclass(frozen=True, eq=True)
class Segments:
    """Consecutive segments of a packed sequence of `total` tokens.

    `padding=True` marks the last segment as padding (tokens that carry no sample: the loss
    and `PackedBatch.unpack` skip it). Frozen and hashable, so attention plans can be cached
    per `Segments` and reused by every block of a forward pass.
    """

    seqlens: tuple[int, ...]
    padding: bool = False

    def __post_init__(self) -> None:
        lens = tuple(int(n) for n in self.seqlens)
        if not lens or min(lens) < 1:
            raise UsageError(f"segment lengths must be >= 1 and there must be one, got {lens}")
        object.__setattr__(self, "seqlens", lens)

    def __len__(self) -> int:
        return len(self.seqlens)

    @cached_property
    def total(self) -> int:
        return sum(self.seqlens)

    @cached_property
    def max_seqlen(self) -> int:
        return max(self.seqlens)

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """Start of each segment, plus the total at the end (a Python `cu_seqlens`)."""
        out = [0]
        for n in self.seqlens:
            out.append(out[-1] + n)
        return tuple(out)

    @cached_property
    def cu_seqlens(self) -> torch.Tensor:
        """(num_segments+1,) int32 cumulative lengths, the FlashAttention varlen convention."""
        return torch.tensor(self.offsets, dtype=torch.int32)

    @property
    def num_samples(self) -> int:
        """Segments that hold a sample (all but a trailing padding segment)."""
        return len(self.seqlens) - int(self.padding)

    def segment_ids(self, device: torch.device | str | None = None) -> torch.Tensor:
        """(total,) long: the segment index of every token."""
        lens = torch.tensor(self.seqlens, device=device)
        return torch.repeat_interleave(torch.arange(len(self.seqlens), device=device), lens)

    def split(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Views of `tensor` (total, ...) per segment (padding included)."""
        if tensor.shape[0] != self.total:
            raise UsageError(f"tensor has {tensor.shape[0]} rows, segments cover {self.total}")
        return list(torch.split(tensor, self.seqlens, dim=0))
