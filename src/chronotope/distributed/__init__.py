"""Parallel training: one `parallelize()` for DDP / FSDP2, Ulysses sequence parallelism for
long videos, pack balancing over ranks, and sharded (DCP) checkpoints. Model files hold none of
it. See docs/DISTRIBUTED.md."""

from chronotope.distributed.balance import balance_packs, pack_load
from chronotope.distributed.checkpoint import (
    export_pretrained,
    latest_complete,
    load_sharded,
    save_sharded,
)
from chronotope.distributed.launch import init_from_env, spawn, world_size_from_env
from chronotope.distributed.parallelize import global_sample_mean, parallelize, unwrap
from chronotope.distributed.sequence import (
    SequenceShard,
    ShardedSegments,
    all_reduce_gradients,
    disable_sequence_parallel,
    enable_sequence_parallel,
    shard_pack,
)

__all__ = [
    "SequenceShard",
    "ShardedSegments",
    "all_reduce_gradients",
    "balance_packs",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "export_pretrained",
    "global_sample_mean",
    "init_from_env",
    "latest_complete",
    "load_sharded",
    "pack_load",
    "parallelize",
    "save_sharded",
    "shard_pack",
    "spawn",
    "unwrap",
    "world_size_from_env",
]
