"""Does the model read the speed of the frames it is given? Continuations of uniform motion.

For `--cases` world clips of one object in uniform motion (held-out seeds, the first 8 the
eval's physics clips; four directions, 64x64 at 8 fps), the model extends the first `--given`
frames by 8 and the eval's detector reads the object's track. Printed: the true speed
(px/frame), the continuation's speed along the true direction, their correlation over the clips
(1: the model continues each clip at its own speed; 0: at a speed of its own), the slope of the
continuation's speed on the true one (1: reads it; 0: ignores it), the continuation's speed over
the true one (median, and its spread), and the velocity error as `chronotope eval` computes it.

    .venv/bin/python experiments/eval_speed_reading.py [--cases 24] [--given 5] [--model DIR]
        [--guidance G] [--early-guidance F] [--candidates K]

Writes experiments/results/eval_speed_reading.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from chronotope.eval import physics
from chronotope.pipeline.loading import load_pipeline
from chronotope.world.seeds import TRAIN_SEEDS as HELDOUT_SEED  # 10**9: the clips measured

RESULTS = Path(__file__).resolve().parent / "results" / "eval_speed_reading.json"
NEW = 8


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--given", type=int, default=5, help="given frames (1 + 4k)")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--early-guidance", type=float, default=None)
    ap.add_argument("--candidates", type=int, default=None, help="default: the model's")
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    fps = float(pipe.config.fps)
    rows = []
    clips = physics.uniform_cases(  # the first 8 are the eval's physics clips
        args.cases, seed=HELDOUT_SEED + 100, width=64, height=64,
        num_frames=args.given + NEW, fps=fps,
    )  # fmt: skip
    for i, clip in enumerate(clips):
        out = pipe(
            clip.caption, video=clip.frames[: args.given], extend="forward", num_frames=NEW,
            seed=i, guidance=args.guidance, early_guidance=args.early_guidance,
            candidates=args.candidates,
        ).frames  # fmt: skip
        color = clip.spec.objects[0].color
        truth = physics.truth_positions(clip)[args.given - 1 :]
        made = physics.parsed_positions(out[: len(clip.frames)], color)[args.given - 1 :]
        v_true, v_made = np.diff(truth, axis=0), np.diff(made, axis=0)
        speed = float(np.linalg.norm(v_true.mean(0)))
        along = v_true.mean(0) / max(speed, 1e-9)
        score = physics.score_continuation(clip, args.given, out)
        rows.append(
            {
                "caption": clip.caption,
                "true_speed": speed,
                "made_speed": float(np.nanmean(v_made @ along)),
                "velocity_error": score.velocity["model"],
            }
        )
    true = np.array([r["true_speed"] for r in rows])
    made = np.array([r["made_speed"] for r in rows])
    ok = ~np.isnan(made)
    ratio = made[ok] / true[ok]
    fwd = ok & (made > 0)  # continuations that go the given way
    slope = float(np.polyfit(true[fwd], made[fwd], 1)[0]) if fwd.sum() >= 2 else float("nan")
    out = {
        "args": vars(args),
        "cases": len(rows),
        "tracked": int(ok.sum()),
        "correlation": float(np.corrcoef(true[ok], made[ok])[0, 1]),
        # Spearman: one continuation that runs backwards does not decide it
        "rank_correlation": float(np.corrcoef(_ranks(true[ok]), _ranks(made[ok]))[0, 1]),
        # made = a + slope * true over those going the given way: 1 reads the speed, 0 ignores it
        "slope": slope,
        "speed_ratio_median": float(np.median(ratio)),
        "speed_ratio_p10_p90": [float(np.percentile(ratio, 10)), float(np.percentile(ratio, 90))],
        "velocity_error": float(np.nanmean([r["velocity_error"] for r in rows])),
        "rows": rows,
    }
    print(f"true speeds (px/frame):  {np.round(true, 2).tolist()}")
    print(f"continuation's speeds:   {np.round(made, 2).tolist()}")
    print(
        f"correlation {out['correlation']:.2f} (rank {out['rank_correlation']:.2f}) "
        f"over {out['tracked']} tracked of {len(rows)}; "
        f"slope {slope:.2f}; speed ratio median {out['speed_ratio_median']:.2f} "
        f"(10-90%: {out['speed_ratio_p10_p90'][0]:.2f}-{out['speed_ratio_p10_p90'][1]:.2f}); "
        f"velocity error {out['velocity_error']:.4f}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
