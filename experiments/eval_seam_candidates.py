"""Seam candidates: how many of the eval's seam checks pass with K samples per window.

On `--cases` held-out world clips (the task checks of `chronotope eval`: case i is its i-th
clip and the clip it is connected to, motions right / left / down / up in turn), each check
runs once per K in `--candidates` (the `candidates` of every call) with the same sampling
seeds, so K = 1 is the plain pipeline and a larger K differs only by the samples it may choose
from. Printed per check and K: the fraction of cases that pass the eval's check (the object
keeps its motion across each seam; a loop's wrap too, and it moves), the median of the (worse)
pixel seam ratio, and the wall time.

    .venv/bin/python experiments/eval_seam_candidates.py [--cases 40] [--candidates 1 3]
        [--checks extend_backward connect loop extend_forward image_to_video] [--model DIR]

Writes experiments/results/eval_seam_candidates.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from chronotope.eval.sections import Runner, _task_case
from chronotope.eval.subject import pipeline_subject
from chronotope.eval.suite import EvalConfig, EvalResult
from chronotope.pipeline.loading import load_pipeline

RESULTS = Path(__file__).resolve().parent / "results" / "eval_seam_candidates.json"
# each check's worst seam (a connect has two) and its pass flag, as the eval reports them
SEAM = {
    "extend_backward": lambda r: r["seam_ratio"],
    "extend_forward": lambda r: r["seam_ratio"],
    "connect": lambda r: max(r["seam_in"], r["seam_out"]),
    "loop": lambda r: r["wrap_ratio"],  # its last frame into its first (and not still)
    "image_to_video": lambda r: float("nan"),  # judged by its first frame, not a seam
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--candidates", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--checks", nargs="+", default=["extend_backward", "connect"], choices=SEAM)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    out = {"args": vars(args), "results": {}}
    subject = pipeline_subject(pipe)
    for k in args.candidates:
        cfg = EvalConfig(tasks=tuple(args.checks), task_cases=args.cases)
        runner = Runner(subject, cfg, EvalResult(config={}, model=subject.info()))
        t0 = time.perf_counter()
        cases = [_task_case(runner, i, k) for i in range(args.cases)]
        wall = time.perf_counter() - t0
        for name in args.checks:
            rows = [c[name] for c in cases]
            res = {
                "pass": float(np.mean([r["pass"] for r in rows])),
                "median_seam": float(np.median([SEAM[name](r) for r in rows])),
                "seams": [SEAM[name](r) for r in rows],
                "wall_seconds_all_checks": wall,
            }
            out["results"][f"{name}/K={k}"] = res
            print(
                f"{name:16s} K={k}: pass {res['pass']:.3f} ({round(res['pass'] * args.cases)} of "
                f"{args.cases}), median seam {res['median_seam']:.2f}; all checks {wall:.0f} s"
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
