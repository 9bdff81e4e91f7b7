"""Connect seams with each transition: the pinned bridge, the dissolve, and "auto" (the default).

For `--pairs` pairs of world clips (held-out seeds; clip A's first 5 frames, clip B's first 5,
an 8-frame bridge at the model's native size, the eval's connect check: both seams at most 2x
the output's median frame-to-frame step), this prints for each transition how many connects pass
and the median of the worse seam, split by whether A's end and B's start show the same scene or
two (`windows.scene_change` above the model's `dissolve_above`). The prompt names both clips, as in
`chronotope eval`; each pair gets the same seed under every transition.

    .venv/bin/python experiments/eval_connect_transition.py [--pairs 16] [--model DIR]

Writes experiments/results/eval_connect_transition.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from chronotope.eval.sections import _TASK_MOTIONS
from chronotope.pipeline.loading import load_pipeline
from chronotope.tasks import windows
from chronotope.tasks.seams import seam_ratio
from chronotope.world import generate_clip
from chronotope.world.seeds import TRAIN_SEEDS as HELDOUT_SEED  # 10**9: the clips measured

RESULTS = Path(__file__).resolve().parent / "results" / "eval_connect_transition.json"
GIVEN, BRIDGE = 5, 8
SEAM_MAX = 2.0  # the connect check's bound when this was measured: seam step / median step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    c = pipe.config
    w, h, fps = int(c.width), int(c.height), float(c.fps)
    dissolve_above = pipe.tasks.dissolve_above
    rows = []
    for i in range(args.pairs):
        motion, other = _TASK_MOTIONS[i % len(_TASK_MOTIONS)]
        kw = dict(width=w, height=h, num_frames=GIVEN, fps=fps, family="single")
        a = generate_clip(HELDOUT_SEED + 700 + 2 * i, motion=motion, **kw)
        b = generate_clip(HELDOUT_SEED + 701 + 2 * i, motion=other, **kw)
        prompt = f"{a.caption} and {b.caption}"
        change = windows.scene_change(a.frames[-1], b.frames[0])
        row = {"pair": i, "scene_change": change}
        for transition in ("bridge", "dissolve"):
            out = pipe(
                prompt, connect=(a.frames, b.frames), num_frames=BRIDGE, seed=i,
                transition=transition,
            ).frames  # fmt: skip
            row[transition] = max(seam_ratio(out, GIVEN), seam_ratio(out, GIVEN + BRIDGE))
        # "auto" is one of the two, the same call: the dissolve across a scene change
        row["auto"] = row["dissolve" if change > dissolve_above else "bridge"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"args": vars(args), "dissolve_above": float(dissolve_above), "rows": rows}
    two = [r for r in rows if r["scene_change"] > dissolve_above]
    print(
        f"{'transition':10s} {'pass, one scene':>16s} {'pass, two scenes':>17s}  median worse seam"
    )
    for transition in ("bridge", "dissolve", "auto"):
        one = [r[transition] for r in rows if r not in two]
        both = [r[transition] for r in two]
        summary = {
            "one_scene_pass": sum(v <= SEAM_MAX for v in one),
            "two_scenes_pass": sum(v <= SEAM_MAX for v in both),
            "median_worse_seam": float(np.median([r[transition] for r in rows])),
        }
        out[transition] = summary
        print(
            f"{transition:10s} {summary['one_scene_pass']:>9d} of {len(one):<4d}"
            f"{summary['two_scenes_pass']:>10d} of {len(both):<4d}"
            f"  {summary['median_worse_seam']:.2f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
