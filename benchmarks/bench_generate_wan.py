"""Seconds to generate a 4 s clip and a 2048x2048 image: our pipeline vs a diffusers Wan pipeline.

Ours is the bundled model (or `--model DIR`) called as a user would, at its native size and fps
(`pipe(prompt, num_frames=N)`, N = the frames of 4 s: 33 at 8 fps) and at 2048x2048
(`num_frames=1`). Wan is `diffusers.WanPipeline` with random weights: a `WanTransformer3DModel`
matched to our DiT (patch, heads, head dim, layers, MLP width, text width, timestep-embedding
width, latent channels), an `AutoencoderKLWan` in Wan 2.1's layout (4x8x8 compression, dim_mult
1,2,4,4) at our latent channels and res blocks, with the `base_dim` whose parameter count is
closest to our VAE's, and a `FlowMatchEulerDiscreteScheduler`. Both run the same frames, size,
Euler steps and guidance (guidance > 1 costs two transformer passes per step on both: ours packs
them into one call, Wan makes two); the timestep shift does not change the cost.

Wan gets no tokenizer or text encoder, so nothing is downloaded: `WanPipeline` takes None for
both and random `prompt_embeds` / `negative_prompt_embeds` with as many tokens as our text
encoder gives the prompt and "" (so Wan's time has no text encoding; ours encodes the prompt in
every timed call). Wan's sizes are rounded up to its 16 px grid, as ours pads to its own grid
internally. Wan's VAE decodes a 2048x2048 frame untiled (about 1.5 GB over the model at
1024x1024, so about 6 GB at 2048x2048); ours tiles large frames itself. `--wan-tiling` tiles
Wan's decode too.

Each figure is the best wall time of `--repeats` whole calls (prompt to frames, VAE decode
included) after a tiny warm-up call each; ours and Wan alternate in one process so background
load hits both alike. Peak RSS is the process's VmHWM during a call (weights of both included).
Read `wan/ours` (above 1: ours is faster) and, for the clip, `ours/clip`: our wall time over the
clip's duration (frames / fps); below 1 is faster than real time.

    .venv/bin/python benchmarks/bench_generate_wan.py [--model DIR] [--steps 24] [--repeats 2]
        [--threads N] [--skip-image] [--image-size 2048] [--wan-tiling]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    WanPipeline,
    WanTransformer3DModel,
)

from chronotope.pipeline.loading import load_pipeline

PROMPT = "a red circle moves right"


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def wan_vae_like(vae) -> AutoencoderKLWan:
    """Wan 2.1's VAE layout at our latent channels and res blocks (Wan's decoder, like ours, has
    one more per level), with the even `base_dim` whose parameter count is closest to ours."""
    c = vae.config
    if (c.temporal_factor, c.spatial_factor) != (4, 8):
        raise SystemExit(
            f"Wan's VAE compresses 4x8x8; ours is {c.temporal_factor}x{c.spatial_factor}"
        )
    z = c.latent_channels

    def make(base_dim: int) -> AutoencoderKLWan:
        return AutoencoderKLWan(
            base_dim=base_dim,
            z_dim=z,
            num_res_blocks=c.num_res_blocks,
            latents_mean=[0.0] * z,
            latents_std=[1.0] * z,
        )

    target, best = n_params(vae), None
    for base_dim in range(4, 513, 2):
        wan = make(base_dim)
        if best is None or abs(n_params(wan) - target) < abs(n_params(best) - target):
            best = wan
        if n_params(wan) > target:
            break
    return best.eval()


def wan_like(pipe) -> WanPipeline:
    cfg = pipe.transformer.config
    vae = wan_vae_like(pipe.vae)
    transformer = WanTransformer3DModel(
        patch_size=tuple(cfg.patch),
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.width // cfg.heads,
        in_channels=vae.config.z_dim,
        out_channels=vae.config.z_dim,
        text_dim=cfg.text_dim,
        freq_dim=cfg.sigma_dim,
        ffn_dim=int(cfg.width * cfg.mlp_ratio),
        num_layers=cfg.depth,
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler()
    wan = WanPipeline(
        tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler, transformer=transformer
    )
    wan.set_progress_bar_config(disable=True)
    return wan


def config(model) -> dict:
    return {k: v for k, v in model.config.items() if not k.startswith(("_", "latents_"))}


def timed(fn, **kw):
    """(wall s, peak RSS MiB of the process during the call, fn's result)."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
    t = time.perf_counter()
    out = fn(**kw)
    dt = time.perf_counter() - t
    status = Path("/proc/self/status").read_text().splitlines()
    return dt, next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) / 1024, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="pipeline folder (default: the bundled model)")
    p.add_argument("--steps", type=int, default=None, help="default: the pipeline's")
    p.add_argument("--guidance", type=float, default=None, help="default: the pipeline's")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--image-size", type=int, default=2048)
    p.add_argument("--skip-image", action="store_true")
    p.add_argument("--wan-tiling", action="store_true", help="tiled VAE decode for Wan's image")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "generate_wan.json"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    pipe = load_pipeline(a.model)
    pipe.set_progress_bar_config(disable=True)
    wan = wan_like(pipe)
    if a.wan_tiling:
        wan.vae.enable_tiling()
    cfg = pipe.config
    steps, guidance = a.steps or cfg.steps, cfg.guidance if a.guidance is None else a.guidance
    text = pipe.text_encoder.encode([PROMPT, ""])  # sizes Wan's embeddings like ours
    embeds = [torch.randn(1, len(t), wan.transformer.config.text_dim) for t in text]
    grid = wan.vae_scale_factor_spatial * max(wan.transformer.config.patch_size[1:])

    def ours(num_frames: int, width: int, height: int, steps: int = steps):
        pipe._text_encoder = pipe.text_encoder.with_cache()  # the prompt is encoded every call
        return pipe(
            PROMPT,
            num_frames=num_frames,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            solver="euler",
            seed=0,
        )

    def theirs(num_frames: int, width: int, height: int, steps: int = steps):
        return wan(
            prompt_embeds=embeds[0],
            negative_prompt_embeds=embeds[1],
            num_frames=num_frames,
            width=math.ceil(width / grid) * grid,
            height=math.ceil(height / grid) * grid,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator().manual_seed(0),
        ).frames

    frames = pipe.resolve_frames(None, a.seconds, cfg.fps)
    size = a.image_size
    rows = {f"clip {a.seconds:g} s": dict(num_frames=frames, width=cfg.width, height=cfg.height)}
    if not a.skip_image:
        rows[f"image {size}x{size}"] = dict(num_frames=1, width=size, height=size)

    ours(num_frames=1, width=grid, height=grid, steps=1)  # warm-up: loads the text encoder
    theirs(1, grid, grid, steps=1)
    runs = {k: {"ours": [], "wan": []} for k in rows}
    for _ in range(a.repeats):
        for name, kw in rows.items():  # alternate so background load hits both alike
            for side, fn in (("ours", ours), ("wan", theirs)):
                runs[name][side].append(timed(fn, **kw)[:2])

    print(
        f"{torch.get_num_threads()} threads, {steps} steps, guidance {guidance:g}; "
        f"DiT {n_params(pipe.transformer) / 1e6:.2f}M vs Wan {n_params(wan.transformer) / 1e6:.2f}M, "
        f"VAE {n_params(pipe.vae) / 1e6:.2f}M vs Wan (base_dim {wan.vae.config.base_dim}) "
        f"{n_params(wan.vae) / 1e6:.2f}M"
    )
    print(
        f"{'request':<18} {'ours s':>8} {'wan s':>8} {'wan/ours':>9} {'clip s':>7} {'ours/clip':>9}"
        f" {'ours MiB':>9} {'wan MiB':>8}"
    )
    results = []
    for name, kw in rows.items():
        o, w = (min(t for t, _ in runs[name][k]) for k in ("ours", "wan"))
        o_rss, w_rss = (max(r for _, r in runs[name][k]) for k in ("ours", "wan"))
        clip = kw["num_frames"] / cfg.fps if kw["num_frames"] > 1 else None
        rtf = o / clip if clip else None
        results.append(
            dict(request=name, **kw, ours_s=o, wan_s=w, wan_over_ours=w / o, clip_s=clip,
                 ours_realtime_factor=rtf, ours_peak_rss_mib=o_rss, wan_peak_rss_mib=w_rss,
                 ours_all_s=[t for t, _ in runs[name]["ours"]],
                 wan_all_s=[t for t, _ in runs[name]["wan"]])
        )  # fmt: skip
        print(
            f"{name:<18} {o:8.2f} {w:8.2f} {w / o:9.2f} "
            + (f"{clip:7.3f} {rtf:9.2f}" if clip else f"{'-':>7} {'-':>9}")
            + f" {o_rss:9.0f} {w_rss:8.0f}"
        )
    rtf = results[0]["ours_realtime_factor"]
    print(f"clip faster than real time: {'yes' if rtf < 1 else 'no'} (target: ours/clip < 1)")

    res = {
        "model": "bundled" if a.model is None else Path(a.model).name,
        "threads": torch.get_num_threads(),
        "steps": steps,
        "guidance": guidance,
        "repeats": a.repeats,
        "native_size": [cfg.width, cfg.height],
        "fps": cfg.fps,
        "params": {
            "ours_dit": n_params(pipe.transformer),
            "ours_vae": n_params(pipe.vae),
            "wan_transformer": n_params(wan.transformer),
            "wan_vae": n_params(wan.vae),
        },
        "wan_transformer_config": config(wan.transformer),
        "wan_vae_config": config(wan.vae),
        "wan_vae_tiling": a.wan_tiling,
        "text_tokens": [len(t) for t in text],
        "rows": results,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=list) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
