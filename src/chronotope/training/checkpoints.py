"""Which checkpoint a run resumes: the newest complete one in `out/checkpoints` (a pickle-free
DCP folder, `distributed.checkpoint`), refused when it was trained with another model or data,
or written by an older chronotope (a pickled DCP index, a one-process trainer's folder)."""

from __future__ import annotations

import json
from pathlib import Path

from chronotope.distributed.checkpoint import check_sharded, latest_complete
from chronotope.errors import UsageError
from chronotope.training.config import TrainConfig

FORMAT = "chronotope-sharded-v2"  # v2: safetensors shards + state.json, no pickle
# fields that must match the checkpoint being resumed (they define the model or the data)
RESUME_FIXED = (
    "model",
    "width",
    "depth",
    "heads",
    "patch",
    "data",
    "vae",
    "sizes",
    "seconds",
    "fps",
    "token_budget",
    "buffer_size",
    "seed",
    "lora",
)


def resumable_checkpoint(cfg: TrainConfig) -> tuple[Path | None, dict | None]:
    """The checkpoint a run of `cfg` resumes and its meta.json; (None, None) to start afresh."""
    path = latest_complete(Path(cfg.out) / "checkpoints")
    if path is None:
        return None, None
    check_sharded(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise UsageError(
            f"{path} is a checkpoint of format {meta.get('format')}, not {FORMAT}; "
            "use another --out to start afresh"
        )
    saved, defaults = meta["config"], TrainConfig()
    for name in RESUME_FIXED:
        mine = json.loads(json.dumps(getattr(cfg, name)))  # tuples -> lists, like JSON
        # a field added since the checkpoint was written had its default then
        theirs = saved.get(name, json.loads(json.dumps(getattr(defaults, name))))
        if theirs != mine:
            raise UsageError(
                f"--{name.replace('_', '-')} is {mine} but the checkpoint in {path} was "
                f"trained with {theirs}; use another --out to start afresh",
                param=name,
            )
    return path, meta
