"""A pipeline folder loaded without its weights: what a call can be told before any weight loads.

`load_without_weights` builds the transformer and the VAE from their configs on the meta device
(no weight file is opened), so `pipe.prepare(request)` resolves the call, checks it against the
memory and time budgets and estimates its time (`pipeline.timing` calibrates modules of the same
configs with random weights). The CLI refuses a call over budget this way before the real
pipeline loads (`load_pipeline`), and runs what it prepared on that one (`pipe.run(call)`).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chronotope.errors import CorruptFileError, UsageError
from chronotope.pipeline.loading import COMPONENTS, default_model_dir, quiet_diffusers

if TYPE_CHECKING:
    from chronotope.pipeline.pipeline import ChronotopePipeline


def load_without_weights(path: str | os.PathLike | None = None) -> ChronotopePipeline:
    """The pipeline of a `save_pretrained` folder (default: the bundled model) with
    meta-device components: it prepares calls (`pipe.prepare`) but cannot sample them."""
    from chronotope.pipeline.pipeline import ChronotopePipeline

    folder = Path(path) if path is not None else default_model_dir()
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        hint = "" if path is not None else " (no bundled model in this install; pass --model DIR)"
        raise UsageError(f"{folder} is not a chronotope model folder{hint}", param="model")
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as e:
        raise CorruptFileError(f"{index_path}: not readable as JSON ({e})") from e
    components = {}
    with quiet_diffusers(), torch.device("meta"):
        for name, (module, cls_name) in COMPONENTS.items():
            if index.pop(name, None) != [module, cls_name]:  # never import what a folder names
                raise CorruptFileError(f"{index_path}: {name} is not a chronotope {cls_name}")
            cls = getattr(importlib.import_module(module), cls_name)
            try:
                config = cls.load_config(folder / name)
            except (OSError, ValueError) as e:
                raise CorruptFileError(f"{folder / name}: no readable config.json ({e})") from e
            components[name] = cls.from_config(config).eval()
    settings = {k: v for k, v in index.items() if not k.startswith("_")}
    pipe = ChronotopePipeline(**components, **settings)
    pipe.set_progress_bar_config(leave=False)
    return pipe
