"""Memory arithmetic and sequence-parallel timing for `chronotope.distributed`.

1. Activation bytes per token per DiT block, measured: the bytes autograd saves for backward
   during one block's forward (bf16 autocast), as the slope between two token counts (so the
   weights' bf16 copies, a per-layer constant, drop out). Short segments keep the attention
   probabilities (an l^2 term, reported apart) out of the slope.
2. From it, how many tokens, and seconds of video, fit per GPU with and without activation
   checkpointing and Ulysses sequence parallelism (fs=8, ft=4, patch (1,2,2)).
3. Ulysses on 2 local gloo ranks vs one process, forward + backward of one long pack (CPU, 1
   thread per rank): the ratio is the figure to read; the all-to-all is a memcpy on loopback.

    .venv/bin/python benchmarks/bench_distributed.py [--width 256 --tokens 2048]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from chronotope.distributed.launch import spawn
from chronotope.distributed.sequence import shard_pack
from chronotope.model import DiT
from chronotope.model.blocks import DiTBlock
from chronotope.model.dit import DIT_PRESETS
from chronotope.model.rope import rope_cos_sin
from chronotope.tokens.segments import Segments

GIB = 2**30


def saved_bytes(width: int, heads: int, tokens: int, seg: int = 16) -> int:
    """Bytes saved for backward by one block's forward over `tokens` (segments of `seg`)."""
    block = DiTBlock(width=width, heads=heads, mlp_ratio=4.0)
    segs = Segments((seg,) * (tokens // seg))
    text_segs = Segments((8,) * len(segs))
    x = torch.randn(tokens, width, dtype=torch.bfloat16, requires_grad=True)
    mod = torch.randn(1, 6, width, dtype=torch.bfloat16, requires_grad=True)
    index = torch.zeros(tokens, dtype=torch.long)
    pos = torch.zeros(tokens, 3, dtype=torch.long)
    pos[:, 0] = torch.arange(tokens) % seg
    cos, sin = rope_cos_sin(pos, width // heads, dtype=torch.bfloat16)  # as DiT.forward
    text = torch.randn(text_segs.total, width)
    seen: dict[int, int] = {}

    def pack(t):  # count each storage once (views of one tensor share it)
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16),
    ):
        block(x, mod, index, cos, sin, text, segs, text_segs)
    return sum(seen.values())


def video_tokens_per_second(height: int, width: int, fps: float) -> float:
    """Latent tokens per second of video: fs=8, ft=4, patch (1,2,2) -> 16x16 pixels x 4 frames."""
    return (height // 16) * (width // 16) * fps / 4


def capacity(a, per_token_layer: float) -> list[dict]:
    """Tokens and seconds of 720p24 video per GPU for each preset and parallel layout."""
    rows = []
    for name in ("base", "xl"):
        p = DIT_PRESETS[name]
        w, depth = p["width"], p["depth"]
        params = 16 * w * w * depth  # per block: qkv+out 4W^2, cross 4W^2, MLP 8W^2
        # bf16 autocast, fp32 master weights: param 4 + grad 4 + Adam 8 bytes, FSDP-sharded
        state = 16 * params / a.gpus
        act = per_token_layer * (w / a.width)  # the slope scales with width
        free = a.gpu_gib * GIB * 0.9 - state  # 10% for the allocator, NCCL buffers, workspace
        # Ulysses splits heads: the largest rank count <= gpus that divides them (12 -> 6 of 8)
        sp_max = max(d for d in range(1, a.gpus + 1) if p["heads"] % d == 0)
        for ckpt in (False, True):
            # checkpointing keeps each block's input (W bf16 values) + one block recomputed
            per_token = (2 * w * depth + act) if ckpt else act * depth
            for sp in (1, sp_max):
                tokens = free * sp / per_token
                rows.append(
                    dict(
                        preset=name,
                        params_b=round(params / 1e9, 2),
                        checkpointing=ckpt,
                        sequence_parallel=sp,
                        tokens=int(tokens),
                        seconds_720p24=round(tokens / video_tokens_per_second(720, 1280, 24), 1),
                        seconds_480p16=round(tokens / video_tokens_per_second(480, 832, 16), 1),
                    )
                )
    return rows


# ---- Ulysses timing ----


def _model(a) -> DiT:
    torch.manual_seed(0)
    return DiT(in_channels=4, width=a.width, depth=a.depth, heads=a.heads, text_dim=32)


def _pack(tokens: int) -> tuple:
    g = torch.Generator().manual_seed(0)
    clip = tokens - 64 - 16
    segs = Segments((clip, 64, 16))
    pos = torch.zeros(tokens, 3, dtype=torch.long)
    pos[:, 0] = torch.cat([torch.arange(n) for n in segs.seqlens]) // 16
    text_segs = Segments((8, 8, 8))
    return (
        torch.randn(tokens, 16, generator=g),
        torch.rand(tokens, generator=g),
        pos,
        segs,
        torch.randn(24, 32, generator=g),
        text_segs,
    )


def _time_steps(model, args, steps: int) -> list[float]:
    times = []
    for _ in range(steps + 1):  # the first is warm-up
        t = time.perf_counter()
        model(*args).square().mean().backward()
        times.append(time.perf_counter() - t)
    return times[1:]


def _sp_rank(rank: int, world: int, a, path: str) -> None:
    model = _model(a)
    shard = shard_pack(*_pack(a.tokens))
    times = _time_steps(model, shard.model_args(), a.steps)
    if rank == 0:
        Path(path).write_text(json.dumps(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--gpus", type=int, default=8, help="GPUs per job for the capacity table")
    p.add_argument("--gpu-gib", type=float, default=80.0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "distributed.json"))
    a = p.parse_args()

    lo, hi = 512, 2048
    slope = (saved_bytes(a.width, a.heads, hi) - saved_bytes(a.width, a.heads, lo)) / (hi - lo)
    print(f"activations saved per token per block (bf16, width {a.width}): {slope:.0f} B")
    print(f"  = {slope / a.width:.1f} bytes x width")
    rows = capacity(a, slope)
    print(f"\ncapacity per {a.gpu_gib:.0f} GiB GPU, {a.gpus} GPUs (FSDP-sharded model state):")
    print(f"{'preset':<6} {'ckpt':<5} {'SP':>3} {'tokens':>10} {'s 720p24':>9} {'s 480p16':>9}")
    for r in rows:
        print(
            f"{r['preset']:<6} {r['checkpointing']!s:<5} {r['sequence_parallel']:>3} "
            f"{r['tokens']:>10} {r['seconds_720p24']:>9} {r['seconds_480p16']:>9}"
        )

    torch.set_num_threads(1)
    single = _time_steps(_model(a), _pack(a.tokens), a.steps)
    tmp = Path(a.out).with_suffix(".sp.tmp")
    spawn(_sp_rank, 2, a, str(tmp))
    sp = json.loads(tmp.read_text())
    tmp.unlink()
    s1, s2 = statistics.median(single), statistics.median(sp)
    print(f"\nfwd+bwd, {a.tokens} tokens (one {a.tokens - 80}-token clip + 64 + 16), width")
    print(f"{a.width}, depth {a.depth}: 1 process {s1:.3f} s, Ulysses 2 ranks {s2:.3f} s,")
    print(f"speedup {s1 / s2:.2f}x (1 thread per process)")
    res = dict(
        args=vars(a),
        saved_bytes_per_token_per_block=slope,
        saved_bytes_per_token_per_block_over_width=slope / a.width,
        capacity=rows,
        step_s_single=s1,
        step_s_ulysses_2=s2,
        speedup=s1 / s2,
    )
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
