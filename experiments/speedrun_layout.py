"""How to spend two cores on one DiT: training throughput of world-tiny steps (tokens/s) as
one process with 1 or 2 threads, or two gloo ranks (DDP) with one thread each, on latents of a
small world pool encoded before the clock starts. Read the ratios (one run, one CPU).

    .venv/bin/python experiments/speedrun_layout.py [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from chronotope.distributed.launch import spawn
from chronotope.training.config import get_preset
from chronotope.training.trainer import Trainer


def _throughput(cfg, warm: int, steps: int) -> tuple[float, float]:
    trainer = Trainer(cfg)
    for _ in range(warm):  # encodes the pool's first clips and warms the kernels
        trainer.train_step(trainer.next_batch())
    tokens, t0 = 0, time.perf_counter()
    for _ in range(steps):
        batch = trainer.next_batch()
        trainer.train_step(batch)
        tokens += batch.tokens
    dt = time.perf_counter() - t0
    return tokens / dt, steps / dt


def _rank(rank: int, world: int, cfg, warm: int, steps: int, out: str) -> None:
    tok_s, step_s = _throughput(cfg, warm, steps)
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"tokens_per_s": tok_s, "steps_per_s": step_s}, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warm", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = get_preset("world-tiny").override(world_clips=64, progress=False, sample_every=0)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            cfg = base.override(out=f"{tmp}/p{threads}")
            tok_s, step_s = _throughput(cfg, args.warm, args.steps)
            rows.append(
                {
                    "layout": f"1 process x {threads} thread(s)",
                    "tokens_per_s": tok_s,
                    "steps_per_s": step_s,
                    "tokens_per_step": base.token_budget,
                }
            )
        out = f"{tmp}/ddp.json"
        cfg = base.override(out=f"{tmp}/ddp")
        spawn(_rank, 2, cfg, args.warm, args.steps, out)
        with open(out) as f:
            r = json.load(f)
        rows.append(
            {"layout": "2 ranks (DDP) x 1 thread", **r, "tokens_per_step": 2 * base.token_budget}
        )
    ref = rows[0]["tokens_per_s"]
    for r in rows:
        print(
            f"{r['layout']:<28} {r['tokens_per_s']:8.0f} tok/s  {r['steps_per_s']:.2f} steps/s"
            f"  x{r['tokens_per_s'] / ref:.2f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
