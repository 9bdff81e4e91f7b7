"""Generation time and peak memory through the CLI: a 4 s clip vs a 60 s clip (flat memory by
windowed extension), and an image, with random weights at the bundled model's architecture
(world VAE preset + world-tiny DiT). Each run is its own process; peak RSS is its VmHWM.

    .venv/bin/python benchmarks/bench_generate.py [--threads 1] [--steps 24] [--large]

`--large` adds a 2048x2048 image and 5-frame 1920x1080 / 1080x1920 clips at 2 solver steps
(minutes each on this CPU: full attention over 16k-32k tokens).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

CHILD = """
import resource, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from chronotope.cli.main import main
code = main(sys.argv[2:])
with open('/proc/self/status') as f:
    hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM"))
print('PEAK_KIB', hwm)
sys.exit(code)
"""


def build_model(path: Path) -> None:
    import torch

    from chronotope.autoencoder import CausalVAE
    from chronotope.model import DiT
    from chronotope.pipeline import ChronotopePipeline

    torch.manual_seed(0)
    vae = CausalVAE.from_preset("world")
    vae.set_latent_stats(torch.zeros(16), torch.ones(16))
    dit = DiT.from_preset("world-tiny", in_channels=16)
    ChronotopePipeline(dit, vae).save_pretrained(path)


def run(model: Path, out: Path, threads: int, steps: int, *args: str) -> dict:
    cmd = [
        sys.executable,
        "-c",
        CHILD,
        str(threads),
        "generate",
        "--model",
        str(model),
        "--prompt",
        "a red circle moves right",
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--quiet",
        "--seed",
        "0",
        *args,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    peak = next(int(x.split()[1]) for x in proc.stdout.splitlines() if x.startswith("PEAK_KIB"))
    return {"args": " ".join(args), "wall_s": round(wall, 2), "peak_rss_mib": round(peak / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--large", action="store_true", help="also 2048x2048 and 1080p (2 steps)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_model(tmp / "model")
        rows = [
            run(tmp / "model", tmp / "a.mp4", a.threads, a.steps, "--seconds", "4"),
            run(tmp / "model", tmp / "b.mp4", a.threads, a.steps, "--seconds", "60"),
            run(tmp / "model", tmp / "c.png", a.threads, a.steps, "--frames", "1"),
        ]
        if a.large:
            rows += [
                run(
                    tmp / "model",
                    tmp / "d.png",
                    a.threads,
                    2,
                    "--frames",
                    "1",
                    "--size",
                    "2048x2048",
                ),
                run(
                    tmp / "model",
                    tmp / "e.mp4",
                    a.threads,
                    2,
                    "--frames",
                    "5",
                    "--size",
                    "1920x1080",
                ),
                run(
                    tmp / "model",
                    tmp / "f.mp4",
                    a.threads,
                    2,
                    "--frames",
                    "5",
                    "--size",
                    "1080x1920",
                ),
            ]
    ratio = rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"{'request':40s} {'wall s':>8s} {'peak MiB':>9s}")
    for r in rows:
        print(f"{r['args']:40s} {r['wall_s']:8.2f} {r['peak_rss_mib']:9.1f}")
    print(f"peak RSS 60 s / 4 s: {ratio:.2f} (target <= 1.5)")
    RESULTS.mkdir(exist_ok=True)
    result = {"threads": a.threads, "steps": a.steps, "rows": rows, "rss_60s_over_4s": ratio}
    (RESULTS / "generate.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
