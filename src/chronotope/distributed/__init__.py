"""Parallel training: one `parallelize()` for DDP / FSDP2, Ulysses sequence parallelism for
long videos (training and sampling), pack balancing over ranks, sharded (DCP) checkpoints and
torchrun's process group (`launch.process_group`); `chronotope.training.Trainer` runs them
(one process is world size 1). Model files hold none of it. See docs/DISTRIBUTED.md."""

from chronotope.distributed.balance import balance_packs, pack_load
from chronotope.distributed.checkpoint import (
    export_pretrained,
    latest_complete,
    load_sharded,
    save_sharded,
)
from chronotope.distributed.launch import init_from_env, spawn, world_size_from_env
from chronotope.distributed.parallelize import (
    comm_device,
    global_count,
    global_sample_mean,
    parallelize,
    unwrap,
)
from chronotope.distributed.sampling import parallelize_sampling, sequence_parallel_call
from chronotope.distributed.sequence import (
    SequenceShard,
    ShardedSegments,
    all_reduce_gradients,
    sequence_parallel_attention,
    shard_pack,
)

__all__ = [
    "SequenceShard",
    "ShardedSegments",
    "all_reduce_gradients",
    "balance_packs",
    "comm_device",
    "export_pretrained",
    "global_count",
    "global_sample_mean",
    "init_from_env",
    "latest_complete",
    "load_sharded",
    "pack_load",
    "parallelize",
    "parallelize_sampling",
    "save_sharded",
    "sequence_parallel_attention",
    "sequence_parallel_call",
    "shard_pack",
    "spawn",
    "unwrap",
    "world_size_from_env",
]
