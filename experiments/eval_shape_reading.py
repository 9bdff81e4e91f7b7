"""How often the eval's detector reads an object's shape right, on videos whose shape is known.

For each shape, `--prompts` prompts `a COLOR SHAPE MOTION` (held-out seeds, 64x64, 17 frames):
the world's own clip, its reconstruction through the model's VAE (the true shape is known: a
miss is the detector's or the decoder's) and the model's video of the prompt (the prompted
shape: a miss is the model's or the detector's). Prints the fraction of frames (the object's
largest unclipped component of the prompted color) and of clips (majority vote) read right.

    .venv/bin/python experiments/eval_shape_reading.py [--prompts 24] [--model DIR]
        [--compare OLD_DETECT.py]

`--compare` loads another version of `chronotope/eval/detect.py` (e.g. `git show
REV:src/chronotope/eval/detect.py > /tmp/old_detect.py`) and reads the same frames with it too.
Writes experiments/results/eval_shape_reading.json.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from chronotope.data import to_tensor, to_uint8
from chronotope.pipeline.loading import load_pipeline
from chronotope.world import COLORS
from chronotope.world.clip import scene_from_prompt

RESULTS = Path(__file__).resolve().parent / "results" / "eval_shape_reading.json"
SHAPES = ("circle", "square", "triangle")
MOTIONS = (
    "moves left",
    "moves right",
    "moves up",
    "moves down",
    "stays still",
    "falls and bounces",
    "is thrown in an arc",
)
HELDOUT = {("green", "triangle"), ("orange", "square")}


def _load(path: str):
    spec = importlib.util.spec_from_file_location("compared_detect", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=24, help="prompts per shape")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    ap.add_argument("--compare", default=None, help="another detect.py to read the frames with")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    detectors = {"current": importlib.import_module("chronotope.eval.detect")}
    if args.compare:
        detectors["compared"] = _load(args.compare)
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    colors = list(COLORS)
    rng = np.random.default_rng(args.seed)
    frames_ok, clips_ok = defaultdict(list), defaultdict(list)
    for i in range(args.prompts):
        for shape in SHAPES:
            color = colors[rng.integers(len(colors))]
            color = "red" if (color, shape) in HELDOUT else color
            prompt = f"a {color} {shape} {MOTIONS[rng.integers(len(MOTIONS))]}"
            clip = scene_from_prompt(prompt, seed=90000 + i, width=64, height=64, num_frames=17)
            with torch.no_grad():
                mean, _ = pipe.vae.encode_chunked(to_tensor(clip.frames)[None])
                recon = to_uint8(pipe.vae.decode_chunked(mean)[0])
            made = pipe(prompt, num_frames=17, seed=2000 + i, width=64, height=64).frames
            for kind, video in (("truth", clip.frames), ("vae", recon), ("generated", made)):
                for name, module in detectors.items():
                    votes = Counter()
                    for dets in module.detect(video):
                        mine = [d for d in dets if d.color == color and not d.clipped][:1]
                        if mine:
                            frames_ok[(name, kind, shape)].append(mine[0].shape == shape)
                            votes[mine[0].shape] += 1
                    if votes:
                        clips_ok[(name, kind, shape)].append(votes.most_common(1)[0][0] == shape)
    rows = []
    print(f"{'detector':9} {'video':10} {'shape':9} {'frames right':>14} {'clips right':>12}")
    for key in sorted(frames_ok):
        f, c = frames_ok[key], clips_ok[key]
        rows.append(dict(zip(("detector", "video", "shape"), key), frames=float(np.mean(f)),
                         n_frames=len(f), clips=float(np.mean(c)), n_clips=len(c)))  # fmt: skip
        print(f"{key[0]:9} {key[1]:10} {key[2]:9} {np.mean(f):8.2f} ({len(f):3d}) "
              f"{np.mean(c):6.2f} ({len(c):2d})")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"prompts_per_shape": args.prompts, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
