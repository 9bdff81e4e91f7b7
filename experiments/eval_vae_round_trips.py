"""Do repeated VAE round trips shrink or dim an object? The long video's windows each re-encode
the frames the one before decoded, so a VAE that eroded edges would compound like the drift
the long-video check measures (the object's size and the scene's brightness per window).

A world clip (the long-video benchmark's prompt, 112x64, 9 frames) goes through the bundled
VAE's encode and decode `--trips` times; every 4 trips it prints the object's median area (the
long-video check's `object_areas`) and the frames' mean brightness, contrast and saturation.

    .venv/bin/python experiments/eval_vae_round_trips.py [--trips 20] [--prompt TEXT]

Writes experiments/results/eval_vae_round_trips.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from chronotope.data import to_tensor
from chronotope.data.video_io import to_uint8
from chronotope.eval.long_video import frame_figures, object_areas
from chronotope.pipeline.loading import load_pipeline
from chronotope.world import parse_prompt, scene_from_prompt

RESULTS = Path(__file__).resolve().parent / "results" / "eval_vae_round_trips.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trips", type=int, default=20)
    p.add_argument("--prompt", default="the yellow circle stays still")
    p.add_argument("--size", default="112x64", help="W x H")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    vae = load_pipeline().vae
    color = parse_prompt(args.prompt)["objects"][0]["color"]
    frames = scene_from_prompt(args.prompt, seed=0, width=w, height=h, num_frames=9).frames
    rows = []
    for trip in range(args.trips + 1):
        if trip % 4 == 0:
            figures = {k: float(np.mean(v)) for k, v in frame_figures(frames).items()}
            area = float(np.nanmedian(object_areas(frames, color)))
            rows.append({"trip": trip, "object_area": area, **figures})
            print(f"trip {trip:3d}: area {area:6.1f} px  " + "  ".join(
                f"{k} {v:.4f}" for k, v in figures.items()
            ))  # fmt: skip
        with torch.no_grad():
            mean, _ = vae.encode(to_tensor(frames)[None])
            frames = to_uint8(vae.decode(mean)[0])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
