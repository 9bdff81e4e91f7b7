"""How a sampler runs: steps, solver, time shift, guidance and seam candidates, checked once.

A pipeline keeps its defaults as one `SamplingSettings` (saved nested in `model_index.json`);
a call replaces the fields it gives (`dataclasses.replace` checks them again), and the whole
object travels to the sampler and to the guidance (`flow.guidance`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from chronotope.errors import UsageError
from chronotope.flow.path import ShiftConfig
from chronotope.flow.solvers import SOLVERS

# samples of one window drawn to choose the smoothest seams from (each costs a full sampling)
MAX_CANDIDATES = 16


def check_whole(name: str, value: Any, lo: int, hi: float = math.inf) -> None:
    """`value` must be a whole number in [lo, hi] (a float such as 3.0 counts as whole)."""
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise UsageError(f"{name} must be a whole number, got {value}", param=name)
    if not lo <= value <= hi:
        bound = f">= {lo}" if hi == math.inf else f"in [{lo}, {hi:g}]"
        raise UsageError(f"{name} must be {bound}, got {value}", param=name)


def check_unit(name: str, value: float, *, open_low: bool = False) -> None:
    """`value` must lie in [0, 1] ((0, 1] with `open_low`)."""
    ok = 0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0
    if not ok:
        raise UsageError(f"{name} must be in {'(0' if open_low else '[0'}, 1], got {value}")


class Settings:
    """A frozen settings dataclass with a JSON form (nested in `model_index.json`)."""

    group = "a"  # how an error names the group: "not a sampling setting: ..."

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """From the JSON form (`to_dict`); an unknown key is an error."""
        check_keys(cls, values, cls.group)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SamplingSettings(Settings):
    """The solver run of every window, and classifier-free guidance (see `flow.guidance`)."""

    group = "sampling"

    steps: int = 24
    solver: str = "euler"
    guidance: float = 4.0  # 1: the conditional model alone
    shift: ShiftConfig = field(default_factory=ShiftConfig)  # the anchors training used
    early_guidance: float = 1.0  # factor on (guidance - 1) of tokens noisier than early_sigma
    early_sigma: float = 0.7
    early_rescale: float = 0.5  # how far early tokens are scaled back to the conditional spread
    candidates: int = 1  # samples of a window with a moving seam; the smoothest is kept

    def __post_init__(self) -> None:
        check_whole("steps", self.steps, 1)
        for name, kind in (("steps", int), ("guidance", float), ("early_guidance", float)):
            object.__setattr__(self, name, kind(getattr(self, name)))  # 3.0 -> 3, 4 -> 4.0
        if self.solver not in SOLVERS:
            raise UsageError(
                f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}", param="solver"
            )
        if not math.isfinite(self.guidance):
            raise UsageError(
                f"guidance must be a finite number, got {self.guidance}", param="guidance"
            )
        if not (math.isfinite(self.early_guidance) and self.early_guidance >= 0):
            raise UsageError(
                f"early_guidance must be a number >= 0, got {self.early_guidance}",
                param="early_guidance",
            )
        check_unit("early_sigma", self.early_sigma)
        check_unit("early_rescale", self.early_rescale)
        if not (
            isinstance(self.candidates, numbers.Integral) and 1 <= self.candidates <= MAX_CANDIDATES
        ):
            raise UsageError(
                f"candidates must be a whole number in [1, {MAX_CANDIDATES}], got "
                f"{self.candidates}",
                param="candidates",
            )
        if isinstance(self.shift, Mapping):  # its JSON form (a training run's anchors)
            object.__setattr__(self, "shift", ShiftConfig(**self.shift))
        if not isinstance(self.shift, ShiftConfig):
            raise UsageError(f"shift must be a ShiftConfig, got {type(self.shift).__name__}")


def check_keys(known: type | Mapping, values: Mapping[str, Any], group: str) -> None:
    """Refuse keys that are no field of the settings dataclass (or no key of the mapping)
    `known` (never ignored)."""
    names = set(known) if isinstance(known, Mapping) else {f.name for f in fields(known)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"not a {group} setting: {', '.join(unknown)}")
