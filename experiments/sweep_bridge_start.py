"""Connect seams against the pipeline's `bridge_start` on a real model (not run by `make bench`).

A bridge between pinned frames (connect, loop of a clip, first + last image) starts from the
pinned ends' cross-fade noised to `bridge_start`. Two kinds of connect are swept:

- inside one world clip: A = its first frames, B = its last ones, so the truth of the bridge is
  known: besides the seams, the tracked object's distance to its true path (a fraction of the
  frame's short side) and the bridge's PSNR against the true frames;
- two scenes (the eval's connect: a clip moving one way into another moving the other way),
  prompted with both captions.

    .venv/bin/python experiments/sweep_bridge_start.py [--model DIR] [--starts 0.9,0.6]
        [--cases 12] [--seed 1]

Prints one JSON line per start: medians over the cases, and the fraction whose both seams are
at most 2x the clip's median step (the eval's bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

COND, BRIDGE = 5, 8  # given frames at each end, bridge frames (2 latent frames)
OFFSET = 20_000  # into the eval seed block of --seed: apart from the eval's own clips


def _path_error(out: np.ndarray, clip) -> float:
    from chronotope.eval.detect import detect
    from chronotope.eval.physics import truth_positions
    from chronotope.eval.tracks import track

    scale = float(min(out.shape[1:3]))
    tracks = track(detect(out), scale=scale)
    if not tracks:
        return 1.0
    d = np.linalg.norm(tracks[0].positions(len(out)) - truth_positions(clip), axis=1)
    d = d[COND : COND + BRIDGE]
    return float(np.nanmean(d) / scale) if (~np.isnan(d)).any() else 1.0


def sweep(model: str | None, starts: list[float], cases: int, seed: int) -> list[dict]:
    from chronotope.eval.metrics import frame_psnr
    from chronotope.eval.sections import _TASK_MOTIONS, Runner
    from chronotope.eval.subject import pipeline_subject
    from chronotope.eval.suite import EvalConfig, EvalResult
    from chronotope.pipeline.loading import load_pipeline
    from chronotope.tasks.seams import seam_ratio

    rows = []
    for start in starts:
        pipe = load_pipeline(model)
        pipe.configure(tasks=dataclasses.replace(pipe.tasks, bridge_start=start))
        pipe.set_progress_bar_config(disable=True)
        subject = pipeline_subject(pipe)
        r = Runner(subject, EvalConfig(seed=seed), EvalResult(config={}, model=subject.info()))
        same, two = [], []
        for i in range(cases):
            motion, other_motion = _TASK_MOTIONS[i % len(_TASK_MOTIONS)]
            base = OFFSET + 2 * i
            clip = r.world(base, 2 * COND + BRIDGE, family="single", motion=motion)
            a, b = clip.frames[:COND], clip.frames[COND + BRIDGE :]
            out = r.gen(clip.caption, connect=(a, b), num_frames=BRIDGE)
            truth = clip.frames[COND : COND + BRIDGE]
            same.append(
                (
                    seam_ratio(out, COND),
                    seam_ratio(out, COND + BRIDGE),
                    _path_error(out, clip),
                    frame_psnr(out[COND : COND + BRIDGE], truth),
                )
            )
            other = r.world(base + 1, 2 * COND + BRIDGE, family="single", motion=other_motion)
            prompt = f"{clip.caption} and {other.caption}"
            out = r.gen(prompt, connect=(a, other.frames[:COND]), num_frames=BRIDGE)
            two.append((seam_ratio(out, COND), seam_ratio(out, len(out) - COND)))
        s, t = np.array(same), np.array(two)
        rows.append(
            {
                "bridge_start": start,
                "seed": seed,
                "cases": cases,
                "one_clip_seams": [round(float(v), 3) for v in np.median(s[:, :2], axis=0)],
                "one_clip_pass": round(float(np.mean(s[:, :2].max(axis=1) <= 2.0)), 3),
                "one_clip_path_error": round(float(np.median(s[:, 2])), 4),
                "one_clip_psnr": round(float(np.median(s[:, 3])), 2),
                "two_scene_seams": [round(float(v), 3) for v in np.median(t, axis=0)],
                "two_scene_pass": round(float(np.mean(t.max(axis=1) <= 2.0)), 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="pipeline folder (default: the bundled model)")
    p.add_argument("--starts", default="0.9,0.6", help="comma-separated bridge_start values")
    p.add_argument("--cases", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    starts = [float(x) for x in args.starts.split(",")]
    sweep(args.model, starts, args.cases, args.seed)


if __name__ == "__main__":
    main()
