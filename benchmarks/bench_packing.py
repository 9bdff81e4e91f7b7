"""Useful-token fraction of packing strategies on a mixed stream of native-size samples.

Stream: images and 1-8 s videos, 16:9 / 1:1 / 9:16, at the world's native latent sizes.
Strategies: pad every batch to its longest sample, naive greedy packing (close a pack when
the next sample does not fit), and first-fit-decreasing over a sliding buffer (`pack_stream`).

    .venv/bin/python benchmarks/bench_packing.py [--budget 4096 --buffer 512 --n 20000]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from chronotope.tokens import num_tokens, pack_stream


def sample_lengths(n: int, *, fs: int, ft: int, fps: float, short_side: int, patch, seed: int):
    """Token counts of n random samples: 30% images, 70% videos of 1..8 s; three aspects."""
    rng = random.Random(seed)
    align = fs * patch[1]  # pixel sizes are multiples of fs*ph
    lengths, kinds = [], []
    for _ in range(n):
        w_over_h = rng.choice([16 / 9, 1.0, 9 / 16])
        long_side = max(align, round(short_side * max(w_over_h, 1 / w_over_h) / align) * align)
        h, w = (short_side, long_side) if w_over_h >= 1 else (long_side, short_side)
        if rng.random() < 0.3:
            frames = 1
        else:
            frames = 1 + ft * max(1, round(rng.uniform(1.0, 8.0) * fps / ft))  # T = 1 + k*ft
        latent = (1 + (frames - 1) // ft, h // fs, w // fs)
        lengths.append(num_tokens(latent, patch))
        kinds.append("image" if frames == 1 else "video")
    return lengths, kinds


def pad_to_batch_max(lengths: list[int], batch_size: int) -> float:
    padded = 0
    for i in range(0, len(lengths), batch_size):
        batch = lengths[i : i + batch_size]
        padded += max(batch) * len(batch)
    return sum(lengths) / padded


def naive_greedy(lengths: list[int], budget: int) -> float:
    packs, room = 0, 0
    for n in lengths:
        if n > room:
            packs, room = packs + 1, budget
        room -= n
    return sum(lengths) / (packs * budget)


def ffd_buffer(lengths: list[int], budget: int, buffer_size: int) -> float:
    packs = list(pack_stream(lengths, budget, buffer_size))
    return sum(lengths) / (len(packs) * budget)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--budget", type=int, default=4096, help="tokens per pack")
    p.add_argument("--buffer", type=int, default=512, help="FFD buffer (samples)")
    p.add_argument("--batch-size", type=int, default=16, help="for pad-to-batch-max")
    p.add_argument("--fs", type=int, default=8)
    p.add_argument("--ft", type=int, default=4)
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--short-side", type=int, default=64)
    p.add_argument("--patch", type=int, nargs=3, default=(1, 2, 2))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "packing.json"))
    a = p.parse_args()
    lengths, kinds = sample_lengths(
        a.n, fs=a.fs, ft=a.ft, fps=a.fps, short_side=a.short_side, patch=tuple(a.patch), seed=a.seed
    )
    rows = {
        f"pad to batch max (batch {a.batch_size})": pad_to_batch_max(lengths, a.batch_size),
        "naive greedy": naive_greedy(lengths, a.budget),
        f"FFD over buffer {a.buffer}": ffd_buffer(lengths, a.budget, a.buffer),
        "FFD over buffer 64": ffd_buffer(lengths, a.budget, 64),
    }
    print(
        f"{a.n} samples ({kinds.count('image')} images), tokens per sample "
        f"{min(lengths)}..{max(lengths)} (mean {sum(lengths) / len(lengths):.0f}), "
        f"budget {a.budget}"
    )
    print(f"{'strategy':<32} useful tokens")
    for name, frac in rows.items():
        print(f"{name:<32} {frac:.4f}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {k: v for k, v in vars(a).items() if k != "out"}
    out.write_text(json.dumps({"params": params, "useful_fraction": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
