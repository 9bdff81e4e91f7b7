"""A minute of video by windowed extension: does it drift? Time and peak memory beside the figures
of `chronotope eval`'s long-video check (`src/chronotope/eval/long_video.py`).

    .venv/bin/python benchmarks/bench_long_video.py [--model DIR] [--seconds 60] [--cases 1]
        [--size WxH] [--threads 2] [--steps N] [--candidates 1] [--seed 0]
        [--window-frames N] [--context-frames N] [--tag NAME]

Each case is one in-distribution prompt of a still object (the eval's), generated in its own
process (peak RSS: that process's VmHWM; frames stream window by window, as the CLI writes
them), then measured here: per-window brightness, contrast and saturation of the last window
against the first, the object's presence per frame, the seam ratio at every join, and the
floor (drifts within 5%, presence >= 95%, every join <= 2x the median step). The world's own
render of the prompt's scene is measured alongside. `--window-frames` / `--context-frames`
replace the model folder's window plan (fewer, longer windows: fewer joins to compound a
drift). Writes benchmarks/results/long_video[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
_SAMPLE_SEED = 1_000_003  # as the eval's: seed * this + the call's number

CHILD = """
import dataclasses, json, sys, time
import numpy as np, torch
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
from chronotope.pipeline.loading import load_pipeline
pipe = load_pipeline(a["model"])
pipe.tasks = dataclasses.replace(pipe.tasks, **a["tasks"])
pipe.set_progress_bar_config(disable=True)
chunks = []
t0 = time.perf_counter()
pipe(a["prompt"], width=a["width"], height=a["height"], num_frames=a["frames"], seed=a["seed"],
     steps=a["steps"], candidates=a["candidates"], frame_sink=chunks.append)
wall = time.perf_counter() - t0
np.save(a["out"], np.concatenate(chunks))
with open('/proc/self/status') as f:
    hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM"))
print("RESULT", json.dumps({"generate_s": wall, "peak_rss_mib": hwm / 1024,
      "windows": len(chunks), "window_frames": [len(c) for c in chunks]}))
"""


def generate(args: dict) -> dict:
    """One generate call in a fresh process; its wall time, peak RSS and window lengths."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"generate failed:\n{proc.stderr[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT ") :]), "process_s": time.perf_counter() - t0}


def main() -> None:
    from chronotope.eval import long_video as lv
    from chronotope.pipeline.loading import load_pipeline
    from chronotope.world.clip import render_clip

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="model folder (default: the bundled world model)")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--cases", type=int, default=1, help="prompts (the eval's long-video cases)")
    p.add_argument("--size", help="WxH (default: the model's native size)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, help="solver steps (default: the model's)")
    p.add_argument("--candidates", type=int, default=1, help="seam candidates (the eval: 1)")
    p.add_argument("--seed", type=int, default=0, help="eval seed: prompts and sampling")
    p.add_argument("--window-frames", type=int, help="frames a window (default: the model's)")
    p.add_argument("--context-frames", type=int, help="frames given to each next window")
    p.add_argument("--tag", help="results in long_video-TAG.json")
    a = p.parse_args()

    pipe = load_pipeline(a.model)  # its settings only: each case generates in a fresh process
    w, h = map(int, a.size.split("x")) if a.size else (pipe.config.width, pipe.config.height)
    fps, ft = float(pipe.config.fps), pipe.ft
    frames = 1 + ft * max(1, round(a.seconds * fps / ft))
    tasks = {
        k: v
        for k, v in (("window_frames", a.window_frames), ("context_frames", a.context_frames))
        if v is not None
    }
    plan = {"window_frames": pipe.tasks.window_frames, "context_frames": pipe.tasks.context_frames}
    plan.update(tasks)
    spans = lv.window_spans(frames, plan["window_frames"], plan["context_frames"], ft)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(lv.long_cases(a.cases, seed=a.seed, width=w, height=h)):
            text = case.prompt.text
            out = Path(tmp) / f"{i}.npy"
            job = dict(
                model=None if a.model is None else str(a.model), prompt=text, width=w, height=h,
                frames=frames, seed=a.seed * _SAMPLE_SEED + i + 1, steps=a.steps,
                candidates=a.candidates, threads=a.threads, out=str(out), tasks=tasks,
            )  # fmt: skip
            run = generate(job)
            video = np.load(out)
            if run["window_frames"] != [b - a_ for a_, b in spans]:
                raise SystemExit(f"windows {run['window_frames']} are not the check's {spans}")
            t0 = time.perf_counter()
            got = lv.measure(video, spans, case.color)
            measure_s = time.perf_counter() - t0
            truth = render_clip(case.prompt.spec, num_frames=frames, fps=fps, caption=text).frames
            ref = lv.measure(truth, spans, case.color)
            rows.append(
                {"prompt": text, **run, "measure_s": measure_s, **got, "truth": ref, "spans": spans}
            )
    _print(rows, w, h, frames, fps)
    RESULTS.mkdir(exist_ok=True)
    doc = {"args": {**vars(a), "model": str(a.model)}, "size": [w, h], "frames": frames, **plan}
    name = f"long_video-{a.tag}.json" if a.tag else "long_video.json"
    (RESULTS / name).write_text(json.dumps({**doc, "rows": rows}, indent=1))


def _print(rows: list[dict], w: int, h: int, frames: int, fps: float) -> None:
    from chronotope.eval import long_video as lv

    print(f"{frames} frames ({frames / fps:.0f} s) at {w}x{h}, {rows[0]['windows']} windows")
    head = ("prompt", "bright", "contr", "sat", "size", "present", "join max", "join med", "pass")
    head += ("gen s",)
    print(f"{head[0]:36s} " + " ".join(f"{x:>8s}" for x in head[1:]) + "  peak MiB")
    for r in rows:
        cells = [f"{r[f'{k}_drift']:+8.3f}" for k in (*lv.FIGURES, "object_size")]
        cells += [f"{r['presence']:8.3f}", f"{r['join_ratio']:8.2f}", f"{r['join_median']:8.2f}"]
        cells += [f"{'yes' if r['pass'] else 'no':>8s}", f"{r['generate_s']:8.1f}"]
        print(f"{r['prompt'][:36]:36s} " + " ".join(cells) + f"  {r['peak_rss_mib']:8.0f}")
        print(f"{'  the world itself':36s} " + _truth_cells(r["truth"]))
    print(
        f"floor: |drift| <= {lv.DRIFT_MAX:.0%} (brightness, contrast, saturation; size is a "
        f"reading), presence >= {lv.PRESENCE_MIN:.0%}, joins <= {lv.JOIN_MAX:g}x the median step"
    )


def _truth_cells(t: dict) -> str:
    from chronotope.eval import long_video as lv

    cells = [f"{t[f'{k}_drift']:+8.3f}" for k in (*lv.FIGURES, "object_size")]
    cells += [f"{t['presence']:8.3f}", f"{t['join_ratio']:8.2f}", f"{t['join_median']:8.2f}"]
    return " ".join(cells) + f" {'yes' if t['pass'] else 'no':>8s}"


if __name__ == "__main__":
    main()
