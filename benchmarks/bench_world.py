"""How fast the procedural world streams training clips on one core.

Target: at least 200 clips/s of 16 frames at 64x64. Prints a table and writes
benchmarks/results/world.json. Run: .venv/bin/python benchmarks/bench_world.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from chronotope.world import FAMILIES, generate_clip

RESULTS = Path(__file__).resolve().parent / "results" / "world.json"
TARGET_CLIPS_PER_S = 200.0


def clips_per_second(
    family: str | None, *, size: int, frames: int, clips: int, repeats: int
) -> float:
    """Median over `repeats` runs of `clips` consecutive seeds (one warm-up run first)."""
    rates = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        for seed in range(r * clips, (r + 1) * clips):
            generate_clip(seed, width=size, height=size, num_frames=frames, family=family)
        if r:  # run 0 warms caches and imports
            rates.append(clips / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips (a smoke run)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core: the world must stream from a single worker
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    n, repeats = (20, 1) if args.quick else (200, 3)
    rows = []
    for family in (*FAMILIES, None):
        rate = clips_per_second(family, size=64, frames=16, clips=n, repeats=repeats)
        rows.append({"family": family or "mix", "size": 64, "frames": 16, "clips_per_s": rate})
    big = clips_per_second(None, size=256, frames=16, clips=max(n // 8, 5), repeats=repeats)
    rows.append({"family": "mix", "size": 256, "frames": 16, "clips_per_s": big})
    for row in rows:
        row["frames_per_s"] = row["clips_per_s"] * row["frames"]
    mix = next(r for r in rows if r["family"] == "mix" and r["size"] == 64)
    print(f"{'family':<10} {'size':>5} {'frames':>6} {'clips/s':>9} {'frames/s':>9} {'vs mix':>7}")
    for r in rows:
        ratio = r["clips_per_s"] / mix["clips_per_s"]
        print(
            f"{r['family']:<10} {r['size']:>5} {r['frames']:>6} {r['clips_per_s']:>9.1f} "
            f"{r['frames_per_s']:>9.0f} {ratio:>7.2f}"
        )
    slowest = min(r["clips_per_s"] for r in rows if r["size"] == 64)
    verdict = "meets" if slowest >= TARGET_CLIPS_PER_S else "MISSES"
    print(f"slowest family at 64x64: {slowest:.0f} clips/s ({verdict} {TARGET_CLIPS_PER_S:.0f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "world",
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
        "target_clips_per_s": TARGET_CLIPS_PER_S,
        "quick": args.quick,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
