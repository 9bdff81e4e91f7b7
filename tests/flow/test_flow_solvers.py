import math

import pytest
import torch

from chronotope.errors import UsageError
from chronotope.flow import euler, heun, make_schedule, token_schedules


def gaussian_velocity(mu: torch.Tensor, s: torch.Tensor):
    """Exact velocity E[noise - x0 | x_sigma = x] for data x0 ~ N(mu, s^2) per row, noise N(0,1).

    x_sigma = (1-sigma) mu + r z with r^2 = (1-sigma)^2 s^2 + sigma^2, so the ODE maps noise
    x1 to data x0 = mu + s * x1 exactly (the oracle)."""

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sg = sigma[:, None].to(x.dtype)
        r2 = (1 - sg) ** 2 * s**2 + sg**2
        return -mu + (sg - (1 - sg) * s**2) / r2 * (x - (1 - sg) * mu)

    return v


def _error(solver, steps: int, shift: float = 3.0) -> float:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(16, 4, generator=g, dtype=torch.float64)
    s = 0.2 + torch.rand(16, 4, generator=g, dtype=torch.float64)
    x1 = torch.randn(16, 4, generator=g, dtype=torch.float64)
    sigmas = make_schedule(steps, shift=shift).double()[:, None].expand(-1, 16)
    out = solver(gaussian_velocity(mu, s), x1.clone(), sigmas)
    return (out - (mu + s * x1)).abs().max().item()


@pytest.mark.parametrize("solver,order", [(euler, 1), (heun, 2)])
def test_convergence_order_on_a_gaussian(solver, order):
    errs = [_error(solver, n) for n in (8, 16, 32, 64)]
    rates = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    assert all(abs(r - order) < 0.25 for r in rates[1:]), (errs, rates)
    assert errs[-1] < (0.1 if order == 1 else 2e-3)  # and it does converge to the oracle


def test_point_data_is_exact_in_one_euler_step():
    # data = a fixed point: the path is straight, so one Euler step lands exactly on it
    point = torch.tensor([[0.3, -1.2]])
    v = lambda x, sigma: (x - point) / sigma[:, None]  # noqa: E731  (x - x0) / sigma
    out = euler(v, torch.randn(1, 2), make_schedule(1)[:, None])
    torch.testing.assert_close(out, point)


def test_conditioning_tokens_stay_bit_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 3, generator=g)
    x[0, 0] = -0.0  # x + 0 * v would turn -0.0 into +0.0; the solvers must not touch it
    cond = torch.tensor([True, True, False, False, False, True, False, False, False, False])
    sched = token_schedules([make_schedule(6, shift=2.0), make_schedule(6)], [5, 5], cond)
    assert torch.all(sched[:, cond] == 0)

    def model(x, sigma):
        v = torch.randn(x.shape, generator=g)
        v[cond] = float("inf")  # anything, even inf, must not leak into clean tokens
        return v

    for solver in (euler, heun):
        out = solver(model, x.clone(), sched)
        assert torch.equal(out[cond], x[cond])
        assert torch.signbit(out[0, 0])
        assert torch.isfinite(out[~cond]).all() and not torch.equal(out[~cond], x[~cond])


def test_packed_schedules_equal_each_sample_alone():
    g = torch.Generator().manual_seed(0)
    mu, s = torch.randn(7, 2, generator=g), 0.5 + torch.rand(7, 2, generator=g)
    x = torch.randn(7, 2, generator=g)
    scheds = [make_schedule(5, shift=1.0), make_schedule(5, shift=3.0, start=0.6)]
    packed = heun(gaussian_velocity(mu, s), x.clone(), token_schedules(scheds, [3, 4]))
    a = heun(gaussian_velocity(mu[:3], s[:3]), x[:3].clone(), scheds[0][:, None].expand(-1, 3))
    b = heun(gaussian_velocity(mu[3:], s[3:]), x[3:].clone(), scheds[1][:, None].expand(-1, 4))
    torch.testing.assert_close(packed, torch.cat([a, b]))


def test_make_schedule_ends_and_monotone():
    for shift, start in ((1.0, 1.0), (3.0, 1.0), (3.0, 0.35)):
        s = make_schedule(10, shift=shift, start=start)
        assert s.shape == (11,) and s[0].item() == pytest.approx(start) and s[-1] == 0
        assert torch.all(s[1:] < s[:-1])
    torch.testing.assert_close(make_schedule(4), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    # a shift > 1 spends more steps at high noise
    assert make_schedule(4, shift=3.0)[2] > 0.5
    for bad in ({"num_steps": 0}, {"num_steps": 4, "start": 0.0}, {"num_steps": 4, "shift": 0}):
        with pytest.raises(UsageError):
            make_schedule(**bad)


def test_callback_reports_steps():
    seen = []
    euler(
        lambda x, s: torch.ones_like(x),
        torch.zeros(2, 2),
        make_schedule(3)[:, None].expand(-1, 2),
        callback=lambda i, n, x: seen.append((i, n)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_bad_schedule_shape_rejected():
    with pytest.raises(UsageError):
        euler(lambda x, s: x, torch.zeros(3, 2), torch.zeros(4, 2))
