"""Sequence-parallel sampling on 2 gloo ranks: a packed set of jobs (an image, a short clip, a
long clip, with guidance) gives the one-process latents within 1e-5 in fp32, on every rank."""

from __future__ import annotations

import torch

from chronotope.distributed.launch import spawn
from chronotope.distributed.sampling import (
    disable_sequence_parallel_sampling,
    enable_sequence_parallel_sampling,
)
from chronotope.pipeline import sampler
from chronotope.pipeline.pipeline import ChronotopePipeline
from chronotope.pipeline.sampler import Job, sample_jobs

TOL = 1e-5


def _sample() -> list[torch.Tensor]:
    pipe = ChronotopePipeline.from_random(heads=2)
    pipe.autocast = False  # fp32: exact comparison
    c = pipe.transformer.config.in_channels
    g = torch.Generator().manual_seed(3)
    jobs = []
    for i, (t, h, w) in enumerate([(1, 4, 6), (3, 4, 4), (7, 6, 6)]):  # image, short, long
        start = torch.ones(t)
        if t > 1:
            start[0] = 0.0  # a pinned first frame (image-to-video): its tokens stay exact
        jobs.append(
            Job(
                torch.randn(c, t, h, w, generator=g), start, torch.randn(2 + i, 384, generator=g), i
            )
        )
    uncond = torch.randn(1, 384, generator=g)
    return sample_jobs(
        pipe.transformer, jobs, uncond_text=uncond, steps=3, guidance=2.5, autocast=False
    )


def _rank(rank: int, world: int, path: str) -> None:
    import chronotope.distributed.sampling as sp

    calls = []  # (tokens of the packed sequence, tokens this rank ran the DiT on)
    real_shard_pack = sp.shard_pack

    def recorded(x, *args, **kw):
        shard = real_shard_pack(x, *args, **kw)
        calls.append((x.shape[0], shard.x.shape[0]))
        return shard

    sp.shard_pack = recorded
    enable_sequence_parallel_sampling()
    try:
        latents = _sample()
    finally:
        disable_sequence_parallel_sampling()
        sp.shard_pack = real_shard_pack
    assert sampler.transformer_call is sampler.call_transformer
    torch.save({"latents": latents, "calls": calls}, f"{path}.{rank}")


def test_two_rank_sampling_matches_one_process(tmp_path):
    path = str(tmp_path / "latents.pt")
    spawn(_rank, 2, path)
    want = _sample()
    for rank in range(2):
        got = torch.load(f"{path}.{rank}")
        assert len(got["calls"]) == 3  # one transformer call per Euler step
        for full, local in got["calls"]:  # each rank ran the DiT on half of the tokens
            assert local == (full + 1) // 2 and full == 2 * (6 + 12 + 63)  # guidance doubles
        assert len(got["latents"]) == len(want)
        for g, w in zip(got["latents"], want):
            assert g.shape == w.shape
            torch.testing.assert_close(g, w, rtol=0, atol=TOL)
