"""`balance_packs`: every pack once, equal counts, and both tokens and attention balanced."""

from __future__ import annotations

import random

import pytest

from chronotope.distributed.balance import balance_packs, pack_load
from chronotope.errors import UsageError


def _max_load(packs, assignment) -> float:
    """Largest normalized (tokens or attention) load of any rank."""
    loads = [pack_load(p) for p in packs]
    tt, ta = sum(t for t, _ in loads), sum(a for _, a in loads)
    return max(
        max(sum(loads[i][0] for i in r) / tt, sum(loads[i][1] for i in r) / ta) for r in assignment
    )


def test_pack_load():
    assert pack_load([3, 4]) == (7, 25)


def test_long_clips_are_spread_even_when_tokens_are_equal():
    # four packs of 100 tokens: two single long clips, two of ten images
    long, short = [100], [10] * 10
    packs = [long, short, long, short]
    out = balance_packs(packs, 2)
    assert sorted(i for r in out for i in r) == [0, 1, 2, 3]
    for ranks in out:  # each rank: one long clip and one pack of images
        assert sorted(len(packs[i]) for i in ranks) == [1, 10]
    round_robin = [[0, 2], [1, 3]]  # what rank-strided slicing would give: all long on rank 0
    assert _max_load(packs, out) == pytest.approx(0.5)
    assert _max_load(packs, round_robin) == pytest.approx(10000 * 2 / 22000)


def test_random_batches_partition_and_beat_striding():
    rng = random.Random(0)
    for _ in range(20):
        world = rng.choice([2, 3, 4])
        packs = [
            [rng.choice([4, 16, 64, 256, 1024]) for _ in range(rng.randint(1, 6))]
            for _ in range(rng.randint(world, 13))
        ]
        out = balance_packs(packs, world)
        assert sorted(i for r in out for i in r) == list(range(len(packs)))
        sizes = [len(r) for r in out]
        assert max(sizes) - min(sizes) <= 1
        strided = [list(range(r, len(packs), world)) for r in range(world)]
        assert _max_load(packs, out) <= _max_load(packs, strided) + 1e-12
        assert balance_packs(packs, world) == out  # deterministic: every rank agrees


def test_without_same_count_a_huge_pack_gets_a_rank_alone():
    packs = [[2048], [64], [64], [64], [64]]
    assert balance_packs(packs, 2, same_count=False) == [[0], [1, 2, 3, 4]]
    assert balance_packs(packs, 1) == [[0, 1, 2, 3, 4]]
    with pytest.raises(UsageError):
        balance_packs(packs, 0)
