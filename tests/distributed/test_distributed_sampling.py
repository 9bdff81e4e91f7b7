"""Sequence-parallel sampling on 2 gloo ranks: a packed set of draws (an image, a short clip, a
long clip, with guidance) gives the one-process latents within 1e-5 in fp32, on every rank."""

from __future__ import annotations

import torch

from chronotope.distributed.launch import spawn
from chronotope.distributed.sampling import parallelize_sampling
from chronotope.flow.settings import SamplingSettings
from chronotope.model.attention import attention
from chronotope.pipeline.pipeline import ChronotopePipeline
from chronotope.pipeline.sampler import Draw, sample_draws

TOL = 1e-5


def _sample(parallel: bool = False) -> list[torch.Tensor]:
    pipe = ChronotopePipeline.from_random(heads=2)
    pipe.autocast = False  # fp32: exact comparison
    if parallel:
        parallelize_sampling(pipe)
    c = pipe.transformer.config.in_channels
    g = torch.Generator().manual_seed(3)
    jobs = []
    for i, (t, h, w) in enumerate([(1, 4, 6), (3, 4, 4), (7, 6, 6)]):  # image, short, long
        start = torch.ones(t)
        if t > 1:
            start[0] = 0.0  # a pinned first frame (image-to-video): its tokens stay exact
        z, text = torch.randn(c, t, h, w, generator=g), torch.randn(2 + i, 384, generator=g)
        jobs.append(Draw(z, start, text, i))
    uncond = torch.randn(1, 384, generator=g)
    settings = SamplingSettings(steps=3, guidance=2.5)
    return sample_draws(
        pipe.transformer, jobs, uncond_text=uncond, settings=settings, autocast=False,
        call=pipe.transformer_call,
    )  # fmt: skip


def _rank(rank: int, world: int, path: str) -> None:
    import chronotope.distributed.sampling as sp

    calls = []  # (tokens of the packed sequence, tokens this rank ran the DiT on)
    real_shard_pack = sp.shard_pack

    def recorded(x, *args, **kw):
        shard = real_shard_pack(x, *args, **kw)
        calls.append((x.shape[0], shard.x.shape[0]))
        return shard

    sp.shard_pack = recorded
    try:
        latents = _sample(parallel=True)
    finally:
        sp.shard_pack = real_shard_pack
    # composed on that pipeline only: a new one samples as one process does
    fresh = ChronotopePipeline.from_random(heads=2)
    assert fresh.transformer_call is None and fresh.transformer.attention is attention
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
