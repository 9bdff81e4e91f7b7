"""Causal VAE throughput and memory, side by side with diffusers' AutoencoderKLWan.

Both models have random weights at matched small configs (16 latent channels, 8x spatial and 4x
temporal compression, 32-128 channels). Measured in one run, on this machine:
- encode and decode frames/s (`autocast()`: bf16 where fast, else fp32; batch 1, a 17-frame clip) at 64x64 and 256x256;
- peak RSS of decoding a 4 s and a 60 s clip (8 fps), each in a fresh subprocess
  (resource.getrusage), our decoder streaming chunks into an mp4 writer.

    .venv/bin/python benchmarks/bench_autoencoder.py [--quick]

Writes benchmarks/results/autoencoder.json. Compare ratios, not absolute times: the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from chronotope.utils.precision import autocast

RESULTS = Path(__file__).resolve().parent / "results" / "autoencoder.json"
FPS = 8


def ours():
    from chronotope.autoencoder import CausalVAE

    torch.manual_seed(0)
    return CausalVAE.from_preset("world").eval()


def wan():
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return AutoencoderKLWan(
        base_dim=32,
        z_dim=16,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    ).eval()


def params(model) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN builds its kernels per shape
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def throughput(name: str, size: int, frames: int, repeats: int) -> dict:
    model = ours() if name == "ours" else wan()
    x = torch.rand(1, 3, frames, size, size) * 2 - 1
    with autocast():
        if name == "ours":
            z = model.encode_chunked(x)[0]
            enc = timed(lambda: model.encode_chunked(x), repeats)
            dec = timed(lambda: list(model.decode_iter(z)), repeats)
        else:
            z = model.encode(x).latent_dist.mode()
            enc = timed(lambda: model.encode(x), repeats)
            dec = timed(lambda: model.decode(z), repeats)
    return {"encode_fps": frames / enc, "decode_fps": frames / dec, "params_m": params(model)}


def child_decode(name: str, size: int, seconds: int) -> None:
    """Run in a subprocess: decode a `seconds` clip and print the peak RSS in MiB."""
    from chronotope.autoencoder.evaluate import to_uint8_frames, write_video_chunks

    model = ours() if name == "ours" else wan()
    frames = 1 + seconds * FPS
    z = torch.randn(1, 16, 1 + (frames - 1) // 4, size // 8, size // 8)
    start = time.perf_counter()
    with (
        torch.no_grad(),
        autocast(),
        tempfile.TemporaryDirectory() as d,
    ):
        if name == "ours":
            chunks = (to_uint8_frames(c[0]) for c in model.decode_iter(z))
        else:  # diffusers decodes the whole clip into one tensor
            chunks = iter([to_uint8_frames(model.decode(z).sample[0])])
        write_video_chunks(Path(d) / "out.mp4", chunks, FPS)
    # ru_maxrss survives fork+exec (a child of a 1 GB parent starts at 1 GB), so the peak is
    # read from VmHWM, which exec resets; the RSS runs also go first, while the parent is small.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    seconds = time.perf_counter() - start
    row = {"peak_rss_mib": hwm, "ru_maxrss_mib": maxrss, "seconds": seconds, "frames": frames}
    print(json.dumps(row))


def peak_rss(name: str, size: int, seconds: int) -> dict:
    cmd = [sys.executable, __file__, "--child", name, str(size), str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller RSS clips")
    parser.add_argument("--rss-size", type=int, default=128, help="frame size of the RSS runs")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_decode(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    torch.set_num_threads(2)
    repeats = 1 if args.quick else 3
    rows: dict = {"throughput": {}, "peak_rss": {}}
    for name in ("ours", "wan"):
        for seconds in (4, 60):
            key = f"{name}@{args.rss_size}:{seconds}s"
            rows["peak_rss"][key] = peak_rss(name, args.rss_size, seconds)
    for size in (64, 256):
        for name in ("ours", "wan"):
            rows["throughput"][f"{name}@{size}"] = throughput(name, size, 17, repeats)
    report(rows, args.rss_size)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS}")


def report(rows: dict, rss_size: int) -> None:
    t = rows["throughput"]
    print(f"{'model@size':<12} {'params M':>8} {'enc fr/s':>9} {'dec fr/s':>9}")
    for key, r in t.items():
        print(f"{key:<12} {r['params_m']:>8.2f} {r['encode_fps']:>9.1f} {r['decode_fps']:>9.1f}")
    for size in (64, 256):
        o, w = t[f"ours@{size}"], t[f"wan@{size}"]
        rows.setdefault("ratios", {})[f"{size}"] = {
            "encode_ours_over_wan": o["encode_fps"] / w["encode_fps"],
            "decode_ours_over_wan": o["decode_fps"] / w["decode_fps"],
        }
        print(
            f"ratio ours/wan @{size}: encode {o['encode_fps'] / w['encode_fps']:.2f}x, "
            f"decode {o['decode_fps'] / w['decode_fps']:.2f}x"
        )
    print(f"\npeak RSS decoding at {rss_size}x{rss_size} (fresh subprocess each)")
    for name in ("ours", "wan"):
        a, b = rows["peak_rss"][f"{name}@{rss_size}:4s"], rows["peak_rss"][f"{name}@{rss_size}:60s"]
        growth = b["peak_rss_mib"] / a["peak_rss_mib"]
        rows["ratios"][f"rss_60s_over_4s_{name}"] = growth
        print(
            f"{name:<5} 4 s: {a['peak_rss_mib']:7.0f} MiB  60 s: {b['peak_rss_mib']:7.0f} MiB  "
            f"60s/4s = {growth:.2f}x  ({b['seconds']:.0f} s for 60 s)"
        )


if __name__ == "__main__":
    main()
