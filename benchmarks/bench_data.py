"""Decode and encode throughput of `chronotope.data` on the real clips.

Per clip: full decode (every frame to RGB), seek + short read (8 frames at a few points in the
second half), resampled read at half fps, and an mp4 write of the decoded frames. Timings
alternate between the cases in each round (background load hits all alike) and the median of
the rounds is reported; read the ratios (seek vs full decode), not the absolute times.

    .venv/bin/python benchmarks/bench_data.py [--rounds 5 --short 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from chronotope.data import probe, read_video, write_video

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "real"
CLIPS = ("bikes.mp4", "carphone_pristine.mp4")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_clip(path: Path, *, rounds: int, short: int, out_dir: Path) -> dict:
    info = probe(path)
    frames = read_video(path).frames
    starts = [info.duration * f for f in (0.5, 0.7, 0.9)]
    cases = {
        "probe": lambda: probe(path),
        "full_decode": lambda: read_video(path),
        "seek_short": lambda: [read_video(path, start=s, num_frames=short) for s in starts],
        "half_fps": lambda: read_video(path, fps=info.fps / 2),
        "write_mp4": lambda: write_video(out_dir / f"{path.stem}.mp4", frames, info.fps),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(_timed(fn))
    t = {k: statistics.median(v) for k, v in times.items()}
    n_half = len(read_video(path, fps=info.fps / 2).frames)
    return {
        "clip": path.name,
        "size": f"{info.width}x{info.height}",
        "frames": info.num_frames,
        "fps": round(info.fps, 3),
        "probe_ms": 1000 * t["probe"],
        "full_decode_fps": info.num_frames / t["full_decode"],
        "seek_short_ms": 1000 * t["seek_short"] / len(starts),
        "seek_short_fps": short * len(starts) / t["seek_short"],
        "half_fps_read_fps": n_half / t["half_fps"],
        "write_mp4_fps": info.num_frames / t["write_mp4"],
        # one short read near the end vs decoding the whole file to get the same frames
        "seek_vs_full_time": (t["seek_short"] / len(starts)) / t["full_decode"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--short", type=int, default=8, help="frames per seek+short read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            bench_clip(REAL / c, rounds=args.rounds, short=args.short, out_dir=Path(tmp))
            for c in CLIPS
        ]
    cols = ["clip", "size", "frames", "probe_ms", "full_decode_fps", "seek_short_ms"]
    cols += ["seek_short_fps", "half_fps_read_fps", "write_mp4_fps", "seek_vs_full_time"]
    print(" | ".join(f"{c:>17}" for c in cols))
    for r in rows:
        cells = [f"{r[c]:17.2f}" if isinstance(r[c], float) else f"{r[c]!s:>17}" for c in cols]
        print(" | ".join(cells))
    out = Path(__file__).parent / "results" / "data.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"rounds": args.rounds, "short_frames": args.short, "threads": "PyAV AUTO"}
    out.write_text(json.dumps({"config": meta, "clips": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
