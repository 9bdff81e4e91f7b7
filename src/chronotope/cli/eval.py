"""`chronotope eval`: run the evaluation on a model, write the report, check thresholds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chronotope.errors import UsageError

EPILOG = """Writes OUT/results.json, OUT/report.md, OUT/report.html, OUT/figures/, OUT/sheets/.
--check FILE: JSON {"metric": min} or {"metric": {"min": a, "max": b}} (metric names as in
results.json); exit 1 when one is not met. --save-thresholds FILE writes such a file one margin
worse than the figures just measured: a rate's binomial standard error (at least one case), an
error's 15%, never more than 15% of the figure, so a model 20% worse fails.
Every figure is one sample per case; world clips come from a frozen seed range that no training
reaches, one block per --seed. Prompt sets: in-distribution, paraphrase (phrasings training never
uses), held-out (color-shape pairs training never shows)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model: adherence, physics, tasks, VAE",
        description="Evaluate a chronotope model on the procedural world (no downloaded networks).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, help="model folder (default: the bundled world model)")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--quick", action="store_true", help="few prompts, short clips, few steps")
    p.add_argument(
        "--seed",
        type=int,
        help="seed of world clips, prompts and sampling, in [0, 1000) (default 0)",
    )
    p.add_argument("--steps", type=int, help="solver steps (default: quick 16, else the model's)")
    p.add_argument("--prompts", type=int, help="prompts per set (default: quick 10, else 36)")
    p.add_argument("--task-cases", type=int, help="clips per task check (default: quick 3, else 8)")
    p.add_argument(
        "--physics-cases", type=int, help="uniform-motion continuations (default: quick 8, else 16)"
    )
    p.add_argument("--falling-cases", type=int, help="falling clips (default: quick 4, else 12)")
    p.add_argument(
        "--world-cases",
        type=int,
        help="clips per world-family check: game, pan, collision, occlusion (default: quick 2, "
        "else 8)",
    )
    p.add_argument(
        "--long-video-cases",
        type=int,
        metavar="N",
        help="minute-long videos judged for drift: brightness, contrast and saturation per window, "
        "object presence, joins (default: quick 0, else 2; 0 skips them)",
    )
    p.add_argument("--guidance", type=float, help="classifier-free guidance (default: the model's)")
    p.add_argument(
        "--early-guidance",
        type=float,
        metavar="F",
        help="factor on the guidance strength of the noisiest steps (default: the model's)",
    )
    p.add_argument("--check", type=Path, metavar="THRESHOLDS.json", help="fail below thresholds")
    p.add_argument("--save-thresholds", type=Path, metavar="FILE", help="write thresholds")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from chronotope.eval.suite import EvalConfig, quick_config

    for name in ("steps", "prompts", "task_cases", "physics_cases", "falling_cases", "world_cases"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {v}", param=name)
    if args.long_video_cases is not None and args.long_video_cases < 0:
        raise UsageError(
            f"--long-video-cases must be >= 0, got {args.long_video_cases}",
            param="long_video_cases",
        )
    if args.seed is not None and not 0 <= args.seed < 1000:
        raise UsageError(f"--seed must be in [0, 1000), got {args.seed}", param="seed")
    if args.guidance is not None and args.guidance < 0:
        raise UsageError(f"--guidance must be >= 0, got {args.guidance}", param="guidance")
    if args.early_guidance is not None and not args.early_guidance >= 0:
        raise UsageError(
            f"--early-guidance must be >= 0, got {args.early_guidance}", param="early_guidance"
        )
    over = {"seed": args.seed, "steps": args.steps, "prompts": args.prompts}
    over.update(guidance=args.guidance, task_cases=args.task_cases)
    over.update(early_guidance=args.early_guidance)
    over.update(physics_cases=args.physics_cases, falling_cases=args.falling_cases)
    over.update(world_cases=args.world_cases, long_video_cases=args.long_video_cases)
    if args.quick:
        return quick_config(**over)
    return EvalConfig(**{k: v for k, v in over.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    from chronotope.eval import check as chk
    from chronotope.eval.report import HEADLINE, summary_text, write_report
    from chronotope.eval.suite import run_eval
    from chronotope.pipeline.loading import load_pipeline

    cfg = _config(args)
    thresholds = chk.load_thresholds(args.check) if args.check is not None else None
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    log = (lambda s: print(s, file=sys.stderr)) if not args.json else (lambda s: None)
    result = run_eval(pipe, cfg, log=log)
    failures = chk.check(result.metrics, thresholds) if thresholds is not None else None
    paths = write_report(result, args.out, checks=failures)
    if args.save_thresholds is not None:
        names = [k for k, _ in HEADLINE if k in result.metrics]
        names += sorted(k for k in result.metrics if k.startswith("tasks.") and k.endswith(".pass"))
        args.save_thresholds.write_text(
            json.dumps(chk.suggest(result.metrics, names, result.cases), indent=1)
        )
    if args.json:
        doc = json.loads(paths["json"].read_text())
        print(
            json.dumps({"metrics": doc["metrics"], "checks": failures, "report": str(paths["md"])})
        )
    else:
        print(summary_text(result))
        print(f"report: {paths['html']}")
    for line in failures or []:
        print(f"chronotope eval: check failed: {line}", file=sys.stderr)
    return 1 if failures else 0
