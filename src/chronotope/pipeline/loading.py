"""Where the bundled model lives and how a pipeline folder is loaded (offline, safetensors only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chronotope.errors import UsageError
from chronotope.utils.paths import BUNDLED_MODEL_DIR as DEFAULT_MODEL_DIR

if TYPE_CHECKING:  # the pipeline module imports diffusers: loaded when a pipeline is
    from chronotope.pipeline.pipeline import ChronotopePipeline


def default_model_dir() -> Path:
    """The bundled world model, or `$CHRONOTOPE_MODEL` when set."""
    return Path(os.environ.get("CHRONOTOPE_MODEL", DEFAULT_MODEL_DIR))


@contextmanager
def quiet_diffusers() -> Iterator[None]:
    """diffusers logs errors only inside (no hub/accelerate chatter on a local, offline load,
    no warning on every `.to(dtype)` of a model); its verbosity is restored after."""
    from diffusers.utils import logging as dlogging

    verbosity = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        yield
    finally:
        dlogging.set_verbosity(verbosity)


def load_pipeline(path: str | os.PathLike | None = None) -> ChronotopePipeline:
    """A `ChronotopePipeline` from a `save_pretrained` folder (default: the bundled model)."""
    from diffusers.utils import logging as dlogging

    from chronotope.pipeline.pipeline import ChronotopePipeline

    folder = Path(path) if path is not None else default_model_dir()
    if not (folder / "model_index.json").is_file():
        hint = "" if path is not None else " (no bundled model in this install; pass --model DIR)"
        raise UsageError(f"{folder} is not a chronotope model folder{hint}", param="model")
    dlogging.disable_progress_bar()  # two tiny components: a bar per load is noise
    try:
        with quiet_diffusers():
            pipe = ChronotopePipeline.from_pretrained(
                folder, local_files_only=True, use_safetensors=True, low_cpu_mem_usage=False
            )
    finally:
        dlogging.enable_progress_bar()
    for module in (pipe.transformer, pipe.vae):
        if any(p.dtype != torch.float32 for p in module.parameters()):
            module.float()  # weights stored in fp16/bf16 compute in fp32 (autocast picks bf16)
    pipe.set_progress_bar_config(leave=False)
    return pipe
