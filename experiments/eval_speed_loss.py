"""Does the DiT's loss use the speed of the given frames? The same continuation, two contexts.

A world clip S of one object in uniform motion (64x64, 8 fps). The DiT predicts the continuation
S[13..20] (latent frames 2-3, noised at sigma) given either S[8..12] (its own speed) or
S[4], S[6], S[8], S[10], S[12] (twice the speed, the same last frame). A model that reads speed
has a clearly lower loss with its own context; one that continues from the last frame at a
speed of its own scores both alike. Printed per sigma: both losses (the flow loss on the
continuation's tokens, as in training), their difference and the fraction of clips where the own
context is lower; and the room there is: the mean squared difference between the continuations
at the two speeds (/4: the cost of not knowing which of two equally likely speeds it is). More
sensitive than the sampled speed of `experiments/eval_speed_reading.py`: a fine-tune can move it
before the sampled speed follows.

    .venv/bin/python experiments/eval_speed_loss.py [--clips 24] [--model DIR]

Writes experiments/results/eval_speed_loss.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from chronotope.data import to_tensor
from chronotope.eval import physics
from chronotope.pipeline.loading import load_pipeline
from chronotope.tokens import PackedBatch, frame_to_tokens
from chronotope.utils.precision import autocast
from chronotope.world import generate_clip
from chronotope.world.seeds import TRAIN_SEEDS as HELDOUT_SEED  # 10**9: the clips measured

RESULTS = Path(__file__).resolve().parent / "results" / "eval_speed_loss.json"
SIGMAS = (0.5, 0.7, 0.9, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    dit, vae = pipe.transformer, pipe.vae
    patch = tuple(dit.config.patch)

    def encode(frames: np.ndarray) -> torch.Tensor:
        with torch.no_grad(), autocast():
            mean, _ = vae.encode(to_tensor(frames)[None])
        return vae.normalize(mean.float())[0]  # (C, 4, 8, 8) for 13 frames at 64x64

    def loss(context: torch.Tensor, target: torch.Tensor, noise, sigma, text) -> float:
        x = context.clone()
        x[:, 2:] = (1 - sigma) * target[:, 2:] + sigma * noise[:, 2:]
        grid = (x.shape[1] // patch[0], x.shape[2] // patch[1], x.shape[3] // patch[2])
        per_frame = torch.tensor([0.0, 0.0, sigma, sigma])
        b = PackedBatch.from_latents(
            [x], patch=patch, sigma=[frame_to_tokens(per_frame, grid)], text=text
        )
        with torch.no_grad(), autocast():
            v = dit(b.tokens, b.sigma, b.positions, b.segments, b.text, b.text_segments).float()
        want = PackedBatch.from_latents([noise - target], patch=patch).tokens
        made = b.sigma > 0
        return float((v - want)[made].square().mean())

    gen = torch.Generator().manual_seed(0)
    rows, room = {s: [] for s in SIGMAS}, []
    for i in range(args.clips):
        clip = generate_clip(
            HELDOUT_SEED + 300 + i, width=64, height=64, num_frames=29, fps=8.0,
            family="single", motion=physics.UNIFORM_MOTIONS[i % 4],
        )  # fmt: skip
        s = clip.frames
        own = encode(s[8:21])  # given S[8..12], continuation S[13..20]
        fast = encode(np.concatenate([s[4:13:2], s[13:21]]))  # given at 2x, same continuation
        fast_on = encode(np.concatenate([s[4:13:2], s[14:29:2]]))  # the 2x clip's own continuation
        room.append(float((own[:, 2:] - fast_on[:, 2:]).square().mean() / 4))
        text = pipe.text_encoder.encode([clip.caption])
        for sigma in SIGMAS:
            noise = torch.randn(own.shape, generator=gen)
            rows[sigma].append(
                (loss(own, own, noise, sigma, text), loss(fast, own, noise, sigma, text))
            )
    out = {"args": vars(args), "room": float(np.mean(room)), "sigmas": {}}
    print(f"room: mean squared difference of the two speeds' continuations / 4 = {out['room']:.4f}")
    for sigma, pairs in rows.items():
        a, b = np.array(pairs).T
        out["sigmas"][str(sigma)] = {
            "own_speed": float(a.mean()),
            "double_speed": float(b.mean()),
            "difference": float((b - a).mean()),
            "own_lower": float((a < b).mean()),
        }
        print(
            f"sigma {sigma}: loss given its own speed {a.mean():.4f}, twice the speed "
            f"{b.mean():.4f}, difference {(b - a).mean():+.4f} (own lower in {(a < b).mean():.2f})"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
