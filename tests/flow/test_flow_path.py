import math

import pytest
import torch

from chronotope.errors import UsageError
from chronotope.flow import (
    ShiftConfig,
    add_noise,
    sample_sigma,
    shift_for_tokens,
    shift_sigma,
    unshift_sigma,
    velocity_target,
)


def test_data_and_noise_recovered_from_x_sigma_and_velocity():
    g = torch.Generator().manual_seed(0)
    x, noise = torch.randn(50, 12, generator=g), torch.randn(50, 12, generator=g)
    sigma = torch.rand(50, generator=g)
    xs = add_noise(x, noise, sigma)
    v = velocity_target(x, noise)
    torch.testing.assert_close(xs - sigma[:, None] * v, x)
    torch.testing.assert_close(xs + (1 - sigma[:, None]) * v, noise)
    # the ends of the path: sigma 0 is data, sigma 1 is noise
    assert torch.equal(add_noise(x, noise, 0.0), x)
    assert torch.equal(add_noise(x, noise, 1.0), noise)


def test_shift_identity_at_one_fixes_ends_and_inverts():
    s = torch.linspace(0, 1, 101)
    assert torch.equal(shift_sigma(s, 1.0), s)
    for a in (0.5, 3.0, 7.0):
        out = shift_sigma(s, a)
        assert out[0] == 0 and out[-1] == 1
        assert torch.all(out[1:] >= out[:-1])  # monotone in sigma
        torch.testing.assert_close(unshift_sigma(out, a), s)
    assert shift_sigma(0.5, 3.0) == pytest.approx(0.75)  # a*s/(1+(a-1)s) = 1.5/2


def test_shift_for_tokens_monotone_in_n_and_hits_anchors():
    cfg = ShiftConfig(base_tokens=64, base_shift=1.0, max_tokens=4096, max_shift=3.0)
    kw = vars(cfg)
    ns = [1, 16, 64, 100, 256, 1000, 4096, 10_000]
    a = [shift_for_tokens(n, **kw) for n in ns]
    assert all(x <= y for x, y in zip(a, a[1:]))
    assert a[2] == pytest.approx(1.0) and a[6] == pytest.approx(3.0)
    assert a[0] == a[1] == 1.0 and a[-1] == pytest.approx(3.0)  # clamped outside the anchors
    # log-linear in log N: the geometric midpoint 512 tokens gets sqrt(1*3)
    assert shift_for_tokens(512, **kw) == pytest.approx(math.sqrt(3.0))
    # the tensor path agrees with the scalar path
    t = shift_for_tokens(torch.tensor(ns), **kw)
    torch.testing.assert_close(t, torch.tensor(a, dtype=torch.float64))


def test_shift_config_rejects_bad_anchors():
    with pytest.raises(UsageError):
        ShiftConfig(base_tokens=100, max_tokens=50)
    with pytest.raises(UsageError):
        ShiftConfig(base_shift=2.0, max_shift=1.0)


def test_logit_normal_median_and_quantiles():
    g = torch.Generator().manual_seed(1)
    mean, std = 0.5, 0.8
    s = sample_sigma(200_000, g, mean=mean, std=std)
    assert s.min() > 0 and s.max() < 1
    logit = torch.logit(s.double())
    assert logit.mean().item() == pytest.approx(mean, abs=0.01)
    assert logit.std().item() == pytest.approx(std, abs=0.01)
    normal = torch.distributions.Normal(0.0, 1.0)
    for q in (0.1, 0.5, 0.9):
        expected = torch.sigmoid(mean + std * normal.icdf(torch.tensor(q))).item()
        assert torch.quantile(s[:50_000], q).item() == pytest.approx(expected, abs=0.01)


def test_sample_sigma_is_deterministic_per_generator():
    a = sample_sigma(8, torch.Generator().manual_seed(3))
    b = sample_sigma(8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
