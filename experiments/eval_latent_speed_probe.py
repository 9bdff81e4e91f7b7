"""Is the speed of given frames readable from the VAE's latents? A probe next to the DiT's own.

`experiments/eval_speed_reading.py` shows the DiT continues a clip at a speed of its own. This
asks whether the information is there to read: `--clips` world clips of one object in uniform
motion (64x64 at 8 fps, `--given` frames, seeds apart from training and the eval), encoded by
the model's VAE; a small conv net (two 3x3 layers of 64 channels, global mean, a linear map to
(vx, vy) px/frame; ~40k parameters, trained for `--epochs` on 80% of the clips) regresses the
object's velocity from the latent frames. Printed per input, on the held-out 20%: the mean
velocity error in px/frame and in frame sizes (the unit of `chronotope eval`'s velocity error)
and the slope of the read speed on the true one. Inputs: all given latent frames, the last one
alone (motion inside one latent frame), and the first alone (the causal first frame: a still
image, so a control that should read nothing).

    .venv/bin/python experiments/eval_latent_speed_probe.py [--clips 1500] [--given 5]
        [--epochs 60] [--model DIR]

Writes experiments/results/eval_latent_speed_probe.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chronotope.data import to_tensor
from chronotope.eval import physics
from chronotope.pipeline.loading import load_pipeline
from chronotope.utils.precision import autocast

RESULTS = Path(__file__).resolve().parent / "results" / "eval_latent_speed_probe.json"
SEED = 777_000  # clip seeds: apart from training pools and the eval's held-out seeds


def _probe(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 64, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.GELU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 2),
    )


def fit_probe(x: torch.Tensor, v: torch.Tensor, epochs: int, seed: int = 0) -> dict[str, float]:
    """Train on the first 80% of (x (N,C,H,W), v (N,2)), score on the rest."""
    torch.manual_seed(seed)
    cut = int(len(x) * 0.8)
    net = _probe(x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(cut).split(64):
            loss = (net(x[idx]) - v[idx]).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(x[cut:])
    true = v[cut:]
    err = (pred - true).norm(dim=1)
    speed = true.norm(dim=1)
    along = (pred * true).sum(1) / speed  # the read speed along the true direction
    return {
        "error_px_per_frame": float(err.mean()),
        "error_frame_sizes": float(err.mean()) / 64.0,
        "slope": float(np.polyfit(speed.numpy(), along.numpy(), 1)[0]),
        "held_out": len(true),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=1500)
    ap.add_argument("--given", type=int, default=5, help="given frames (1 + 4k)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    args = ap.parse_args()
    vae = load_pipeline(args.model).vae
    clips = physics.uniform_cases(
        args.clips, seed=SEED, width=64, height=64, num_frames=args.given, fps=8.0
    )
    start = time.perf_counter()
    latents, velocity = [], []
    for clip in clips:
        track = physics.truth_positions(clip)
        velocity.append((track[-1] - track[0]) / (len(track) - 1))
        with torch.no_grad(), autocast():
            mean, _ = vae.encode(to_tensor(clip.frames)[None])
        latents.append(vae.normalize(mean.float())[0])  # (C, T', H', W')
    z = torch.stack(latents)  # (N, C, T', H', W')
    v = torch.tensor(np.array(velocity), dtype=torch.float32)
    encode_s = time.perf_counter() - start
    inputs = {
        "all given latent frames": z.flatten(1, 2),
        "last latent frame": z[:, :, -1],
        "first latent frame (a still image)": z[:, :, 0],
    }
    rows = {name: fit_probe(x, v, args.epochs) for name, x in inputs.items()}
    speeds = v.norm(dim=1)
    out = {
        "args": vars(args),
        "true_speed_px_per_frame": [float(speeds.min()), float(speeds.max())],
        "encode_seconds": encode_s,
        "probes": rows,
    }
    for name, r in rows.items():
        print(
            f"{name:36s} velocity error {r['error_px_per_frame']:.3f} px/frame "
            f"({r['error_frame_sizes']:.4f} frame sizes), speed slope {r['slope']:.2f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
