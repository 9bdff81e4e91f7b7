"""Turn a training run's `final/` folder into a pipeline folder (`save_pretrained` layout).

Everything sampling must reproduce from training travels in the pipeline's config: the time
shift anchors, fps, the text encoder's max length, the native size and the longest window.

`storage_dtype=torch.float16` halves the files (the bundled model: 9.2M + 3.1M parameters, 49 MB
in fp32, 25 MB in fp16); loading always builds fp32 modules (`load_pipeline`), so the weights are
rounded to fp16 once and computed in fp32 where bf16 has no fast path.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from chronotope.errors import UsageError

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_pipeline(
    final_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    storage_dtype: torch.dtype = torch.float32,
    **overrides,
):
    """Build a `ChronotopePipeline` from `final_dir` (transformer/, vae/, training.json), save it
    to `dest` with weights stored as `storage_dtype` and return it (fp32, as `load_pipeline`
    would). `overrides` set pipeline config fields (steps, guidance...)."""
    from chronotope.autoencoder import CausalVAE
    from chronotope.model import DiT
    from chronotope.pipeline.pipeline import ChronotopePipeline

    final = Path(final_dir)
    info_path = final / "training.json"
    if not info_path.is_file() or not (final / "vae").is_dir():
        raise UsageError(
            f"{final} is not a finished latent-space training run (needs "
            "training.json, transformer/ and vae/)"
        )
    info = json.loads(info_path.read_text())
    cfg = info["config"]
    ft = CausalVAE.load_config(final / "vae")["temporal_factor"]
    width, height = cfg["sizes"][0] if cfg.get("sizes") else (64, 64)
    longest = 1 + ft * math.floor(cfg["seconds"][1] * info["fps"] / ft)
    settings = dict(
        width=int(width),
        height=int(height),
        fps=float(info["fps"]),
        window_frames=int(longest),
        context_frames=1 + 2 * ft,
        shift=info["shift"],
        text_max_length=int(info.get("text_max_length", 128)),
    )
    settings.update(overrides)
    pipe = ChronotopePipeline(
        DiT.from_pretrained(final / "transformer", low_cpu_mem_usage=False).eval(),
        CausalVAE.from_pretrained(final / "vae", low_cpu_mem_usage=False).eval(),
        **settings,
    )
    if storage_dtype not in STORAGE_DTYPES.values():
        raise UsageError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}")
    for module in (pipe.transformer, pipe.vae):
        module.to(storage_dtype)
    pipe.save_pretrained(dest)
    for module in (pipe.transformer, pipe.vae):
        # the rounded weights, as a later load sees them
        module.to(torch.float32)
    return pipe
