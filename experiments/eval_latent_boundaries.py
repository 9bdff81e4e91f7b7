"""Steps at latent-frame boundaries against steps inside a latent frame: where videos judder.

The causal VAE decodes each latent frame into `ft` frames, so a played clip can step harder every
`ft` frames. A loop's wrap, an extension's seam and a connect's seams all fall on such a boundary.
For `--clips` world clips (single objects moving left, right, down, up; held-out seeds, 33
frames at the model's native size) this prints, as medians over the clips, the mean
frame-to-frame step (mean |difference| of consecutive frames) at latent boundaries over the
median step inside latent frames, for the world's own clip ("truth"), its reconstruction through
the model's VAE and the model's video of the clip's caption ("generated").

    .venv/bin/python experiments/eval_latent_boundaries.py [--clips 12] [--model DIR]
        [--steps K] [--solver heun] [--guidance G]

Writes experiments/results/eval_latent_boundaries.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from chronotope.data import to_tensor, to_uint8
from chronotope.pipeline.loading import load_pipeline
from chronotope.tasks.seams import steps
from chronotope.world import generate_clip
from chronotope.world.seeds import TRAIN_SEEDS as HELDOUT_SEED  # 10**9: the clips measured

RESULTS = Path(__file__).resolve().parent / "results" / "eval_latent_boundaries.json"
MOTIONS = ("moves right", "moves left", "moves down", "moves up")


def boundary_ratio(frames: np.ndarray, ft: int) -> float:
    """Mean step across latent boundaries (frame 1 + k*ft - 1 -> 1 + k*ft) over the median step
    inside latent frames; NaN for a still clip."""
    s = steps(frames)  # s[i]: frame i -> i + 1; a boundary when i + 1 = 1 + k*ft
    at = np.arange(len(s)) % ft == 0
    inside = float(np.median(s[~at]))
    return float(s[at].mean() / inside) if inside > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--solver", default=None)
    ap.add_argument("--guidance", type=float, default=None)
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    c, ft = pipe.config, pipe.ft
    w, h = int(c.width), int(c.height)
    ratios: dict[str, list[float]] = {"truth": [], "vae": [], "generated": []}
    for i in range(args.clips):
        clip = generate_clip(
            HELDOUT_SEED + 900 + i, width=w, height=h, num_frames=33, fps=float(c.fps),
            family="single", motion=MOTIONS[i % len(MOTIONS)],
        )  # fmt: skip
        with torch.no_grad():
            mean, _ = pipe.vae.encode_chunked(to_tensor(clip.frames)[None])
            recon = to_uint8(pipe.vae.decode_chunked(mean)[0])
        made = pipe(
            clip.caption, num_frames=33, seed=i, width=w, height=h, steps=args.steps,
            solver=args.solver, guidance=args.guidance,
        ).frames  # fmt: skip
        for kind, video in (("truth", clip.frames), ("vae", recon), ("generated", made)):
            ratios[kind].append(boundary_ratio(video, ft))
    out = {k: float(np.nanmedian(v)) for k, v in ratios.items()}
    print("boundary step / median step inside latent frames (median over clips):")
    for k, v in out.items():
        print(f"  {k:10s} {v:.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"args": vars(args), "ratios": out, "per_clip": ratios}, indent=1)
    )


if __name__ == "__main__":
    main()
