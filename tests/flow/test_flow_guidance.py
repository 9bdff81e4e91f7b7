"""Classifier-free guidance over a packed batch: both branches in one call, per sample."""

import pytest
import torch

from chronotope.errors import UsageError
from chronotope.flow.guidance import guided_model_fn
from chronotope.flow.settings import SamplingSettings
from chronotope.tokens import PackedBatch


def _batch():
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(4, 2, 4, 4, generator=g), torch.randn(4, 1, 2, 6, generator=g)]
    text = [torch.randn(3, 8, generator=g), torch.randn(2, 8, generator=g)]
    return PackedBatch.from_latents(latents, patch=(1, 2, 2), text=text)


def _model(calls):
    """A velocity that depends on each token's own segment's text (as cross-attention does)."""

    def call(x, sigma, positions, segments, text, text_segments):
        calls.append(segments.total)
        means = torch.stack([t.mean() for t in text.split(list(text_segments.seqlens))])
        return x * 2 + means.repeat_interleave(torch.tensor(segments.seqlens))[:, None]

    return call


def test_guidance_is_the_unconditional_velocity_pushed_towards_the_conditional_one():
    batch, uncond = _batch(), torch.full((1, 8), 0.5)
    x, sigma = batch.tokens.float(), torch.ones(batch.tokens.shape[0])
    calls = []
    fn = lambda g: guided_model_fn(_model(calls), batch, uncond, SamplingSettings(guidance=g))  # noqa: E731
    cond = fn(1.0)(x, sigma)
    assert calls == [x.shape[0]]  # guidance 1: the conditional model alone, one copy
    v = fn(4.0)(x, sigma)
    assert calls[-1] == 2 * x.shape[0]  # both branches packed into one call
    torch.testing.assert_close(v, (x * 2 + 0.5) + 4.0 * (cond - (x * 2 + 0.5)))


def test_sampling_settings_are_checked_once_with_the_name_of_the_bad_one():
    for bad, param in [
        (dict(steps=0), "steps"),
        (dict(guidance=float("nan")), "guidance"),
        (dict(early_guidance=-1.0), "early_guidance"),
        (dict(candidates=17), "candidates"),
        (dict(solver="rk4"), "solver"),
    ]:
        with pytest.raises(UsageError) as e:
            SamplingSettings(**bad)
        assert e.value.param == param
    with pytest.raises(UsageError, match="not a sampling setting: stepz"):
        SamplingSettings.from_dict({"stepz": 3})
    s = SamplingSettings.from_dict(SamplingSettings(steps=3.0, guidance=2).to_dict())
    assert (s.steps, s.guidance) == (3, 2.0) and isinstance(s.steps, int)
