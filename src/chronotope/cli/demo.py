"""`chronotope demo`: a video per task with the bundled model, and a page to watch them."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="generate a video for every task and a page showing them",
        description="Generate one video per task into --out, plus index.html.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("outputs"), help="output folder (default outputs)"
    )
    p.add_argument("--model", type=Path, help="model folder (default: the bundled world model)")
    p.add_argument("--steps", type=int, help="solver steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chronotope.demo import run_demo, run_world_demo
    from chronotope.pipeline.loading import default_model_dir, load_pipeline

    if args.model is None and not (default_model_dir() / "model_index.json").is_file():
        print(
            "no bundled model in this install yet: showing the world's ground-truth clips "
            "(train one as the README shows, or pass --model DIR)"
        )
        print(f"open {run_world_demo(args.out, seed=args.seed)}")
        return 0
    pipe = load_pipeline(args.model)
    if args.steps is not None:
        pipe.configure(sampling=dataclasses.replace(pipe.sampling, steps=args.steps))
    page = run_demo(pipe, args.out, seed=args.seed)
    print(f"open {page}")
    return 0
