"""`chronotope export RUN/final --out DIR`: a training run's result as a pipeline folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="turn a training run into a pipeline folder",
        description="Write a `generate --model` folder from a training run's "
        "final/ folder (transformer, vae, training.json), or save a pipeline folder again "
        "with another decoder (--vae), settings or storage dtype (--out may be the same "
        "folder).",
    )
    p.add_argument("final", type=Path, help="the run's final/ folder, or a pipeline folder")
    p.add_argument("--out", type=Path, required=True, help="pipeline folder to write")
    p.add_argument("--steps", type=int, help="default solver steps of the pipeline")
    p.add_argument("--guidance", type=float, help="default guidance scale of the pipeline")
    p.add_argument(
        "--restyle-guidance",
        type=float,
        metavar="G",
        help="default guidance scale of a restyle (--video with --strength), which starts part "
        "way down the noise levels (default: --guidance)",
    )
    p.add_argument(
        "--dissolve-above",
        type=float,
        metavar="D",
        help="in [0, 1]: a connect whose clips' scenes differ by more (the median per-pixel "
        "change of A's last and B's first frame) is a dissolve (1: never)",
    )
    p.add_argument(
        "--bridge-start",
        type=float,
        help="noise level in (0, 1] that a bridge between pinned frames (connect, loop, first "
        "and last image) starts from, over the pinned ends' cross-fade (1: pure noise)",
    )
    p.add_argument(
        "--early-guidance",
        type=float,
        metavar="F",
        help="factor on the guidance strength (g - 1) of tokens noisier than --early-sigma "
        "(1: plain guidance throughout)",
    )
    p.add_argument(
        "--early-sigma",
        type=float,
        metavar="S",
        help="noise level in [0, 1] above which --early-guidance applies",
    )
    p.add_argument(
        "--early-rescale",
        type=float,
        metavar="PHI",
        help="in [0, 1]: how far the early tokens' guided velocity is scaled back to the "
        "conditional one's spread (1: fully, 0: not)",
    )
    p.add_argument(
        "--candidates",
        type=int,
        metavar="K",
        help="samples drawn of each window with a seam, the smoothest kept (1: once)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float16", "bfloat16"),
        default="float32",
        help="how weights are stored (loading always computes in float32 on CPUs without "
        "fast bf16); float16 halves the files",
    )
    p.add_argument(
        "--vae",
        type=Path,
        help="a VAE folder whose decoder was trained further (train-vae --resume "
        "--freeze-encoder); refused unless its encoder equals the one the DiT learned on",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chronotope.pipeline.export import STORAGE_DTYPES, export_pipeline

    overrides = {
        k: v
        for k, v in (
            ("steps", args.steps),
            ("guidance", args.guidance),
            ("restyle_guidance", args.restyle_guidance),
            ("dissolve_above", args.dissolve_above),
            ("bridge_start", args.bridge_start),
            ("early_guidance", args.early_guidance),
            ("early_sigma", args.early_sigma),
            ("early_rescale", args.early_rescale),
            ("candidates", args.candidates),
        )
        if v is not None
    }
    export_pipeline(
        args.final,
        args.out,
        storage_dtype=STORAGE_DTYPES[args.dtype],
        vae_dir=args.vae,
        **overrides,
    )
    print(f"wrote {args.out}")
    return 0
