"""Pinned items: which names each family takes, and their valid values.

An override the family does not use is an error, never silently ignored.
"""

from __future__ import annotations

from chronotope.errors import UsageError
from chronotope.world.vocab import (
    ACTIONS,
    BACKGROUNDS,
    COLORS,
    DIRECTIONS,
    FAMILIES,
    MOTIONS,
    SHAPES,
)

# Which items each family lets a caller pin (anything else is an error, never ignored).
FAMILY_OVERRIDES: dict[str, tuple[str, ...]] = {
    "single": ("shape", "color", "motion", "background"),
    "pair": ("shape", "color", "motion", "shape2", "color2", "motion2", "background"),
    "collision": ("shape", "color", "shape2", "color2", "background"),
    "occlusion": ("shape", "color", "direction", "background"),
    "pan": ("shape", "color", "direction", "background"),
    "game": ("color", "action", "background"),
}
OVERRIDE_VALUES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "shape2": SHAPES,
    "color": tuple(COLORS),
    "color2": tuple(COLORS),
    "motion": MOTIONS,
    "motion2": MOTIONS,
    "background": tuple(BACKGROUNDS),
    "direction": DIRECTIONS,
    "action": ACTIONS,
}


def check_overrides(family: str | None, overrides: dict) -> str | None:
    """Validate names and values; returns the family (None = sample among compatible ones)."""
    if family is not None and family not in FAMILIES:
        raise UsageError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}", param="family")
    for name, value in overrides.items():
        if name not in OVERRIDE_VALUES:
            raise UsageError(
                f"unknown override {name!r}; valid: {', '.join(OVERRIDE_VALUES)}", param=name
            )
        if value not in OVERRIDE_VALUES[name]:
            valid = ", ".join(OVERRIDE_VALUES[name])
            raise UsageError(f"unknown {name} {value!r}; valid: {valid}", param=name)
        if family is not None and name not in FAMILY_OVERRIDES[family]:
            valid = ", ".join(FAMILY_OVERRIDES[family])
            raise UsageError(
                f"family {family!r} does not take {name!r}; it takes: {valid}", param=name
            )
    compatible = [set(overrides) <= set(names) for names in FAMILY_OVERRIDES.values()]
    if family is None and not any(compatible):
        raise UsageError(f"no family takes all of {', '.join(sorted(overrides))}", param="family")
    return family
