"""Memory arithmetic and sequence-parallel timing for `chronotope.distributed`.

1. Activation bytes per token per DiT block, measured: the bytes autograd saves for backward
   during one block's forward (bf16 autocast), as the slope between two token counts (so the
   weights' bf16 copies, a per-layer constant, drop out). Short segments keep the attention
   probabilities (an l^2 term, reported apart) out of the slope.
2. From it, how many tokens, and seconds of video, fit per GPU with and without activation
   checkpointing and Ulysses sequence parallelism (fs=8, ft=4, patch (1,2,2)).
3. Ulysses on 2 local gloo ranks vs one process, forward + backward of one long pack (CPU, 1
   thread per rank): the ratio is the figure to read; the all-to-all is a memcpy on loopback.
4. Communication per rank per training step (forward + backward) for DDP, FSDP2 and Ulysses,
   measured on 2 gloo ranks by counting the tensors handed to every collective (the
   torch.distributed functions are wrapped; DDP goes through its all-reduce comm hook, which
   calls them), next to the arithmetic from the parameter count and activation shapes.
   Bytes "on the wire" per rank use the ring/pairwise costs of each collective over P ranks:
   all-reduce 2(P-1)/P x buffer, all-gather (P-1)/P x output, reduce-scatter (P-1)/P x input,
   all-to-all (P-1)/P x buffer. fp32 here; bf16 activations (autocast on GPU) halve the
   Ulysses all-to-alls, and FSDP2 with --mixed-precision bf16 halves its all-gathers.

    .venv/bin/python benchmarks/bench_distributed.py [--width 256 --tokens 2048]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.distributed as dist

from chronotope.distributed.launch import spawn
from chronotope.distributed.parallelize import parallelize
from chronotope.distributed.sequence import all_reduce_gradients, shard_pack
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


def frames_1080p(tokens: float) -> int:
    """Video frames of 1920x1080 in `tokens`: 1080 pads to 1088, so 68x120 = 8,160 tokens per
    latent frame; T' latent frames decode to 1 + 4 (T' - 1) frames (the causal VAE)."""
    latent_frames = int(tokens // (68 * 120))
    return 0 if latent_frames == 0 else 1 + 4 * (latent_frames - 1)


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
                        frames_1080p=frames_1080p(tokens),
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


# ---- communication volume ----

# collective -> (which argument holds the counted buffer, wire bytes per rank / buffer bytes)
_COLLECTIVES = {
    "all_reduce": (0, lambda p: 2 * (p - 1) / p),
    "all_gather": (0, lambda p: (p - 1) / p),  # a list of outputs
    "all_gather_into_tensor": (0, lambda p: (p - 1) / p),  # output first
    "all_gather_single": (0, lambda p: (p - 1) / p),
    "reduce_scatter_tensor": (1, lambda p: (p - 1) / p),  # input second
    "reduce_scatter_single": ("input", lambda p: (p - 1) / p),
    "all_to_all_single": (1, lambda p: (p - 1) / p),  # input second
    "broadcast": (0, lambda p: 1.0),
}


def _nbytes(t) -> int:
    if isinstance(t, (list, tuple)):
        return sum(_nbytes(x) for x in t)
    return t.numel() * t.element_size()


@contextlib.contextmanager
def count_collectives():
    """{collective: [calls, buffer bytes, wire bytes per rank]} of the torch.distributed calls
    made inside (Python-level: FSDP2, Ulysses and DDP's comm hook all call these)."""
    counts: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    real = {name: getattr(dist, name) for name in _COLLECTIVES}

    def wrap(name, fn):
        where, factor = _COLLECTIVES[name]

        def counted(*args, **kwargs):
            buf = kwargs[where] if isinstance(where, str) else args[where]
            group = kwargs.get("group")
            c = counts[name]
            c[0] += 1
            c[1] += _nbytes(buf)
            c[2] += _nbytes(buf) * factor(dist.get_world_size(group))
            return fn(*args, **kwargs)

        return counted

    for name, fn in real.items():
        setattr(dist, name, wrap(name, fn))
    try:
        yield counts
    finally:
        for name, fn in real.items():
            setattr(dist, name, fn)


def _comm_rank(rank: int, world: int, a, mode: str, path: str) -> None:
    model = _model(a)
    if mode == "sp":
        shard = shard_pack(*_pack(a.tokens))
        args = shard.model_args()
    else:
        args = _pack(a.tokens)  # data parallel: a pack of --tokens on every rank
        model = parallelize(model, mode=mode)
        if mode == "ddp":
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

            # the default all-reduce, routed through dist.all_reduce so that it is counted
            model.register_comm_hook(None, default_hooks.allreduce_hook)

    def step():
        if mode == "sp":  # as training: the output gathered, the partial gradients summed
            shard.gather(model(*args)).square().mean().backward()
            all_reduce_gradients(model)
        else:
            model(*args).square().mean().backward()

    step()  # warm-up: lazy init, DDP's bucket rebuild
    with count_collectives() as counts:
        step()
    if rank == 0:
        Path(path).write_text(json.dumps(dict(counts)))


def _arithmetic(a, params: int, root_params: int, world: int) -> dict[str, dict[str, float]]:
    """Wire bytes per rank per step from the model shape alone (fp32, 4 bytes)."""
    b, p = 4, world
    ring = (p - 1) / p
    lloc = -(-a.tokens // p)  # tokens per rank under Ulysses (padded)
    width = a.width
    blocks = params - root_params
    return {
        # every gradient once through the all-reduce
        "ddp": {"all_reduce": 2 * ring * params * b},
        # forward all-gathers every block and the root; backward re-gathers the blocks (they
        # were resharded after forward), the root stays gathered; every gradient reduce-scattered
        "fsdp": {
            "all_gather_single": ring * (2 * blocks + root_params) * b,
            "reduce_scatter_single": ring * params * b,
        },
        # per block, forward: self-attention q,k,v to heads (3 L/P W) and back (L/P W),
        # cross-attention q to heads and back (2 L/P W); backward the same in reverse.
        # Then the output all-gather (L x out_dim) and the gradient all-reduce
        "sp": {
            "all_to_all_single": ring * 2 * 6 * lloc * width * a.depth * b,
            "all_gather": ring * p * lloc * 16 * b,
            "all_reduce": 2 * ring * params * b,
        },
    }


def communication(a) -> list[dict]:
    model = _model(a)
    params = sum(p.numel() for p in model.parameters())
    root = params - sum(p.numel() for p in model.blocks.parameters())
    want = _arithmetic(a, params, root, 2)
    rows = []
    for mode in ("ddp", "fsdp", "sp"):
        tmp = Path(a.out).with_suffix(f".{mode}.tmp")
        spawn(_comm_rank, 2, a, mode, str(tmp))
        got = json.loads(tmp.read_text())
        tmp.unlink()
        for op in sorted(set(got) | set(want[mode])):
            calls, buffer, wire = got.get(op, [0, 0, 0.0])
            rows.append(
                dict(
                    mode=mode,
                    collective=op,
                    calls=calls,
                    buffer_mib=buffer / 2**20,
                    wire_mib=wire / 2**20,
                    arithmetic_wire_mib=want[mode].get(op, 0.0) / 2**20,
                )
            )
    return rows


def preset_communication(gpus: int, tokens: int) -> list[dict]:
    """The same arithmetic at scale: GB per rank per step for the presets on `gpus` ranks,
    bf16 compute (FSDP2 mixed precision: bf16 all-gathers, fp32 reduce-scatter; bf16
    activations for Ulysses; DDP all-reduces fp32 gradients), `tokens` per pack."""
    rows = []
    ring = (gpus - 1) / gpus
    for name in ("base", "xl"):
        with torch.device("meta"):
            model = DiT.from_preset(name, in_channels=16)
        params = sum(p.numel() for p in model.parameters())
        blocks = sum(p.numel() for p in model.blocks.parameters())
        w, depth = model.config.width, model.config.depth
        lloc = -(-tokens // gpus)
        grads = 2 * ring * params * 4
        rows.append(
            dict(
                preset=name,
                params_b=params / 1e9,
                gpus=gpus,
                tokens=tokens,
                ddp_gb=grads / 1e9,
                fsdp_gb=(ring * (2 * blocks + params - blocks) * 2 + ring * params * 4) / 1e9,
                sp_gb=(ring * 12 * lloc * w * depth * 2 + grads) / 1e9,
                sp_activations_gb=ring * 12 * lloc * w * depth * 2 / 1e9,
            )
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--gpus", type=int, default=8, help="GPUs per job for the capacity table")
    p.add_argument("--gpu-gib", type=float, default=80.0)
    p.add_argument(
        "--sp-tokens",
        type=int,
        default=21_600,
        help="pack length for the at-scale communication table (21,600: 1 s of 720p24)",
    )
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "distributed.json"))
    a = p.parse_args()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)

    lo, hi = 512, 2048
    slope = (saved_bytes(a.width, a.heads, hi) - saved_bytes(a.width, a.heads, lo)) / (hi - lo)
    print(f"activations saved per token per block (bf16, width {a.width}): {slope:.0f} B")
    print(f"  = {slope / a.width:.1f} bytes x width")
    rows = capacity(a, slope)
    print(f"\ncapacity per {a.gpu_gib:.0f} GiB GPU, {a.gpus} GPUs (FSDP-sharded model state):")
    print(
        f"{'preset':<6} {'ckpt':<5} {'SP':>3} {'tokens':>10} {'s 720p24':>9} {'s 480p16':>9} "
        f"{'1080p frames':>12}"
    )
    for r in rows:
        print(
            f"{r['preset']:<6} {r['checkpointing']!s:<5} {r['sequence_parallel']:>3} "
            f"{r['tokens']:>10} {r['seconds_720p24']:>9} {r['seconds_480p16']:>9} "
            f"{r['frames_1080p']:>12}"
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
    comm = communication(a)
    n_params = sum(p.numel() for p in _model(a).parameters())
    print(
        f"\ncommunication per rank per step (fwd+bwd), 2 ranks, {n_params / 1e6:.2f}M params, "
        f"{a.tokens} tokens per rank (DP) / per pack (SP), fp32:"
    )
    print(
        f"{'mode':<5} {'collective':<22} {'calls':>5} {'buffer MiB':>11} {'wire MiB':>9} "
        f"{'arith MiB':>10}"
    )
    for r in comm:
        print(
            f"{r['mode']:<5} {r['collective']:<22} {r['calls']:>5} {r['buffer_mib']:>11.2f} "
            f"{r['wire_mib']:>9.2f} {r['arithmetic_wire_mib']:>10.2f}"
        )
    for mode in ("ddp", "fsdp", "sp"):
        tot = sum(r["wire_mib"] for r in comm if r["mode"] == mode)
        ari = sum(r["arithmetic_wire_mib"] for r in comm if r["mode"] == mode)
        print(f"{mode:<5} total wire {tot:.2f} MiB per rank per step (arithmetic {ari:.2f})")
    scale = preset_communication(a.gpus, a.sp_tokens)
    print(
        f"\narithmetic at scale: {a.gpus} GPUs, bf16 compute, a pack of {a.sp_tokens} tokens "
        "(GB per rank per step):"
    )
    print(f"{'preset':<6} {'params':>7} {'DDP':>7} {'FSDP2':>7} {'Ulysses':>8} {'(acts)':>7}")
    for r in scale:
        print(
            f"{r['preset']:<6} {r['params_b']:>6.2f}B {r['ddp_gb']:>7.2f} {r['fsdp_gb']:>7.2f} "
            f"{r['sp_gb']:>8.2f} {r['sp_activations_gb']:>7.2f}"
        )
    res = dict(
        args=vars(a),
        communication_at_scale=scale,
        communication=comm,
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
