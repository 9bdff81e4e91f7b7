"""Sequence-parallel sampling: `chronotope generate` under torchrun splits a long video's packed
tokens over the ranks (Ulysses, as in training: `chronotope.distributed.sequence`).

`parallelize_sampling(pipe)` composes it: the pipeline's transformer gets the sequence-parallel
attention (`parallelize`) and the pipeline's sampler the transformer call it uses
(`pipe.transformer_call`): every rank pads and slices the same packed sequence, runs the DiT on
its L/P tokens (attention all-to-alls over heads), and all-gathers the velocity, so every rank
holds the same full velocity and the solver state stays identical on every rank. Activation
memory per rank drops by P; the weights are replicated (they are small next to a long video's
activations). The pipeline code knows nothing of it.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from chronotope.distributed.parallelize import parallelize
from chronotope.distributed.sequence import shard_pack
from chronotope.flow.guidance import TransformerCall


def sequence_parallel_call(
    transformer: torch.nn.Module, *, group: dist.ProcessGroup | None = None
) -> TransformerCall:
    """The transformer call of a solver step computed split over the ranks of `group`: every
    rank passes the same inputs and gets the same (L, D) output. Inputs move to the
    transformer's device (a GPU under NCCL) and the output comes back to `x`'s. The
    transformer must have been parallelized with `sequence_parallel=True`."""

    def call(x, sigma, positions, segments, text, text_segments) -> torch.Tensor:
        dev = next(transformer.parameters()).device
        shard = shard_pack(
            x.to(dev), sigma.to(dev), positions.to(dev), segments, text.to(dev), text_segments,
            group=group,
        )  # fmt: skip
        return shard.gather(transformer(*shard.model_args())).to(x.device)

    return call


def parallelize_sampling(pipe, group: dist.ProcessGroup | None = None) -> None:
    """Sample `pipe`'s windows split over the ranks of `group` (every rank calls it)."""
    parallelize(pipe.transformer, mode="none", sequence_parallel=True, group=group)
    pipe.transformer_call = sequence_parallel_call(pipe.transformer, group=group)


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
