"""NaViT-style packing: many native-size samples in one sequence, separated by `Segments`.

`pack` decides which samples share a sequence (first-fit-decreasing); `PackedBatch` concatenates
their tensors and remembers what is needed to cut them apart again exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from chronotope.errors import UsageError
from chronotope.tokens.patchify import DEFAULT_PATCH, patchify, unpatchify
from chronotope.tokens.segments import Segments


def pack(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """First-fit-decreasing: group sample indices so that each group's total length <= budget.

    A sample longer than `budget` raises `UsageError`: the budget is a memory bound, and a
    pack over it would fail later and further from the cause.
    """
    if budget < 1:
        raise UsageError(f"pack budget must be >= 1 token, got {budget}")
    for i, n in enumerate(lengths):
        if not 1 <= n <= budget:
            raise UsageError(f"sample {i} has {n} tokens; each sample needs 1..{budget} (budget)")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable: ties keep input order
    packs: list[list[int]] = []
    free: list[int] = []
    for i in order:
        n = lengths[i]
        for b, room in enumerate(free):
            if n <= room:
                packs[b].append(i)
                free[b] -= n
                break
        else:
            packs.append([i])
            free.append(budget - n)
    return packs


def pack_stream(lengths: Iterable[int], budget: int, buffer_size: int = 512) -> Iterator[list[int]]:
    """FFD over a sliding buffer of a stream: yields packs of stream indices.

    Each round packs the buffer and yields every pack but the last (FFD fills the last pack
    with leftovers, so it is the emptiest); its samples wait for the next round's company.
    """
    if buffer_size < 1:
        raise UsageError(f"buffer_size must be >= 1, got {buffer_size}")
    buffer: list[tuple[int, int]] = []  # (stream index, length)
    stream = iter(enumerate(lengths))
    done = False
    while not done or buffer:
        while not done and len(buffer) < buffer_size:
            item = next(stream, None)
            if item is None:
                done = True
            else:
                buffer.append(item)
        if not buffer:
            return
        packs = pack([n for _, n in buffer], budget)
        keep = [] if done else packs.pop()
        for p in packs:
            yield [buffer[j][0] for j in p]
        buffer = [buffer[j] for j in keep]
        if not done and len(buffer) >= buffer_size:  # one sample per pack: nothing to wait for
            yield [s for s, _ in buffer]
            buffer = []


@dataclass(frozen=True)
class SampleInfo:
    """What `PackedBatch` needs to turn a sample's tokens back into its latent."""

    grid: tuple[int, int, int]
    patch: tuple[int, int, int]
    channels: int
    text_len: int = 0

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]


@dataclass(frozen=True)
class PackedBatch:
    """Samples concatenated into one sequence (no batch dim), with their `Segments`.

    tokens (L, D), positions (L, 3) long, sigma (L,) or None, text (Lt, Dt) or None.
    With padding, the last segment of `segments` (and one zero text token) is padding.
    """

    tokens: torch.Tensor
    positions: torch.Tensor
    segments: Segments
    samples: tuple[SampleInfo, ...]
    sigma: torch.Tensor | None = None
    text: torch.Tensor | None = None
    text_segments: Segments | None = None

    @classmethod
    def from_latents(
        cls,
        latents: Sequence[torch.Tensor],
        *,
        patch: tuple[int, int, int] = DEFAULT_PATCH,
        sigma: Sequence[torch.Tensor] | None = None,
        text: Sequence[torch.Tensor] | None = None,
        pad_to: int | None = None,
    ) -> PackedBatch:
        """Patchify and pack latents (C,T,H,W) of any sizes; sigma per token (N_i,) per sample."""
        tokens, positions, infos = [], [], []
        for i, z in enumerate(latents):
            tok, pos = patchify(z, patch)
            tokens.append(tok)
            positions.append(pos)
            grid = tuple(int(g) for g in pos[-1] + 1)
            n_text = 0 if text is None else int(text[i].shape[0])
            infos.append(SampleInfo(grid, tuple(patch), int(z.shape[0]), n_text))
        return cls.build(tokens, positions, infos, sigma=sigma, text=text, pad_to=pad_to)

    @classmethod
    def build(
        cls,
        tokens: Sequence[torch.Tensor],
        positions: Sequence[torch.Tensor],
        samples: Sequence[SampleInfo],
        *,
        sigma: Sequence[torch.Tensor] | None = None,
        text: Sequence[torch.Tensor] | None = None,
        pad_to: int | None = None,
    ) -> PackedBatch:
        """Concatenate per-sample tensors; `pad_to` appends a padding segment up to that length."""
        if not tokens or not len(tokens) == len(positions) == len(samples):
            raise UsageError(
                "build needs one or more samples, with tokens, positions and info each"
            )
        for i, (t, info) in enumerate(zip(tokens, samples)):
            if t.shape[0] != info.num_tokens:
                raise UsageError(
                    f"sample {i}: {t.shape[0]} tokens, its grid holds {info.num_tokens}"
                )
        seqlens = [t.shape[0] for t in tokens]
        pad = 0 if pad_to is None else pad_to - sum(seqlens)
        if pad < 0:
            raise UsageError(f"samples hold {sum(seqlens)} tokens, more than pad_to={pad_to}")
        tok, pos = list(tokens), list(positions)
        sig = None if sigma is None else list(sigma)
        txt = None if text is None else list(text)
        if pad:
            # Padding is its own segment, so it never mixes with a sample in attention.
            tok.append(tokens[0].new_zeros(pad, tokens[0].shape[1]))
            pos.append(positions[0].new_zeros(pad, 3))
            if sig is not None:
                sig.append(sig[0].new_ones(pad))
            if txt is not None:
                txt.append(txt[0].new_zeros(1, txt[0].shape[1]))  # one zero text token to attend
            seqlens.append(pad)
        text_segments = None
        if txt is not None:
            if len(text) != len(tokens):
                raise UsageError(f"{len(text)} text states for {len(tokens)} samples")
            text_segments = Segments(tuple(t.shape[0] for t in txt), padding=bool(pad))
        return cls(
            tokens=torch.cat(tok),
            positions=torch.cat(pos),
            segments=Segments(tuple(seqlens), padding=bool(pad)),
            samples=tuple(samples),
            sigma=None if sig is None else torch.cat(sig),
            text=None if txt is None else torch.cat(txt),
            text_segments=text_segments,
        )

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @property
    def num_padding(self) -> int:
        return self.segments.seqlens[-1] if self.segments.padding else 0

    def unpack(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Split a per-token tensor (L, ...) back into one tensor per sample; padding dropped."""
        return self.segments.split(tensor)[: self.num_samples]

    def unpack_latents(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Per-token outputs (L, D) -> one latent (C,T,H,W) per sample."""
        return [
            unpatchify(t, s.grid, s.patch, s.channels)
            for t, s in zip(self.unpack(tokens), self.samples)
        ]
