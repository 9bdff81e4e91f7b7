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
        "--time-limit",
        type=float,
        default=30.0,
        metavar="MINUTES",
        help="refuse (400) a request whose estimated time on this machine is longer "
        "(default 30; 0: no limit)",
    )
    p.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="NAME=PATH[:SCALE]",
        help="serve a LoRA adapter (its file, or the folder `train --lora` wrote) as the model "
        "NAME: a request's `model` field picks it, GET /v1/models lists it; repeatable",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="a tiny random-weights model: noise videos, every real code path (smoke runs)",
    )
    p.set_defaults(func=run)


def _adapters(specs: list[str]) -> dict:
    """--lora NAME=PATH[:SCALE] ... -> {name: (path, scale)}, each file checked to exist."""
    from chronotope.errors import UsageError
    from chronotope.pipeline.lora import adapter_file, parse_adapter

    out = {}
    for text in specs:
        name, sep, spec = text.partition("=")
        if not sep or not name or not spec:
            raise UsageError(f"--lora takes NAME=PATH[:SCALE], got {text!r}", param="lora")
        if name in out:
            raise UsageError(f"--lora {name} is given twice", param="lora")
        out[name] = parse_adapter(spec)
        adapter_file(out[name][0])
    return out


def run(args: argparse.Namespace) -> int:
    from chronotope.serve import PipelineEngine, ServeConfig, run_server

    config = ServeConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        api_key=args.api_key,
        max_queue=args.max_queue,
        time_limit_minutes=args.time_limit or None,
        lora=_adapters(args.lora),
    )
    engine = PipelineEngine.load(
        args.model, random_weights=args.random_weights, steps=args.steps, lora=config.lora
    )
    if config.time_limit_minutes is not None:
        engine.calibrate()  # the time estimates' calibration, before the first request
    run_server(config, engine)
    return 0
