"""Does the DiT's first prediction read the given speed? Its clean estimate at sigma 1, tracked.

Between `eval_speed_loss.py` (the loss) and `eval_speed_reading.py` (the samples): the same
uniform-motion continuations as `eval_speed_reading.py` (the first 5 frames of `--cases` held-out
world clips, extended by 8), sampled with ONE Euler step, so the output is the DiT's clean
prediction x0 = x - sigma * v at sigma 1 (the guided velocity, as the sampler's first step uses
it), decoded. That prediction is a blur over the continuations the DiT finds likely, which the
eval's detector does not parse; a colour-weighted centroid of the object's colour is tracked
instead, and its speed along the true direction fitted over the last given and the 8 new frames.
Printed: the slope of that speed on the true one (1: the prediction moves at the given speed; 0:
at one of its own), their correlation, and the same for the true frames (the tracker's floor).

    .venv/bin/python experiments/eval_speed_x0.py [--cases 32] [--model DIR] [--guidance G]

Writes experiments/results/eval_speed_x0.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from chronotope.eval import physics
from chronotope.pipeline.loading import load_pipeline
from chronotope.world.seeds import TRAIN_SEEDS as HELDOUT_SEED  # 10**9: the clips measured
from chronotope.world.vocab import COLORS

RESULTS = Path(__file__).resolve().parent / "results" / "eval_speed_x0.json"
GIVEN, NEW = 5, 8


def centroids(frames: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """(T, 2) x, y of each frame's pixels weighted by closeness to `rgb` (0 beyond 120 levels)."""
    d = np.linalg.norm(frames.astype(np.float64) - np.asarray(rgb, dtype=np.float64), axis=-1)
    w = np.clip(1 - d / 120.0, 0, None) ** 2
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    total = w.sum((1, 2)) + 1e-9
    return np.stack([(w * xs).sum((1, 2)) / total, (w * ys).sum((1, 2)) / total], axis=1)


def _fit(true: np.ndarray, made: np.ndarray) -> dict[str, float]:
    return {
        "slope": float(np.polyfit(true, made, 1)[0]),
        "correlation": float(np.corrcoef(true, made)[0, 1]),
        "speed_ratio_mean": float((made / true).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=32)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    ap.add_argument("--guidance", type=float, default=None)
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    clips = physics.uniform_cases(  # eval_speed_reading.py's clips
        args.cases, seed=HELDOUT_SEED + 100, width=64, height=64, num_frames=GIVEN + NEW,
        fps=float(pipe.config.fps),
    )  # fmt: skip
    true, made, floor = [], [], []
    k = np.arange(NEW + 1)
    for i, clip in enumerate(clips):
        out = pipe(
            clip.caption, video=clip.frames[:GIVEN], extend="forward", num_frames=NEW, seed=i,
            steps=1, guidance=args.guidance, candidates=1,
        ).frames  # fmt: skip
        v = np.diff(physics.truth_positions(clip), axis=0).mean(0)
        speed = float(np.linalg.norm(v))
        along = v / speed
        rgb = COLORS[clip.spec.objects[0].color]
        true.append(speed)
        made.append(np.polyfit(k, centroids(out[GIVEN - 1 : GIVEN + NEW], rgb) @ along, 1)[0])
        floor.append(np.polyfit(k, centroids(clip.frames[GIVEN - 1 :], rgb) @ along, 1)[0])
    true, made, floor = map(np.asarray, (true, made, floor))
    out = {
        "args": vars(args),
        "cases": len(true),
        "x0": _fit(true, made),
        "tracker_floor": _fit(true, floor),
        "rows": [{"true_speed": t, "x0_speed": m} for t, m in zip(true.tolist(), made.tolist())],
    }
    print(f"true speeds (px/frame): {np.round(true, 2).tolist()}")
    print(f"x0 speeds:              {np.round(made, 2).tolist()}")
    for name in ("x0", "tracker_floor"):
        r = out[name]
        print(
            f"{name}: slope {r['slope']:.2f}, correlation {r['correlation']:.2f}, "
            f"speed ratio mean {r['speed_ratio_mean']:.2f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
