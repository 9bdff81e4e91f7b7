"""Where the bundled model lives and how a pipeline folder is loaded (offline, safetensors only)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chronotope.errors import ChronotopeError, CorruptFileError, UsageError
from chronotope.utils.paths import BUNDLED_MODEL_DIR as DEFAULT_MODEL_DIR
from chronotope.utils.weights import check_weights_folder, one_line

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


# the classes a pipeline folder may name (model_index.json): diffusers imports whatever module a
# folder names, so only these are accepted
COMPONENTS = {
    "transformer": ["chronotope.model.dit", "DiT"],
    "vae": ["chronotope.autoencoder.vae", "CausalVAE"],
}


def load_pipeline(path: str | os.PathLike | None = None) -> ChronotopePipeline:
    """A `ChronotopePipeline` from a `save_pretrained` folder (default: the bundled model).

    The folder is checked before diffusers opens it: its model_index.json names our components
    and each holds safetensors weights (a pickled file is refused naming it, never unpickled);
    a folder that still fails to load is one `CorruptFileError` line."""
    from diffusers.utils import logging as dlogging

    from chronotope.pipeline.pipeline import ChronotopePipeline

    folder = Path(path) if path is not None else default_model_dir()
    if not (folder / "model_index.json").is_file():
        hint = "" if path is not None else " (no bundled model in this install; pass --model DIR)"
        raise UsageError(f"{folder} is not a chronotope model folder{hint}", param="model")
    check_pipeline_folder(folder)
    dlogging.disable_progress_bar()  # two tiny components: a bar per load is noise
    try:
        with quiet_diffusers():
            pipe = ChronotopePipeline.from_pretrained(
                folder, local_files_only=True, use_safetensors=True, low_cpu_mem_usage=False
            )
    except ChronotopeError:
        raise
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
        raise CorruptFileError(f"{folder}: cannot load the pipeline: {one_line(e)}") from e
    finally:
        dlogging.enable_progress_bar()
    for module in (pipe.transformer, pipe.vae):
        if any(p.dtype != torch.float32 for p in module.parameters()):
            module.float()  # weights stored in fp16/bf16 compute in fp32 (autocast picks bf16)
    pipe.set_progress_bar_config(leave=False)
    return pipe


def check_pipeline_folder(folder: Path) -> None:
    """Refuse a pipeline folder whose model_index.json is not JSON or names other components,
    or whose components lack safetensors weights, before any library reads it."""
    index = folder / "model_index.json"
    try:
        config = json.loads(index.read_text())
    except (OSError, ValueError) as e:
        raise CorruptFileError(f"{index}: not readable as JSON ({one_line(e)})") from e
    named = (
        {k: v for k, v in config.items() if isinstance(v, list)} if isinstance(config, dict) else {}
    )
    if named != COMPONENTS:
        raise CorruptFileError(
            f"{index}: names components {named}, not a chronotope pipeline's {COMPONENTS}"
        )
    for name, (_, cls) in COMPONENTS.items():
        check_weights_folder(folder / name, what=cls)
