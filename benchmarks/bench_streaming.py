"""Peak memory of `chronotope vae reconstruct` on real HD footage, by clip length and size.

Clips are made from the real footage in the shared test data (bikes.mp4, 640x272 25 fps) by
scaling each frame to the size (PyAV's swscale, aspect not kept) and looping it to the length,
into a temporary folder. Each case runs the CLI in a fresh subprocess; its peak RSS is that
child's own (os.wait4), with its wall time. The streamed path must hold memory flat in the
clip's length (10 s within 1.2x of 5 s) and under 3 GiB for 1280x720 and 1920x1080.

    .venv/bin/python benchmarks/bench_streaming.py [--cases 720p:5,720p:10,1080p:5,1080p:10]
        [--footage PATH] [--threads N] [--model DIR] [--results JSON]

Prints a table and writes benchmarks/results/streaming.json. Wall times on a shared CPU are
for orientation; the memory figures are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "streaming.json"
FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real" / "bikes.mp4"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 25
TARGET_GIB, TARGET_RATIO = 3.0, 1.2


def make_clip(src: Path, dst: Path, width: int, height: int, seconds: float) -> Path:
    """`seconds` of `src` scaled to width x height at FPS, looped; one frame held at a time."""
    import av

    total = round(seconds * FPS)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        written = 0
        while written < total:
            with av.open(str(src)) as source:
                for frame in source.decode(video=0):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = written, Fraction(1, FPS)
                    out.mux(stream.encode(scaled))
                    written += 1
                    if written == total:
                        break
        out.mux(stream.encode())
    return dst


def run_case(clip: Path, out: Path, model: Path | None, threads: int | None) -> dict:
    """`vae reconstruct` on `clip` in a fresh process: its peak RSS (GiB) and wall time (s)."""
    cmd = [sys.executable, "-c", "from chronotope.cli.main import main; raise SystemExit(main())"]
    cmd += ["vae", "reconstruct", "--in", str(clip), "--out", str(out)]
    if model is not None:
        cmd += ["--model", str(model)]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
    wall = time.perf_counter() - start
    text = proc.stdout.read().decode().replace(str(out.parent), "<tmp>")  # no machine path
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{text}")
    return {"peak_gib": usage.ru_maxrss * 1024 / 2**30, "wall_s": wall, "output": text.strip()}


def cpu_name() -> str:
    """The CPU's model name and its bf16 path, for the table's header."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), ""
    )
    bf16 = "AMX" if "amx_bf16" in info else "AVX-512 bf16" if "avx512_bf16" in info else "no bf16"
    return f"{model or platform.machine()}, {bf16}, {os.cpu_count()} cores"


def table(rows: list[dict]) -> None:
    print(f"{'size':>6} {'seconds':>7} {'frames':>6} {'peak GiB':>9} {'wall s':>8} {'vs 5 s':>7}")
    for row in rows:
        base = next((r for r in rows if r["size"] == row["size"] and r["seconds"] == 5), None)
        ratio = row["peak_gib"] / base["peak_gib"] if base else float("nan")
        row["ratio_to_5s"] = ratio
        row["ok"] = row["peak_gib"] <= TARGET_GIB and not ratio > TARGET_RATIO
        print(
            f"{row['size']:>6} {row['seconds']:7g} {row['frames']:6d} {row['peak_gib']:9.2f} "
            f"{row['wall_s']:8.0f} {ratio:7.2f}  {'ok' if row['ok'] else 'OVER'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="720p:5,720p:10,1080p:5,1080p:10")
    parser.add_argument("--footage", type=Path, default=FOOTAGE)
    parser.add_argument("--threads", type=int, help="torch threads per case (default: torch's)")
    parser.add_argument("--model", type=Path, help="VAE folder (default: the bundled one)")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="JSON written after each case"
    )
    args = parser.parse_args()
    cases = [(name, float(sec)) for name, sec in (c.split(":") for c in args.cases.split(","))]
    rows: list[dict] = []
    print(f"CPU: {cpu_name()}; target <= {TARGET_GIB} GiB, 10 s <= {TARGET_RATIO}x 5 s")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, seconds in cases:
            width, height = SIZES[name]
            clip = Path(tmp) / f"{name}_{seconds:g}s.mp4"
            make_clip(args.footage, clip, width, height, seconds)
            result = run_case(clip, Path(tmp) / "out.mp4", args.model, args.threads)
            row = {"size": name, "seconds": seconds, "frames": round(seconds * FPS), **result}
            rows.append(row)
            print(
                f"{name:>6} {seconds:4g} s  peak {row['peak_gib']:5.2f} GiB  "
                f"{row['wall_s']:7.0f} s  ({result['output'].splitlines()[-1]})",
                flush=True,
            )
            args.results.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))
    print()
    table(rows)
    args.results.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
