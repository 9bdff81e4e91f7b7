"""Decode speed of trained VAEs side by side (e.g. a grown decoder against the one it grew from).

17 frames at 64x64 and 256x256, streamed (`decode_iter`) under `autocast()`, one thread, all
models in one run (compare the ratios, not the absolute figures, on a shared CPU):

    .venv/bin/python benchmarks/bench_vae_decode.py src/chronotope/weights/world/vae runs/vae/final

Prints frames/s per model and each model's ratio to the first; writes
benchmarks/results/vae_decode.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bench_autoencoder import timed  # this folder is on sys.path when run as a script
from chronotope.utils.precision import autocast

RESULTS = Path(__file__).resolve().parent / "results" / "vae_decode.json"


@torch.no_grad()
def main() -> None:
    from chronotope.autoencoder import CausalVAE

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path, help="save_pretrained VAE folders")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {str(p): CausalVAE.from_pretrained(p).float().eval() for p in args.models}
    first = next(iter(models.values()))
    rows: dict = {}
    for size in (64, 256):
        video = torch.rand(1, 3, 17, size, size) * 2 - 1
        with autocast():
            z = first.encode_chunked(video)[0]  # any latent of the right shape will do
            seconds = {
                n: timed(lambda m=m, z=z: list(m.decode_iter(z)), args.repeats)
                for n, m in models.items()
            }
        fps = {name: 17 / s for name, s in seconds.items()}
        base = fps[str(args.models[0])]
        rows[str(size)] = {n: {"decode_fps": f, "ratio_to_first": f / base} for n, f in fps.items()}
        for name, f in fps.items():
            print(f"{size:>4}px  {f:8.1f} frames/s  {f / base:5.2f}x  {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
