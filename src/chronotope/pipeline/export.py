"""Turn a training run's `final/` folder into a pipeline folder (`save_pretrained` layout), or save a
pipeline folder again (another decoder, settings or storage dtype).

Everything sampling must reproduce from training travels in the pipeline's config: the time
shift anchors, fps, the text encoder's max length, the native size, the scale (pixels a frame of
the largest training size), the longest window, and the vocabulary of the training captions.

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
from chronotope.utils.checkpoint import save_pretrained
from chronotope.utils.configs import config_differences

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_pipeline(
    final_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    storage_dtype: torch.dtype = torch.float32,
    vae_dir: str | os.PathLike | None = None,
    **overrides,
):
    """Build a `ChronotopePipeline` from `final_dir` (transformer/, vae/, training.json), save it
    to `dest` with weights stored as `storage_dtype` and return it (fp32, as `load_pipeline`
    would). `vae_dir`: a VAE whose decoder was trained further with `train-vae --freeze-encoder`
    (see `check_same_latent_space`). `overrides` set pipeline settings, a sampling or task
    setting by its own name (steps, guidance, window_frames...).

    `final_dir` may also be a pipeline folder (model_index.json): its transformer and settings
    are kept, so `export MODEL --vae TUNED --out MODEL` swaps in a decoder in place."""
    from chronotope.autoencoder import CausalVAE
    from chronotope.model import DiT
    from chronotope.pipeline.pipeline import ChronotopePipeline, group_settings

    if storage_dtype not in STORAGE_DTYPES.values():
        raise UsageError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}")
    final = Path(final_dir)
    if (final / "model_index.json").is_file():
        return _reexport(final, dest, storage_dtype, vae_dir, overrides)
    info_path = final / "training.json"
    if not info_path.is_file() or not (final / "vae").is_dir():
        raise UsageError(
            f"{final} is neither a finished latent-space training run (needs "
            "training.json, transformer/ and vae/) nor a pipeline folder (model_index.json)"
        )
    info = json.loads(info_path.read_text())
    cfg = info["config"]
    ft = CausalVAE.load_config(final / "vae")["temporal_factor"]
    width, height = cfg["sizes"][0] if cfg.get("sizes") else (64, 64)
    longest = 1 + ft * math.floor(cfg["seconds"][1] * info["fps"] / ft)
    text = {"max_length": int(info.get("text_max_length", 128))}
    settings = dict(
        width=int(width),
        height=int(height),
        fps=float(info["fps"]),
        trained_pixels=max(int(w) * int(h) for w, h in cfg.get("sizes") or [(width, height)]),
        window_frames=int(longest),
        context_frames=1 + 2 * ft,
        shift=info["shift"],
        text={**text, "vocabulary": training_vocabulary(cfg.get("data", "world"))},
    )
    settings = group_settings({**settings, **overrides})
    vae = CausalVAE.from_pretrained(final / "vae", low_cpu_mem_usage=False).eval()
    pipe = ChronotopePipeline(
        DiT.from_pretrained(final / "transformer", low_cpu_mem_usage=False).eval(),
        _swap_decoder(vae, vae_dir),
        **settings,
    )
    return _save(pipe, dest, storage_dtype)


def training_vocabulary(data: str) -> list[str] | None:
    """The content words of a run's training captions: the world's phrasebook for `data`
    "world", else the captions of its manifest or folder (None where they cannot be read
    here: the model then declares no vocabulary)."""
    from chronotope.pipeline.vocabulary import vocabulary_of, world_vocabulary

    if data == "world":
        return sorted(world_vocabulary())
    from chronotope.data.captioned import clip_entries

    try:
        entries, _ = clip_entries(data)
    except (UsageError, OSError, ValueError):
        return None
    return sorted(vocabulary_of(e.text for e in entries)) or None


def _reexport(src: Path, dest, storage_dtype, vae_dir, overrides):
    """A pipeline folder saved again: its transformer and settings, `overrides` applied, the
    VAE swapped for `vae_dir`'s when given."""
    from chronotope.pipeline.loading import load_pipeline
    from chronotope.pipeline.pipeline import ChronotopePipeline, group_settings

    pipe = load_pipeline(src)
    settings = {k: v for k, v in pipe.config.items() if k in _pipeline_settings()}
    unknown = sorted(set(overrides) - set(settings) - _grouped_settings())
    if unknown:
        raise UsageError(f"not a pipeline setting: {', '.join(unknown)}")
    settings = group_settings({**settings, **overrides})
    pipe = ChronotopePipeline(pipe.transformer, _swap_decoder(pipe.vae, vae_dir), **settings)
    return _save(pipe, dest, storage_dtype)


