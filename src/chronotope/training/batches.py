"""From a stream of clips to packed training batches.

`Packer` keeps a buffer of encoded clips and hands out one first-fit-decreasing pack of at most
`token_budget` tokens per step; its state (stream position + the buffered latents) goes into
every checkpoint, so a resumed run sees exactly the batches an uninterrupted one would.
`make_batch` turns a pack into model inputs: per-sample logit-normal sigma shifted by the
sample's own token count, a per-latent-frame task mask, noise, targets and loss weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from chronotope.errors import UsageError
from chronotope.flow import (
    add_noise,
    per_token_sigma,
    sample_sigma,
    sample_task,
    shift_for_tokens,
    shift_sigma,
    velocity_target,
)
from chronotope.tokens import PackedBatch, SampleInfo, num_tokens, pack, patchify
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec

# stream_factory(position) -> iterator over samples from that position on; a sample has
# `.video` (3,T,H,W) float in [-1,1] and `.text` (e.g. `chronotope.data.Sample`), or an
# already encoded `.latent` (C,T',H',W') instead of `.video`; an optional
# `.meta["next_position"]` says where to reopen after it (default: position + 1)
StreamFactory = Callable[[int], Iterator]


@dataclass
class Item:
    """One encoded clip waiting in the buffer."""

    latent: torch.Tensor  # (C,T',H',W') normalized
    text: str
    num_tokens: int
    born: int  # the step at which it entered the buffer (for the age bound)
    teacher: bool = False  # its target is the base model's prediction (`--preserve`)


class Packer:
    """A buffer of encoded clips -> one pack per `next()`, resumable via `state_dict`."""

    def __init__(
        self,
        stream_factory: StreamFactory,
        codec: LatentCodec,
        *,
        token_budget: int,
        buffer_size: int,
        patch: tuple[int, int, int],
    ):
        self.stream_factory, self.codec = stream_factory, codec
        self.budget, self.buffer_size, self.patch = token_budget, buffer_size, patch
        self.position = 0  # stream index of the next clip to read
        self.buffer: list[Item] = []
        self.calls = 0
        self._iter: Iterator | None = None

    def _read(self) -> Item:
        if self._iter is None:
            self._iter = self.stream_factory(self.position)
        sample = next(self._iter)
        meta = getattr(sample, "meta", None) or {}
        self.position = int(meta.get("next_position", self.position + 1))
        latent = getattr(sample, "latent", None)  # already encoded (a latent cache)
        if latent is None:
            latent = self.codec.encode(sample.video)
        n = num_tokens(latent.shape, self.patch)
        if n > self.budget:
            raise UsageError(
                f"a clip with a latent of {tuple(latent.shape[1:])} T' x H' x W' makes {n} tokens, "
                f"more than --token-budget {self.budget}; raise the budget or shorten the clips",
                param="token_budget",
            )
        teacher = bool(getattr(sample, "teacher", False))
        return Item(latent, str(sample.text), n, self.calls, teacher)

    def next(self) -> list[Item]:
        """Fill the buffer, pack it, and take out the fullest pack — or, once the oldest clip
        has waited `buffer_size` calls, the pack holding it (so no clip waits forever)."""
        while len(self.buffer) < self.buffer_size:
            self.buffer.append(self._read())
        packs = pack([it.num_tokens for it in self.buffer], self.budget)
        if self.calls - self.buffer[0].born >= self.buffer_size:
            chosen = next(p for p in packs if 0 in p)
        else:
            chosen = max(packs, key=lambda p: sum(self.buffer[i].num_tokens for i in p))
        taken = set(chosen)
        items = [self.buffer[i] for i in sorted(chosen)]
        self.buffer = [it for i, it in enumerate(self.buffer) if i not in taken]
        self.calls += 1
        return items

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict]:
        # clone: clips may share storage (a stream can repeat a tensor); safetensors refuses that
        tensors = {f"buffer.{i:05d}": it.latent.clone() for i, it in enumerate(self.buffer)}
        meta = {
            "position": self.position,
            "calls": self.calls,
            "buffer": [[it.text, it.num_tokens, it.born, it.teacher] for it in self.buffer],
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        self.position, self.calls = int(meta["position"]), int(meta["calls"])
        self.buffer = [
            Item(tensors[f"buffer.{i:05d}"], *entry) for i, entry in enumerate(meta["buffer"])
        ]
        self._iter = None  # reopened at `position` on the next read


@dataclass
class TrainBatch:
    """Model inputs (`packed.tokens` are the noisy tokens x_sigma) and loss targets."""

    packed: PackedBatch
    target: torch.Tensor  # (L, D) velocity noise - x
    weight: torch.Tensor  # (L,) 1 for noisy tokens, 0 for conditioning tokens
    kinds: list[str]  # the task-mask kind of each sample (for logging)
    teacher: torch.Tensor  # (L,) bool: tokens whose target is the base model's prediction

    @property
    def num_tokens(self) -> int:
        return self.packed.segments.total


def make_batch(
    items: list[Item],
    *,
    cfg: TrainConfig,
    encode_text: Callable[[list[str]], list[torch.Tensor]],
    generator: torch.Generator,
) -> TrainBatch:
    """Noise, sigma, task mask and text for each clip of a pack; everything per sample."""
    n = len(items)
    base_sigma = sample_sigma(n, generator, mean=cfg.sigma_mean, std=cfg.sigma_std)  # (S,)
    dropped = torch.rand(n, generator=generator) < cfg.caption_dropout  # (S,)
    shift_kw = asdict(cfg.shift)
    xs, positions, infos, sigmas, targets, weights, kinds = [], [], [], [], [], [], []
    for i, it in enumerate(items):
        tokens, pos = patchify(it.latent, cfg.patch)  # (N, D), (N, 3)
        grid = tuple(int(g) for g in pos[-1] + 1)
        tokens_per_frame = grid[1] * grid[2]
        kind, mask = sample_task(grid[0], generator, cfg.tasks)  # (T'/pt,) bool
        sigma = shift_sigma(base_sigma[i], shift_for_tokens(it.num_tokens, **shift_kw))
        sig = per_token_sigma(sigma, mask, tokens_per_frame)  # (N,)
        noise = torch.randn(tokens.shape, generator=generator)
        xs.append(add_noise(tokens, noise, sig))
        targets.append(velocity_target(tokens, noise))
        weights.append((~mask).float().repeat_interleave(tokens_per_frame))
        positions.append(pos)
        sigmas.append(sig)
        infos.append(SampleInfo(grid, tuple(cfg.patch), int(it.latent.shape[0])))
        kinds.append(kind)
    texts = ["" if d else it.text for d, it in zip(dropped.tolist(), items)]
    packed = PackedBatch.build(xs, positions, infos, sigma=sigmas, text=encode_text(texts))
    teacher = torch.cat([torch.full((it.num_tokens,), it.teacher) for it in items])
    return TrainBatch(packed, torch.cat(targets), torch.cat(weights), kinds, teacher)


@dataclass
class StepBatch:
    """This rank's packs of one global batch, and the global batch's totals (for logs)."""

    packs: list[TrainBatch]
    tokens: int  # tokens of the whole global batch
    samples: int


def target_count(batch: TrainBatch) -> int:
    """Samples of a pack with at least one noisy token: those `flow_loss` averages over."""
    seg = batch.packed.segments
    den = torch.zeros(len(seg)).index_add(0, seg.segment_ids(), batch.weight.float().cpu())
    return int((den[: seg.num_samples] > 0).sum())
