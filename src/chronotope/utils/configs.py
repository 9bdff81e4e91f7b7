"""Comparing saved model configs (diffusers `config.json`): the one rule behind every "these
weights fit this model" check (fine-tune init of the DiT and the VAE, the VAE swap of export)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def _plain(value: Any) -> Any:
    """The value as JSON reads it back (tuples become lists, ints stay ints)."""
    return json.loads(json.dumps(value))


def config_differences(
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    keys: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
) -> list[str]:
    """Sorted config keys whose values differ, compared as saved JSON. `keys` defaults to the
    keys of either; diffusers' bookkeeping (keys starting with "_") and `ignore` never count;
    a key one side lacks compares as None."""
    skip = set(ignore)
    names = set(mine) | set(theirs) if keys is None else set(keys)
    names = {k for k in names if not k.startswith("_") and k not in skip}
    return sorted(k for k in names if _plain(mine.get(k)) != _plain(theirs.get(k)))
