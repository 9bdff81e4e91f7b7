"""How close the time estimate told before a call (`pipeline/timing.py`) is to the call's time.

The bundled model, a fresh calibration (its own seconds reported), then calls of different
sizes, lengths and tasks: each prepared (the estimate), then run (`pipe.run`) and timed. The
machine is shared, so each call's time is given twice: wall seconds, and the process's CPU
seconds over its threads (what the calibration measures where other work shares the cores:
the time the call takes on its own). Ratios are estimate / measured.

    .venv/bin/python benchmarks/bench_time_estimate.py [--quick] [--large]

Writes benchmarks/results/time_estimate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "time_estimate.json"
PROMPT = "a red circle moves right"

# name -> keyword arguments of one call (steps kept low where the size is large: it is the
# estimate's accuracy that is measured, not the model's quality)
CASES = {
    "t2v 64x64 9f 24 steps": dict(width=64, height=64, num_frames=9),
    "t2v 112x64 33f 24 steps": dict(width=112, height=64, num_frames=33),
    "extend 112x64 +16f (3 candidates)": dict(video="clip", extend="forward", num_frames=16),
    "long 112x64 65f (3 windows)": dict(width=112, height=64, num_frames=65, steps=8),
    "t2v 256x144 17f 8 steps": dict(width=256, height=144, num_frames=17, steps=8),
    "t2v 512x288 9f 4 steps": dict(width=512, height=288, num_frames=9, steps=4),
    # 4,600 tokens a sample: attention (quadratic) outweighs the rest
    "t2v 640x360 17f 2 steps": dict(width=640, height=360, num_frames=17, steps=2),
    # 10,800 tokens a sample, twice (guidance): the calibration's 4,096-token point extrapolated
    "t2v 1280x720 9f 1 step": dict(width=1280, height=720, num_frames=9, steps=1),
}
# --large: 40,800 tokens a sample (the 1920x1080 clip of bench_large_formats), minutes a step
LARGE = {"t2v 1920x1080 17f 1 step": dict(width=1920, height=1080, num_frames=17, steps=1)}
QUICK = ("t2v 64x64 9f 24 steps", "extend 112x64 +16f (3 candidates)", "t2v 256x144 17f 8 steps")


def measure(pipe, name: str, kwargs: dict, clip: np.ndarray) -> dict:
    from chronotope.tasks.request import GenerationRequest

    kwargs = {k: clip if v == "clip" else v for k, v in kwargs.items()}
    call = pipe.prepare(GenerationRequest(PROMPT, seed=0, **kwargs))
    wall, cpu = time.perf_counter(), time.process_time()
    pipe.run(call)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cpu /= torch.get_num_threads()
    est = call.time.total
    r = call.resolved
    print(
        f"{name:36s} {r.width}x{r.height} {call.time.windows:2d} win  est {est:7.1f} s  "
        f"wall {wall:7.1f} s ({est / wall:4.2f})  cpu/threads {cpu:7.1f} s ({est / cpu:4.2f})"
    )
    return {
        "case": name, "size": f"{r.width}x{r.height}", "windows": call.time.windows,
        "steps": call.time.steps, "estimate_s": round(est, 2), "wall_s": round(wall, 2),
        "cpu_per_thread_s": round(cpu, 2), "ratio_wall": round(est / wall, 3),
        "ratio_cpu": round(est / cpu, 3),
        "estimate_transformer_s": round(call.time.transformer, 2),
        "estimate_autoencoder_s": round(call.time.autoencoder, 2),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three cases")
    ap.add_argument("--large", action="store_true", help="also a 1920x1080 clip (minutes)")
    args = ap.parse_args()
    from chronotope.pipeline.loading import load_pipeline
    from chronotope.pipeline.timing import CACHE_ENV, calibration, machine_name

    os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="chronotope-timing-")  # a fresh calibration
    pipe = load_pipeline()
    pipe.set_progress_bar_config(disable=True)
    t0 = time.perf_counter()
    calibration(pipe)
    calibrate_s = time.perf_counter() - t0
    pipe(PROMPT, width=64, height=64, num_frames=1, steps=1, seed=0)  # loads the text encoder
    print(f"{machine_name(pipe)}; calibration {calibrate_s:.1f} s")
    clip = pipe(PROMPT, width=112, height=64, num_frames=17, steps=4, seed=1).frames
    cases = {**CASES, **LARGE} if args.large else CASES
    names = QUICK if args.quick else tuple(cases)
    rows = [measure(pipe, name, cases[name], clip) for name in names]
    ratios = [row["ratio_cpu"] for row in rows]
    print(f"estimate / cpu-per-thread: {min(ratios):.2f} .. {max(ratios):.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine_name(pipe),
                "cpu": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "calibration_s": round(calibrate_s, 2),
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
