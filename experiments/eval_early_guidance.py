"""Motion direction and object count of text-to-video under early-guidance settings.

For every shape and linear motion, `--colors` prompts `a COLOR SHAPE MOTION` (64x64, 17 frames,
seeds 900 + i: the i-th color of each prompt group draws the same noise in every setting, so the
settings are compared on the same starting noise). Each setting is an early-guidance factor (the
guidance strength g - 1 of tokens noisier than `--early-sigma` is multiplied by it; 1 = plain
guidance; the early tokens' velocity is rescaled to the conditional one's spread, see
`pipeline/sampler.py`) and is scored with the eval's own detector: the direction the object's
track moves in, and whether exactly one persistent object is seen (strong guidance can split an
object in two).

    .venv/bin/python experiments/eval_early_guidance.py [--factors 1,2.3333] [--early-sigma 0.7]
        [--colors 4] [--model DIR]

Adds its settings to experiments/results/eval_early_guidance.json (keyed factor@sigma).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from chronotope.eval.detect import detect
from chronotope.eval.tracks import main_track, motion_direction, persistent, track
from chronotope.pipeline.loading import load_pipeline

RESULTS = Path(__file__).resolve().parent / "results" / "eval_early_guidance.json"
SHAPES = ("triangle", "circle", "square")
MOTIONS = ("moves left", "moves right", "moves up", "moves down")
FRAMES = 17
COLORS = ("red", "blue", "yellow", "cyan", "white", "orange", "purple")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", default="1,2.3333", help="comma-separated early-guidance factors")
    ap.add_argument("--early-sigma", type=float, default=0.7)
    ap.add_argument(
        "--colors", type=int, default=4, help=f"prompts per shape and motion (<= {len(COLORS)})"
    )
    ap.add_argument("--model", type=Path, help="model folder (default: the bundled one)")
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    pipe.configure(sampling=dataclasses.replace(pipe.sampling, early_sigma=args.early_sigma))
    fps = float(pipe.config.fps)
    factors = [float(f) for f in args.factors.split(",")]
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out.setdefault("guidance", float(pipe.sampling.guidance))
    out.setdefault("settings", {})
    for factor in factors:
        direction, count, n = 0, 0, 0
        per_motion = {m: 0 for m in MOTIONS}
        for shape in SHAPES:
            for motion in MOTIONS:
                for i, color in enumerate(COLORS[: args.colors]):
                    frames = pipe(
                        f"a {color} {shape} {motion}",
                        num_frames=FRAMES,
                        width=64,
                        height=64,
                        seed=900 + i,
                        early_guidance=factor,
                    ).frames
                    tracks = track(detect(frames), scale=64.0)
                    tr = main_track(tracks, color)
                    seconds = (FRAMES - 1) / fps
                    ok = tr is not None and motion_direction(tr, 64.0, fps, seconds) == motion
                    direction += ok
                    per_motion[motion] += ok
                    count += len(persistent(tracks, len(frames))) == 1
                    n += 1
        out["settings"][f"{factor:g}@{args.early_sigma:g}"] = {
            "prompts": n,
            "direction": direction / n,
            "count": count / n,
            "direction_per_motion": {m: v / (n // len(MOTIONS)) for m, v in per_motion.items()},
        }
        print(
            f"early guidance x{factor:g} (above sigma {args.early_sigma:g}): direction "
            f"{direction}/{n}, one object {count}/{n}",
            flush=True,
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
