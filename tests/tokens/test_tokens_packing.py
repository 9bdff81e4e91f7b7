import random

import pytest
import torch

from chronotope.errors import UsageError
from chronotope.tokens import PackedBatch, num_tokens, pack, pack_stream


def _check_packs(packs, lengths, budget):
    flat = sorted(i for p in packs for i in p)
    assert flat == list(range(len(lengths)))  # every sample exactly once
    assert all(sum(lengths[i] for i in p) <= budget for p in packs)


@pytest.mark.parametrize("seed", range(5))
def test_ffd_invariants(seed):
    rng = random.Random(seed)
    lengths = [rng.choice([16, 64, 96, 256, 512, 1000]) + rng.randrange(8) for _ in range(200)]
    budget = 2048
    packs = pack(lengths, budget)
    _check_packs(packs, lengths, budget)
    # FFD is within 11/9 OPT + 1 bins; the volume bound is a lower bound on OPT.
    assert len(packs) <= 11 / 9 * (sum(lengths) / budget + 1) + 1


def test_ffd_packs_exactly_when_possible():
    assert sorted(map(sorted, pack([6, 4, 3, 7, 5, 5], 10))) == [[0, 1], [2, 3], [4, 5]]


def test_sample_over_budget_raises():
    with pytest.raises(UsageError, match="sample 1 has 11 tokens"):
        pack([3, 11], 10)


def test_pack_stream_covers_stream_within_budget():
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(1000)]
    packs = list(pack_stream(lengths, 512, buffer_size=64))
    _check_packs(packs, lengths, 512)
    useful = sum(lengths) / (512 * len(packs))
    assert useful > 0.95


def _latents():
    g = torch.Generator().manual_seed(0)
    shapes = [(4, 1, 8, 14), (4, 3, 8, 8), (4, 1, 14, 8), (4, 5, 6, 4)]  # images and videos
    return [torch.randn(s, generator=g) for s in shapes]


def test_packed_batch_unpack_is_exact_inverse():
    lat = _latents()
    n = [num_tokens(z.shape) for z in lat]
    sigma = [torch.rand(k) for k in n]
    text = [torch.randn(k, 8) for k in (3, 1, 5, 2)]
    b = PackedBatch.from_latents(lat, sigma=sigma, text=text)
    assert b.segments.seqlens == tuple(n) and not b.segments.padding
    assert b.text_segments.seqlens == (3, 1, 5, 2)
    assert all(torch.equal(a, z) for a, z in zip(b.unpack_latents(b.tokens), lat))
    assert all(torch.equal(a, s) for a, s in zip(b.unpack(b.sigma), sigma))
    assert all(torch.equal(a, t) for a, t in zip(b.text_segments.split(b.text), text))
    assert b.positions[n[0]].tolist() == [0, 0, 0]  # positions restart per sample


def test_padding_is_a_trailing_flagged_segment():
    lat = _latents()
    total = sum(num_tokens(z.shape) for z in lat)
    text = [torch.randn(2, 8) for _ in lat]
    b = PackedBatch.from_latents(lat, text=text, sigma=None, pad_to=total + 10)
    assert b.tokens.shape[0] == total + 10 and b.num_padding == 10
    assert b.segments.padding and b.segments.seqlens[-1] == 10
    assert b.text_segments.padding and b.text_segments.seqlens[-1] == 1
    assert len(b.unpack(b.tokens)) == len(lat)
    assert all(torch.equal(a, z) for a, z in zip(b.unpack_latents(b.tokens), lat))
    with pytest.raises(UsageError):
        PackedBatch.from_latents(lat, pad_to=total - 1)
    assert not PackedBatch.from_latents(lat, pad_to=total).segments.padding