def _pipeline_settings() -> set[str]:
    import inspect

    from chronotope.pipeline.pipeline import ChronotopePipeline

    params = inspect.signature(ChronotopePipeline.__init__).parameters
    return {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _grouped_settings() -> set[str]:
    """The sampling and task settings, each named on its own."""
    from dataclasses import fields

    from chronotope.flow.settings import SamplingSettings
    from chronotope.tasks.settings import TaskSettings

    return {f.name for cls in (SamplingSettings, TaskSettings) for f in fields(cls)}


def _swap_decoder(vae, vae_dir):
    """`vae`, or the VAE in `vae_dir` when given: refused unless it encodes exactly as `vae`
    does; it gets `vae`'s latent statistics (the DiT's exact normalization: the tuned run
    re-measured them, equal up to rounding)."""
    if vae_dir is None:
        return vae
    from chronotope.autoencoder import CausalVAE

    tuned = CausalVAE.from_pretrained(vae_dir, low_cpu_mem_usage=False).eval()
    check_same_latent_space(vae, tuned, name=str(vae_dir))
    tuned.set_latent_stats(*vae.get_latent_stats())
    return tuned


def _save(pipe, dest, storage_dtype):
    _cast(pipe, storage_dtype)
    save_pretrained(pipe, dest)
    for component in ("transformer", "vae"):  # where the weights came from is this machine's
        path = Path(dest) / component / "config.json"  # business: a shipped folder names no path
        config = json.loads(path.read_text())
        config.pop("_name_or_path", None)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    _cast(pipe, torch.float32)  # the rounded weights, as a later load sees them
    return pipe


def _cast(pipe, dtype: torch.dtype) -> None:
    from chronotope.pipeline.loading import quiet_diffusers

    with quiet_diffusers():  # diffusers warns on every .to(dtype) of a model
        for module in (pipe.transformer, pipe.vae):
            module.to(dtype)


def check_same_latent_space(trained, tuned, *, name: str) -> None:
    """Refuse a VAE whose latents differ from those the DiT was trained on: every encoder tensor
    must equal the training VAE's bit for bit (which `train-vae --freeze-encoder` guarantees),
    the rest of the config must be equal and the latent statistics equal up to float rounding
    (they are re-measured at the end of each run, and the sum order depends on the thread
    count). The decoder's depth may differ (`train-vae --decoder-blocks` grows it)."""
    ignore = ("latent_stats", "decoder_res_blocks")
    diff = config_differences(trained.config, tuned.config, ignore=ignore)
    unmeasured = {"mean": [math.nan], "std": [math.nan]}
    ours, theirs = (v.config.latent_stats or unmeasured for v in (trained, tuned))
    for key in ("mean", "std"):
        a, b = torch.tensor(ours[key]), torch.tensor(theirs[key])
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-5, atol=1e-5):
            diff.append(f"latent_stats {key}")
    if diff:
        raise UsageError(f"--vae {name}: config differs from the training VAE in {', '.join(diff)}")
    a, b = trained.encoder.state_dict(), tuned.encoder.state_dict()
    moved = [k for k in a if not torch.equal(a[k], b[k])]
    if moved:
        raise UsageError(
            f"--vae {name}: its encoder differs from the one the DiT was trained on ({moved[0]}, "
            f"{len(moved)} tensors); only a decoder trained with --freeze-encoder can be swapped in"
        )
