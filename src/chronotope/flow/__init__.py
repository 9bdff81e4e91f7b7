"""Rectified flow: the noise path and time shift, training noise levels, task masks, the loss,
the ODE solvers, guidance (`flow.guidance`) and the sampling settings (`flow.settings`) (see `../../docs/ARCHITECTURE.md`)."""

from chronotope.flow.loss import flow_loss
from chronotope.flow.masks import (
    TASK_KINDS,
    TaskMix,
    per_token_sigma,
    random_task_mask,
    sample_task,
    task_mask,
)
from chronotope.flow.path import (
    ShiftConfig,
    add_noise,
    shift_for_tokens,
    shift_sigma,
    unshift_sigma,
    velocity_target,
)
from chronotope.flow.solvers import (
    SOLVERS,
    euler,
    get_solver,
    heun,
    make_schedule,
    token_schedules,
)
from chronotope.flow.timesteps import sample_sigma

__all__ = [
    "SOLVERS",
    "TASK_KINDS",
    "ShiftConfig",
    "TaskMix",
    "add_noise",
    "euler",
    "flow_loss",
    "get_solver",
    "heun",
    "make_schedule",
    "per_token_sigma",
    "random_task_mask",
    "sample_sigma",
    "sample_task",
    "shift_for_tokens",
    "shift_sigma",
    "task_mask",
    "token_schedules",
    "unshift_sigma",
    "velocity_target",
]
