"""Time-to-quality of a training recipe: train from scratch for a wall-time budget, snapshot the
EMA model at fixed minutes, evaluate every snapshot with the eval, and write the curve.

    # 1. train: `chronotope train --preset P --minutes 60 --snapshots 15,30,45,60` as a user
    #    runs it (the clock starts with the command: model, data and latent encoding included)
    .venv/bin/python benchmarks/speedrun.py train --preset world-speedrun --minutes 60 \
        --out runs/speedrun/world-speedrun [--marks 15,30,45,60] [--cores 0,1] [-- FLAGS]
    # 2. evaluate each snapshot (run/at-15min/, ...) and write curve.csv + curve.png
    .venv/bin/python benchmarks/speedrun.py eval --out runs/speedrun/world-speedrun [--full]
    # 3. several runs side by side in one plot
    .venv/bin/python benchmarks/speedrun.py plot runs/speedrun/a runs/speedrun/b --png cmp.png

Training and evaluation are separate phases so that the eval never takes the recipe's wall
time, and a snapshot can be read again by a later judge (`eval` re-reads every snapshot).
`--cores` limits the command to those CPU cores: a curve is only comparable with another
measured on as many cores of the same CPU (`run.json` records the CPU and the cores).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HEADLINE = (
    *(
        f"adherence.{s}.{a}"
        for s in ("in_distribution", "paraphrase", "heldout")
        for a in ("color", "shape", "motion", "count")
    ),
    "physics.velocity_error.model",
    "physics.velocity_error.found",
    "physics.falls",
    "world.game.action",
    "world.pan.direction",
    "world.collision.bounce",
    "world.occlusion.reappears",
    "tasks.pass_rate",
)


def _cpu() -> dict:
    import torch

    flags = ""
    with contextlib.suppress(OSError, StopIteration):
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "flags" in line
        )
    return {
        "machine": platform.processor() or platform.machine(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "amx": "amx_tile" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": torch.get_num_threads(),
    }


def train(args: argparse.Namespace) -> None:
    """`chronotope train --preset P --snapshots MARKS --minutes M` as a user runs it; the
    recipe's own layout (threads, ranks) decides how it uses the cores it is given."""
    out = Path(args.out)
    if (out / "run.json").exists():
        raise SystemExit(f"{out} holds a finished run; use another --out")
    marks = sorted(float(m) for m in args.marks.split(",") if float(m) <= args.minutes)
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})  # the command inherits
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "chronotope.cli.main", "train", "--preset", args.preset]
    cmd += ["--out", str(out / "run"), "--minutes", f"{args.minutes:g}", "--no-progress"]
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    cmd += ["--snapshots", ",".join(f"{m:g}" for m in marks), *extra]
    print("speedrun:", " ".join(cmd))
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    run = {"command": cmd[1:], "cpu": _cpu(), "wall_minutes": (time.monotonic() - t0) / 60}
    (out / "run.json").write_text(json.dumps(run, indent=2))


def _eval_one(folder: Path, full: bool, seed: int) -> dict:
    from chronotope.eval.suite import EvalConfig, quick_config, run_eval
    from chronotope.pipeline.export import export_pipeline
    from chronotope.pipeline.loading import load_pipeline

    model = folder / "model"
    if not (model / "model_index.json").exists():
        export_pipeline(folder, model)
    pipe = load_pipeline(model)
    pipe.set_progress_bar_config(disable=True)
    cfg = EvalConfig(seed=seed) if full else quick_config(seed=seed)
    result = run_eval(pipe, cfg, log=lambda s: None)
    (folder / ("eval-full.json" if full else "eval-quick.json")).write_text(
        json.dumps(result.metrics, indent=1)
    )
    return result.metrics


def evaluate(args: argparse.Namespace) -> None:
    out = Path(args.out)
    rows = []
    snapshots = [f for f in (out / "run").glob("at-*min") if (f / "training.json").is_file()]
    if not snapshots:
        raise SystemExit(f"no snapshots in {out / 'run'}: run `speedrun.py train` first")
    for folder in sorted(snapshots, key=_mark):
        info = json.loads((folder / "training.json").read_text())
        metrics = _eval_one(folder, args.full, args.seed)
        row = {"minutes": _mark(folder), "step": info["step"], "loss": _loss(out, info["step"])}
        row.update({k: metrics.get(k, float("nan")) for k in HEADLINE})
        rows.append(row)
        print(", ".join(f"{k} {v:.4g}" for k, v in row.items()))
    with (out / "curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot([out], out / "curve.png")
    print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'}")


def _mark(folder: Path) -> float:
    return float(folder.name[len("at-") : -len("min")])


def _loss(out: Path, step: int) -> float:
    """Mean training loss of the last logged window at or before `step` (run/log.csv)."""
    with (out / "run" / "log.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    return float(rows[-1]["loss"]) if rows else float("nan")


def plot(runs: list[Path], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ("loss", *HEADLINE)
    fig, axes = plt.subplots(3, 7, figsize=(24, 10))
    for run in runs:
        with (Path(run) / "curve.csv").open() as f:
            rows = list(csv.DictReader(f))
        x = [float(r["minutes"]) for r in rows]
        for ax, name in zip(axes.flat, names):
            ax.plot(x, [float(r[name]) for r in rows], marker="o", label=Path(run).name)
    for ax, name in zip(axes.flat, names):
        if name != "loss" and not name.endswith("velocity_error.model"):
            ax.set_ylim(-0.03, 1.03)  # rates: every run on one scale
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("minutes")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="phase", required=True)
    t = sub.add_parser("train", help="train from scratch, snapshot at fixed wall times")
    t.add_argument("--preset", default="world-tiny")
    t.add_argument("--minutes", type=float, default=60.0)
    t.add_argument("--marks", default="15,30,45,60", help="minutes at which to snapshot")
    t.add_argument("--cores", help="CPU cores the command may use, e.g. 1 (default: all)")
    t.add_argument("--out", required=True)
    t.add_argument("extra", nargs=argparse.REMAINDER, help="more `chronotope train` flags")
    e = sub.add_parser("eval", help="evaluate every snapshot; write curve.csv and curve.png")
    e.add_argument("--out", required=True)
    e.add_argument("--full", action="store_true", help="the full eval (default: --quick)")
    e.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("plot", help="several runs' curves in one PNG")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--png", type=Path, required=True)
    args = parser.parse_args()
    if args.phase == "train":
        train(args)
    elif args.phase == "eval":
        evaluate(args)
    else:
        plot(args.runs, args.png)


if __name__ == "__main__":
    main()
