"""World seeds for training and for evaluation: two ranges that cannot meet.

Every training stream (the DiT's world pool, the VAE's clip source) draws its world seeds below
`TRAIN_SEEDS`. The eval draws its clips from a frozen range above it, one block of `EVAL_BLOCK`
seeds per eval `--seed`, so no training run, tuning or benchmark can reach an eval clip by
construction (a test checks both sides).
"""

from __future__ import annotations

from chronotope.errors import UsageError

TRAIN_SEEDS = 1_000_000_000  # training world seeds are in [0, TRAIN_SEEDS)
EVAL_SEEDS = 1_500_000_000  # eval world seeds are in [EVAL_SEEDS, EVAL_SEEDS + 1000 * EVAL_BLOCK)
EVAL_BLOCK = 100_000  # seeds per eval --seed: room for every case of one run


def eval_seed(seed: int, offset: int) -> int:
    """The world seed of case `offset` of an eval run with `--seed seed`."""
    if not 0 <= seed < 1000:
        raise UsageError(f"eval seed must be in [0, 1000), got {seed}", param="seed")
    if not 0 <= offset < EVAL_BLOCK:
        raise UsageError(f"eval case offset must be in [0, {EVAL_BLOCK}), got {offset}")
    return EVAL_SEEDS + seed * EVAL_BLOCK + offset
