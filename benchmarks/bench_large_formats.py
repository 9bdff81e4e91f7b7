"""The large formats, really made: a 1920x1080 2-second clip and a 2048x2048 image with the bundled
model, within the default memory budget; time and peak memory beside the memory estimate.

    .venv/bin/python benchmarks/bench_large_formats.py [--model DIR] [--threads 2] [--steps N]
        [--only clip|image]

Each request runs in its own process through the library call with the model's own settings
(its memory budget, the default of the CLI's --memory-budget; its steps unless --steps), and
writes its file (mp4 / png). Peak RSS is the process's VmHWM (`sampling`: its VmHWM at the last
solver step, before decoding); `rss0` is its RSS with the model loaded, before the call. Times
come from the solver's callback: `first` is the call's start to the end of the first step (text
encoding, planning, one step), `s/step` the median of the later steps, `decode` the time after
the last step (decoding and writing). With --steps below the model's, the model's-steps time is
also given, extrapolated as first + (steps - 1) x s/step + decode (labelled as such). A request the
budget refuses is reported with the estimate's message. Writes benchmarks/results/large_formats.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
REQUESTS = {  # name: (width, height, frames); 17 frames = 2 s at the bundled model's 8 fps
    "clip": (1920, 1080, 17),
    "image": (2048, 2048, 1),
}

CHILD = """
import json, sys, time
import numpy as np, torch
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
from chronotope.data.video_io import write_video
from chronotope.errors import MemoryBudgetError
from chronotope.pipeline.loading import load_pipeline
from PIL import Image

def status(key):
    with open('/proc/self/status') as f:
        return next(int(x.split()[1]) for x in f if x.startswith(key)) / 1024

pipe = load_pipeline(a["model"])
pipe.set_progress_bar_config(disable=True)
w, h, n = a["width"], a["height"], a["frames"]
out = {"budget_gib": pipe.config.memory_budget_gib, "steps": a["steps"] or pipe.sampling.steps,
       "model_steps": pipe.sampling.steps, "rss_before_mib": status("VmRSS")}
stamps, peaks = [], []

def step(i, k):
    stamps.append(time.perf_counter())
    peaks.append(status("VmHWM"))

t0 = time.perf_counter()
try:
    res = pipe(a["prompt"], width=w, height=h, num_frames=n, seed=0, steps=a["steps"],
               callback=step)
except MemoryBudgetError as e:
    out["refused"] = str(e)
else:
    frames = res.frames
    if n == 1:
        Image.fromarray(frames[0]).save(a["out"] + ".png")
    else:
        write_video(a["out"] + ".mp4", frames, res.fps)
    end = time.perf_counter()
    steps = np.diff(stamps)
    out.update(wall_s=end - t0, first_step_s=stamps[0] - t0, step_s=steps.tolist(),
               per_step_s=float(np.median(steps)) if len(steps) else stamps[0] - t0,
               decode_write_s=end - stamps[-1], peak_sampling_mib=peaks[-1],
               frames_out=int(len(frames)), shape=list(frames.shape))
out["peak_rss_mib"] = status("VmHWM")
print("RESULT", json.dumps(out))
"""


def estimate(model: Path | None, width: int, height: int, frames: int) -> dict:
    """The pipeline's memory estimate of the request (its largest window, one candidate)."""
    from chronotope.errors import MemoryBudgetError
    from chronotope.pipeline.loading import load_pipeline
    from chronotope.pipeline.memory import GIB

    pipe = load_pipeline(model)
    budget = pipe.config.memory_budget_gib
    try:
        est = pipe.validate_request(width=width, height=height, num_frames=frames, candidates=1)
    except MemoryBudgetError as e:
        return {"estimate": str(e), "within_budget": False, "budget_gib": budget}
    return {
        "estimate": str(est),
        "estimate_gib": est.total / GIB,
        "within_budget": True,
        "budget_gib": budget,
    }


def run(name: str, a: argparse.Namespace, tmp: Path) -> dict:
    w, h, n = REQUESTS[name]
    job = dict(
        model=None if a.model is None else str(a.model), prompt=a.prompt, width=w, height=h,
        frames=n, steps=a.steps, threads=a.threads, out=str(tmp / name),
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True
    )
    if proc.returncode:
        return {"name": name, "size": f"{w}x{h}", "frames": n, "failed": proc.stderr[-1500:]}
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    row = {"name": name, "size": f"{w}x{h}", "frames": n, **json.loads(line[len("RESULT ") :])}
    row.update(estimate(a.model, w, h, n))
    if "per_step_s" in row and row["steps"] != row["model_steps"]:
        row["model_steps_s_extrapolated"] = (
            row["first_step_s"]
            + (row["model_steps"] - 1) * row["per_step_s"]
            + row["decode_write_s"]
        )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="model folder (default: the bundled world model)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, help="solver steps (default: the model's)")
    p.add_argument("--only", choices=sorted(REQUESTS), help="run one request")
    p.add_argument("--prompt", default="a red circle moves right")
    a = p.parse_args()
    names = [a.only] if a.only else list(REQUESTS)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(name, a, Path(tmp)) for name in names]
    print(
        f"{'request':22s} {'steps':>5s} {'wall s':>8s} {'first s':>8s} {'s/step':>7s} "
        f"{'decode s':>8s} {'rss0 MiB':>8s} {'sampling':>8s} {'peak MiB':>8s}  estimate (budget)"
    )
    for r in rows:
        label = f"{r['size']} x{r['frames']}"
        if "failed" in r:
            print(f"{label:22s} failed: {r['failed'].strip().splitlines()[-1]}")
            continue
        if "refused" in r:
            print(f"{label:22s} refused: {r['refused']}")
            continue
        print(
            f"{label:22s} {r['steps']:5d} {r['wall_s']:8.1f} {r['first_step_s']:8.1f} "
            f"{r['per_step_s']:7.1f} {r['decode_write_s']:8.1f} {r['rss_before_mib']:8.0f} "
            f"{r['peak_sampling_mib']:8.0f} {r['peak_rss_mib']:8.0f}  {r['estimate']} "
            f"({r['budget_gib']:g} GiB)"
        )
        if "model_steps_s_extrapolated" in r:
            print(
                f"{'':22s} at the model's {r['model_steps']} steps: about "
                f"{r['model_steps_s_extrapolated']:.0f} s (extrapolated)"
            )
    RESULTS.mkdir(exist_ok=True)
    doc = {"args": {**vars(a), "model": str(a.model)}, "rows": rows}
    (RESULTS / "large_formats.json").write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
