"""`parallelize(model, ...)`: the one place that turns a plain DiT into a parallel one.

Order (torchtitan's): sequence-parallel attention -> activation checkpointing -> compile ->
data parallelism. Sequence parallelism sets the Ulysses attention on the model instance
(`DiT.attention`: nothing global changes, another model in the process is untouched). Checkpointing
wraps each block's call, compile then sees the checkpointed block, and DDP / FSDP2 go last so
that their hooks wrap what actually runs. The model files know nothing of it.

- "ddp":  `DistributedDataParallel`; gradients are averaged over ranks in backward.
- "fsdp": FSDP2 `fully_shard` on every DiT block, then on the root (the embeddings, the
          shared modulation and the final layer): parameters, gradients and optimizer state are
          sharded; a block's weights are all-gathered just before it runs. Gradients are
          averaged (reduce-scatter) like DDP's.
- "none": only checkpointing / compile.

Both average gradients, so a rank's loss must be scaled to make that average the
single-process loss of the global batch: see `global_sample_mean`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from chronotope.errors import UsageError

MODES = ("ddp", "fsdp", "none")


def parallelize(
    model: nn.Module,
    *,
    mode: str = "ddp",
    activation_checkpointing: bool = False,
    compile: bool = False,
    mixed_precision: torch.dtype | None = None,
    group: dist.ProcessGroup | None = None,
    sequence_parallel: bool = False,
) -> nn.Module:
    """Apply sequence-parallel attention, checkpointing, compile, then DDP or FSDP2, in that
    order; returns the model to train (a DDP wrapper for "ddp", the same module, now sharded,
    for "fsdp"). With `sequence_parallel` the model runs packs split by tokens over the ranks
    (`distributed.sequence.shard_pack`); a pack of plain `Segments` runs as before.

    `mixed_precision` (e.g. torch.bfloat16) is FSDP2's parameter dtype for compute, with
    float32 gradient reduction; with "ddp"/"none" use autocast in the step instead (as
    `Trainer` does), so it is an error there rather than silently ignored.
    """
    if mode not in MODES:
        raise UsageError(f"unknown parallel mode {mode!r}; valid: {', '.join(MODES)}")
    if mixed_precision is not None and mode != "fsdp":
        raise UsageError("mixed_precision applies to mode='fsdp'; use autocast with ddp/none")
    blocks = _blocks(model)
    if sequence_parallel:
        from chronotope.distributed.sequence import sequence_parallel_attention

        model.attention = sequence_parallel_attention
    if activation_checkpointing:
        # DiT's own switch (diffusers): each block's forward is recomputed in backward
        model.enable_gradient_checkpointing()
    if compile:
        for block in blocks:  # per block: one graph reused `depth` times, fast to compile
            block.compile()
    if mode == "ddp":
        return nn.parallel.DistributedDataParallel(model, process_group=group)
    if mode == "fsdp":
        from torch.distributed.device_mesh import DeviceMesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = DeviceMesh.from_group(group or dist.group.WORLD, _device_type(model))
        kw = {"mesh": mesh}
        if mixed_precision is not None:
            kw["mp_policy"] = MixedPrecisionPolicy(
                param_dtype=mixed_precision, reduce_dtype=torch.float32
            )
        for block in blocks:
            fully_shard(block, **kw)
        fully_shard(model, **kw)  # the root: everything outside the blocks
    return model


def _blocks(model: nn.Module) -> list[nn.Module]:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise UsageError(f"parallelize expects a DiT (a `blocks` ModuleList); got {type(model)}")
    return list(blocks)


def _device_type(model: nn.Module) -> str:
    return next(model.parameters()).device.type


def unwrap(model: nn.Module) -> nn.Module:
    """The DiT inside a DDP wrapper (FSDP2 does not wrap)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def global_sample_mean(
    local_sum: torch.Tensor, local_count: int, group: dist.ProcessGroup | None = None
) -> torch.Tensor:
    """The loss a rank backpropagates so that DDP/FSDP's gradient average equals the gradient
    of the plain mean over all samples of all ranks.

    `local_sum` is the sum of this rank's per-sample losses (for `flow_loss` over one pack:
    its loss times the pack's sample count); ranks may hold different numbers of samples.
    """
    return local_sum * (dist.get_world_size(group) / global_count(local_count, group))


def global_count(local_count: int, group: dist.ProcessGroup | None = None) -> int:
    """Sum of a per-rank count over the group (the global batch's samples); known before any
    forward, so gradient accumulation over several packs can scale each pack's loss."""
    count = torch.tensor([float(local_count)], device=comm_device(group))
    dist.all_reduce(count, group=group)
    return int(count.item())


def comm_device(group: dist.ProcessGroup | None = None) -> torch.device:
    """Where a small tensor for a collective must live: the current GPU under NCCL (which
    takes no CPU tensors), the CPU under gloo. The same code runs on both."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
