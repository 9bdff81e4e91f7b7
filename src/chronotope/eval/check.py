"""Thresholds on evaluation metrics, so `make test` can catch regressions of the model.

A thresholds file is JSON mapping a metric name (as in results.json `metrics`) to a minimum, or to
{"min": a} / {"max": b} / both. A name the evaluation did not measure is an error (a typo would
otherwise pass silently), and a NaN measurement fails every bound.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from chronotope.errors import UsageError

# metrics where smaller is better: suggested thresholds are upper bounds for these
LOWER_IS_BETTER = (
    "velocity_error",
    "position_error",
    "center_error",
    "flicker",
    "seam",
    "wrap_ratio",
    "layout_error",
    "disagreement",
    "velocity_change",
)


def lower_is_better(name: str) -> bool:
    if name.endswith((".found", ".truth")):  # fractions of cases: higher is better
        return False
    return any(part in name for part in LOWER_IS_BETTER)


def load_thresholds(path: str | Path) -> dict[str, dict[str, float]]:
    """Read and normalise a thresholds file to {name: {"min"?: a, "max"?: b}}."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read thresholds {path}: {e}", param="check") from None
    if not isinstance(raw, dict):
        raise UsageError(f"thresholds {path} must be a JSON object", param="check")
    out: dict[str, dict[str, float]] = {}
    for name, bound in raw.items():
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            out[name] = {"min": float(bound)}
        elif isinstance(bound, dict) and bound and set(bound) <= {"min", "max"}:
            out[name] = {k: float(v) for k, v in bound.items()}
        else:
            raise UsageError(
                f"threshold of {name!r} must be a number or {{min, max}}", param="check"
            )
    return out


def check(metrics: dict[str, float], thresholds: dict[str, dict[str, float]]) -> list[str]:
    """One line per failed bound (empty: every metric is within its thresholds)."""
    unknown = sorted(set(thresholds) - set(metrics))
    if unknown:
        raise UsageError(f"thresholds name unmeasured metrics: {', '.join(unknown)}", param="check")
    failures = []
    for name, bound in sorted(thresholds.items()):
        v = metrics[name]
        lo, hi = bound.get("min", -math.inf), bound.get("max", math.inf)
        if math.isnan(v) or v < lo or v > hi:
            rule = " and ".join(f"{k} {b:g}" for k, b in bound.items())
            failures.append(f"{name} = {v:.4g}, expected {rule}")
    return failures


RELATIVE_MARGIN = 0.15  # no bound is further than this from the measured figure


def margin(value: float, cases: int | None) -> float:
    """How far below a measured rate (or above an error) its threshold sits.

    A rate p measured on n cases: one binomial standard error, sqrt(p(1-p)/n), and at least one
    case's worth (1/n, so a measured 1.0 allows one case to flip); a figure without a case count
    (an error in frame sizes): RELATIVE_MARGIN of it. Never more than RELATIVE_MARGIN of the
    figure: a model 20% worse than the measured one always fails."""
    cap = RELATIVE_MARGIN * abs(value)
    if not cases:
        return cap
    p = min(max(value, 0.0), 1.0)
    return min(max(math.sqrt(p * (1 - p) / cases), 1.0 / cases), cap)


def suggest(
    metrics: dict[str, float], names: list[str], cases: dict[str, int] | None = None
) -> dict[str, dict]:
    """Thresholds one `margin` worse than the measured values of `names`."""
    cases = cases or {}
    out = {}
    for name in names:
        v = metrics.get(name, math.nan)
        if math.isnan(v) or v == 0:
            continue  # a bound of 0 guards nothing
        if lower_is_better(name):
            out[name] = {"max": round(v + margin(v, None) + 1e-6, 6)}
        else:
            out[name] = {"min": round(v - margin(v, cases.get(name)) - 1e-9, 6)}
    return out
