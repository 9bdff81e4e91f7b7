"""ODE solvers for the rectified-flow sampler, k-diffusion style: one signature over a callable.

    solver(model_fn, x (L, D), sigmas (K+1, L), *, callback=None) -> x

`model_fn(x (L, D), sigma (L,)) -> v (L, D)` is the velocity model (packed, per-token sigma).
`sigmas` gives every token its own schedule: conditioning tokens sit at 0 throughout (a step
with d sigma = 0 leaves them bit-exact, enforced with `torch.where`, not by arithmetic),
SDEdit tokens start at their strength s, and packed samples may use different shifts. All
schedules share the step count K. The state `x` stays in its own dtype (float32) even when
`model_fn` runs under bf16 autocast. Guidance is a `model_fn` wrapper (`flow.guidance`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from chronotope.errors import UsageError
from chronotope.flow.path import shift_sigma, unshift_sigma

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# callback(step, num_steps, x): called after each of the K steps with the current state
Callback = Callable[[int, int, torch.Tensor], None]


def make_schedule(num_steps: int, *, shift: float = 1.0, start: float = 1.0) -> torch.Tensor:
    """(K+1,) float32 noise levels from `start` down to exactly 0, uniform in the unshifted time
    then shifted by `shift`; `start` < 1 (SDEdit strength) is hit exactly."""
    if num_steps < 1:
        raise UsageError(f"num_steps must be >= 1, got {num_steps}")
    if not 0.0 < start <= 1.0:
        raise UsageError(f"start (strength) must be in (0, 1], got {start}")
    if shift <= 0:
        raise UsageError(f"shift must be > 0, got {shift}")
    t0 = unshift_sigma(torch.tensor(start, dtype=torch.float64), shift)
    sigmas = shift_sigma(torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64) * t0, shift)
    sigmas[0], sigmas[-1] = start, 0.0  # exact ends, no rounding drift
    return sigmas.float()


def token_schedules(
    schedules: Sequence[torch.Tensor], lengths: Sequence[int], cond: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token schedule (K+1, L) from one (K+1,) schedule per packed sample of `lengths`
    tokens; tokens where `cond` (L,) is True stay at sigma 0 throughout."""
    if len(schedules) != len(lengths):
        raise UsageError(f"{len(schedules)} schedules for {len(lengths)} samples")
    if len({len(s) for s in schedules}) > 1:
        raise UsageError("every packed sample's schedule must have the same number of steps")
    # (S, K+1) -> (K+1, L): repeat each sample's column over its tokens
    cols = torch.stack(list(schedules), dim=1)
    out = cols.repeat_interleave(torch.as_tensor(list(lengths)), dim=1)
    if cond is not None:
        out = out.masked_fill(cond.to(out.device), 0.0)
    return out


def _check(x: torch.Tensor, sigmas: torch.Tensor) -> None:
    if sigmas.ndim != 2 or sigmas.shape[1] != x.shape[0] or sigmas.shape[0] < 2:
        raise UsageError(
            f"sigmas must be (K+1 >= 2, L={x.shape[0]}) per-token schedules, got {tuple(sigmas.shape)}"
        )


def _step(x: torch.Tensor, dt: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x + dt * v for moving tokens; tokens with dt == 0 are returned untouched (bit-exact)."""
    moved = x + dt.to(x.dtype)[:, None] * v.to(x.dtype)
    return torch.where((dt != 0)[:, None], moved, x)


@torch.no_grad()
def euler(
    model_fn: ModelFn, x: torch.Tensor, sigmas: torch.Tensor, *, callback: Callback | None = None
) -> torch.Tensor:
    """Euler's method on the probability-flow ODE (Liu et al. 2022, rectified flow)."""
    _check(x, sigmas)
    steps = sigmas.shape[0] - 1
    for i in range(steps):
        v = model_fn(x, sigmas[i])
        x = _step(x, sigmas[i + 1] - sigmas[i], v)
        if callback is not None:
            callback(i + 1, steps, x)
    return x


@torch.no_grad()
def heun(
    model_fn: ModelFn, x: torch.Tensor, sigmas: torch.Tensor, *, callback: Callback | None = None
) -> torch.Tensor:
    """Heun's 2nd-order method, 2 evaluations per step (Karras et al. 2022, Alg. 1).

    Unlike the EDM denoiser form, the flow velocity is finite at sigma = 0, so the last step
    is a full Heun step too and the method stays 2nd order over the whole schedule."""
    _check(x, sigmas)
    steps = sigmas.shape[0] - 1
    for i in range(steps):
        dt = sigmas[i + 1] - sigmas[i]
        v1 = model_fn(x, sigmas[i])
        x_euler = _step(x, dt, v1)
        v2 = model_fn(x_euler, sigmas[i + 1])
        x = _step(x, dt, (v1.to(x.dtype) + v2.to(x.dtype)) / 2)
        if callback is not None:
            callback(i + 1, steps, x)
    return x


SOLVERS: dict[str, Callable[..., torch.Tensor]] = {"euler": euler, "heun": heun}


def get_solver(name: str) -> Callable[..., torch.Tensor]:
    if name not in SOLVERS:
        raise UsageError(f"solver must be one of {', '.join(SOLVERS)}, got {name!r}")
    return SOLVERS[name]
