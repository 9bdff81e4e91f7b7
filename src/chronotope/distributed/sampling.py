"""Sequence-parallel sampling: `chronotope generate` under torchrun splits a long video's packed
tokens over the ranks (Ulysses, as in training: `chronotope.distributed.sequence`).

The sampler (`chronotope.pipeline.sampler`) calls the transformer once per solver step through
its module-level `transformer_call`; `enable_sequence_parallel_sampling` swaps that for
`sequence_parallel_call`: every rank pads and slices the same packed sequence, runs the DiT on
its L/P tokens (attention all-to-alls over heads), and all-gathers the velocity, so every rank
holds the same full velocity and the solver state stays identical on every rank. Activation
memory per rank drops by P; the weights are replicated (they are small next to a long video's
activations). The pipeline code knows nothing of it.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist

from chronotope.distributed.sequence import shard_pack


def sequence_parallel_call(
    transformer: torch.nn.Module,
    x: torch.Tensor,
    sigma: torch.Tensor,
    positions: torch.Tensor,
    segments,
    text: torch.Tensor,
    text_segments,
    *,
    group: dist.ProcessGroup | None = None,
) -> torch.Tensor:
    """The transformer's (L, D) output for a packed sequence, computed split over the ranks
    of `group`; every rank passes the same inputs and gets the same output. Inputs move to the
    transformer's device (a GPU under NCCL) and the output comes back to `x`'s."""
    dev = next(transformer.parameters()).device
    shard = shard_pack(
        x.to(dev), sigma.to(dev), positions.to(dev), segments, text.to(dev), text_segments,
        group=group,
    )  # fmt: skip
    return shard.gather(transformer(*shard.model_args())).to(x.device)


def enable_sequence_parallel_sampling(group: dist.ProcessGroup | None = None) -> None:
    """Route every sampler transformer call through `sequence_parallel_call` over `group`."""
    from chronotope.pipeline import sampler

    sampler.transformer_call = functools.partial(sequence_parallel_call, group=group)


def disable_sequence_parallel_sampling() -> None:
    from chronotope.distributed.sequence import disable_sequence_parallel
    from chronotope.pipeline import sampler

    sampler.transformer_call = sampler.call_transformer
    disable_sequence_parallel()


def shared_seed(seed: int | None) -> int:
    """One seed for every rank: rank 0's (drawn at random when None), broadcast."""
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return seed
    from chronotope.distributed.parallelize import comm_device

    t = torch.tensor([seed], dtype=torch.int64, device=comm_device())
    dist.broadcast(t, 0)
    return int(t.item())
