"""`chronotope serve`: run the OpenAI-compatible Videos API and web page (thin: parse, build, run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve an OpenAI-compatible Videos API and a web page",
        description="Serve /v1/videos (the openai SDK's client.videos.*) and a web page at /.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="pipeline folder (default: the built-in model)")
    p.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (or CHRONOTOPE_API_KEY)",
    )
    p.add_argument("--data-dir", type=Path, default=Path("chronotope-data"))
    p.add_argument("--max-queue", type=int, default=16, help="queued jobs before 429")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: model's)")
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="a tiny random-weights model: noise videos, every real code path (smoke runs)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chronotope.serve import PipelineEngine, ServeConfig, run_server

    config = ServeConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        api_key=args.api_key,
        max_queue=args.max_queue,
    )
    engine = PipelineEngine.load(args.model, random_weights=args.random_weights, steps=args.steps)
    run_server(config, engine)
    return 0
