"""Teach the bundled model a color and a shape it never saw with a LoRA adapter (issue 40).

    .venv/bin/python benchmarks/bench_lora.py all --out runs/bench-lora   # the four phases:
    .venv/bin/python benchmarks/bench_lora.py render --out runs/bench-lora   # 1. the clips
    .venv/bin/python benchmarks/bench_lora.py train --out runs/bench-lora    # 2. the adapter
    .venv/bin/python benchmarks/bench_lora.py judge --out runs/bench-lora    # 3. what it learned
    .venv/bin/python benchmarks/bench_lora.py time --out runs/bench-lora     # 4. what it costs

1. `render`: at most 200 captioned clips as a user brings them (OUT/clips: `clip.mp4` +
   `clip.txt`): world scenes in the new color pink and the new shape bar
   (`eval/concepts.py`: the world's motions, backgrounds, physics and phrasings; the world
   generator never draws them); `--world-share` adds the world's own clips among them
   (rehearsal by data, default none: the trainer's `--preserve` keeps the base vocabulary).
2. `train`: `chronotope train --init bundled --lora RANK --data OUT/clips --minutes M` as a user
   runs it (its clock includes reading and encoding the clips), on both cores (`--ranks 2`).
3. `judge`: prompts that name the new concepts, written from scenes of eval seeds no training
   clip used, generated with the adapter and read by the eval's detectors extended to them
   (`DetectConfig(new_concepts=True)`): pink named -> a pink object, bar named -> a bar;
   and the base vocabulary: the eval's in-distribution prompts with and without the adapter at
   the same sampling seeds, scored by the eval's own detectors (`eval.adherence.score_video`).
4. `time`: training tokens/s with the adapter against full fine-tuning (the same command and
   data, `--steps` each), generation time with no adapter, the adapter loaded, and it fused; the
   adapter file's size against the DiT's.

Prints a table and writes OUT/bench_lora.json (every phase adds its part).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# the new concepts and the world's vocabulary they are shown with
NEW_COLOR, NEW_SHAPE = "pink", "bar"
SIZES = ((64, 64), (112, 64), (64, 112))  # the bundled model's training sizes (W, H)
FPS = 8.0
TRAIN_SEED, JUDGE_SEED = 7_000_000, 8_000_000  # concept clips and judge prompts never meet


def _cpu() -> dict:
    flags = ""
    with contextlib.suppress(OSError, StopIteration):
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "flags" in line
        )
    return {
        "machine": platform.processor() or platform.machine(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": "amx_tile" in flags,
        "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def _update(out: Path, part: str, values: dict) -> None:
    path = out / "bench_lora.json"
    data = json.loads(path.read_text()) if path.exists() else {"cpu": _cpu()}
    data[part] = values
    path.write_text(json.dumps(data, indent=2))


# ---------------------------------------------------------------- 1. render


def clip_plan(n: int, world_share: float) -> list[tuple[str, str | None, str | None]]:
    """(kind, color, shape) of each clip: the new color on the world's shapes, the new shape in
    the world's colors, both together, and world clips (kind "world")."""
    from chronotope.world import COLORS, SHAPES

    n_world = round(n * world_share)
    n_both = round((n - n_world) * 0.15)
    n_color = (n - n_world - n_both) // 2
    n_shape = n - n_world - n_both - n_color
    colors, shapes = list(COLORS), list(SHAPES)
    plan = [("concept", NEW_COLOR, shapes[i % len(shapes)]) for i in range(n_color)]
    plan += [("concept", colors[i % len(colors)], NEW_SHAPE) for i in range(n_shape)]
    plan += [("concept", NEW_COLOR, NEW_SHAPE)] * n_both
    plan += [("world", None, None)] * n_world
    return plan


def render(args: argparse.Namespace) -> None:
    from chronotope.data.video_io import write_video
    from chronotope.eval.concepts import concept_clip
    from chronotope.world import MOTIONS, generate_clip

    folder = Path(args.out) / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    plan = clip_plan(args.clips, args.world_share)
    rng = np.random.default_rng(TRAIN_SEED)
    for i, (kind, color, shape) in enumerate(plan):
        w, h = SIZES[i % len(SIZES)]
        frames = 1 + 4 * round(rng.uniform(*args.seconds) * FPS / 4)
        seed = TRAIN_SEED + i
        if kind == "world":
            clip = generate_clip(seed, width=w, height=h, num_frames=frames, fps=FPS)
        else:
            motion = MOTIONS[i % len(MOTIONS)]
            clip = concept_clip(
                seed, color=color, shape=shape, width=w, height=h, num_frames=frames, fps=FPS,
                motion=motion,
            )  # fmt: skip
        write_video(folder / f"clip{i:03d}.mp4", clip.frames, FPS)
        (folder / f"clip{i:03d}.txt").write_text(clip.caption + "\n")
    kinds = {k: sum(p[0] == k for p in plan) for k in ("concept", "world")}
    print(f"rendered {len(plan)} clips into {folder}: {kinds}")
    _update(Path(args.out), "render", {"clips": len(plan), **kinds})


# ---------------------------------------------------------------- 2. train


def train_command(args: argparse.Namespace, out: Path, *, lora: int, minutes=None, steps=None):
    cmd = [sys.executable, "-m", "chronotope.cli.main", "train", "--init", "bundled"]
    cmd += ["--data", str(Path(args.out) / "clips"), "--out", str(out), "--no-progress"]
    cmd += ["--ranks", str(args.ranks)]
    if args.lr is not None:
        cmd += ["--lr", f"{args.lr:g}"]
    if lora:
        cmd += ["--lora", str(lora)]
        if args.preserve is not None:
            cmd += ["--preserve", f"{args.preserve:g}"]
    if minutes is not None:
        cmd += ["--minutes", f"{minutes:g}"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    return cmd


def train(args: argparse.Namespace) -> None:
    out = Path(args.out) / "run"
    cmd = train_command(args, out, lora=args.rank, minutes=args.minutes)
    print(" ".join(cmd))
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    seconds = time.monotonic() - t0
    info = json.loads((out / "final" / "training.json").read_text())
    print(f"adapter in {out / 'final'}: {info['step']} steps in {seconds / 60:.1f} min")
    _update(
        Path(args.out), "train",
        {"command": " ".join(cmd[1:]), "minutes": seconds / 60, "steps": info["step"]},
    )  # fmt: skip


# ---------------------------------------------------------------- 3. judge


def concept_cases(n: int) -> tuple[list, list]:
    """`n` prompts naming the new color and `n` naming the new shape (each with the world's
    other words), from scenes of judge seeds: (PromptCase, which concept it names)."""
    from chronotope.eval.concepts import concept_clip
    from chronotope.eval.prompts import PromptCase
    from chronotope.world import COLORS, MOTIONS, SHAPES

    colors, shapes = [c for c in COLORS], [*SHAPES, NEW_SHAPE]
    pink = [(NEW_COLOR, shapes[i % len(shapes)]) for i in range(n)]
    bar = [(colors[i % len(colors)] if i % 4 else NEW_COLOR, NEW_SHAPE) for i in range(n)]
    out = []
    for i, (color, shape) in enumerate(pink + bar):
        clip = concept_clip(
            JUDGE_SEED + i, color=color, shape=shape, num_frames=1, motion=MOTIONS[i % 7]
        )
        out.append(PromptCase("new", clip.caption, clip.spec))
    return out[:n], out[n:]


def _generate(pipe, prompt: str, seed: int, steps: int | None = None) -> np.ndarray:
    """One sample: 2 s at the native size, one candidate, the model's guidance, `steps` solver
    steps (None: the model's own, as `chronotope generate` draws it; the quick eval uses 16)."""
    return pipe(prompt, num_frames=17, steps=steps, candidates=1, seed=seed).frames


class _Scores:
    """Every judged case's scores, one JSON line each in a file, so a killed judge resumes
    where it stopped (a case is a pure function of the model, the prompt and its seed)."""

    def __init__(self, path: Path):
        self.path = path
        lines = path.read_text().splitlines() if path.exists() else []
        self.done = {tuple(r["key"]): r["score"] for r in map(json.loads, lines)}

    def score(self, key: tuple, run) -> dict:
        if key not in self.done:
            self.done[key] = run()
            with open(self.path, "a") as f:
                f.write(json.dumps({"key": list(key), "score": self.done[key]}) + "\n")
            print(f"{len(self.done)} {key} {self.done[key]}", flush=True)
        return self.done[key]


def _judge_model(pipe, model: str, cases, pink, bar, fps: float, scores: _Scores, steps) -> dict:
    """The eval's adherence on the in-distribution prompts and the new-concept rates of `model`
    (the pipeline as it stands: "base" or an adapter's name), sampled with `steps`."""
    from chronotope.eval.adherence import score_video, summarize
    from chronotope.eval.detect import DetectConfig, detect

    def world(i, c):
        return score_video(c, _generate(pipe, c.text, JUDGE_SEED + i, steps), fps)

    def concept(i, c):
        frames = _generate(pipe, c.text, JUDGE_SEED + 10_000 + i, steps)
        dets = detect(frames, DetectConfig(new_concepts=True))
        return {**score_video(c, frames, fps, dets), **appears(dets)}

    tag = f"steps={steps or 'model'}"  # a case is a pure function of this too
    judged = [
        scores.score((model, "world", c.text, i, tag), functools.partial(world, i, c))
        for i, c in enumerate(cases)
    ]
    out = {k: v for k, v in summarize(cases, judged).items() if k.count(".") == 1}
    for name, group, attribute in (("pink", pink, "color"), ("bar", bar, "shape")):
        rows = [
            scores.score((model, name, c.text, i, tag), functools.partial(concept, i, c))
            for i, c in enumerate(group)
        ]
        out[f"new.{name}"] = float(np.mean([r[attribute] for r in rows]))
        out[f"appears.{name}"] = float(np.mean([r[f"{name}_appears"] for r in rows]))
    return out


def appears(dets) -> dict[str, bool]:
    """Whether the new concepts appear, as the issue words it, read from every frame's
    detections: pink is the color with the most detected pixels, bar the shape with the most
    (of the frames where a shape was read). Looser than the eval's adherence (`new.*`), which
    also needs the object tracked as one counted object through the clip (it fails where an
    object breaks up in a bounce, whatever its color and shape)."""
    from chronotope.eval.adherence import dominant_color

    shapes: dict[str, int] = {}
    for frame in dets:
        for d in frame:
            if d.shape != "none":
                shapes[d.shape] = shapes.get(d.shape, 0) + d.area
    return {
        "pink_appears": dominant_color(dets) == NEW_COLOR,
        "bar_appears": bool(shapes) and max(shapes, key=shapes.get) == NEW_SHAPE,
    }


def _judge_setup(args: argparse.Namespace):
    import torch

    from chronotope.eval.prompts import prompt_cases
    from chronotope.pipeline.loading import load_pipeline

    torch.set_num_threads(args.threads)
    cases = [c for c in prompt_cases(args.prompts, seed=0) if c.set == "in_distribution"]
    pink, bar = concept_cases(args.concept_prompts)
    pipe = load_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe, cases, pink, bar, float(pipe.config.fps)


def _base_scores(args: argparse.Namespace) -> _Scores:
    """The base model's cases are the same for every adapter: kept beside `--base-from`'s."""
    return _Scores(Path(args.base_from or args.out) / "judge_base.jsonl")


def base(args: argparse.Namespace) -> None:
    """The base model alone on the judge's prompts (what `judge` compares the adapter with)."""
    pipe, cases, pink, bar, fps = _judge_setup(args)
    few = args.concept_prompts // 3  # as `judge` asks it
    print(
        _judge_model(
            pipe, "base", cases, pink[:few], bar[:few], fps, _base_scores(args), args.steps
        )
    )


def world_loss(pipe, clips: int = 48) -> float:
    """The flow loss of the pipeline's DiT (as it stands: with or without an adapter) on world
    clips of eval seeds, one packed batch with fixed noise, noise levels and task masks: the
    same inputs for every model, so it measures what an adapter changed in the base vocabulary
    without the sampling noise of a prompt's pass or fail."""
    import torch

    from chronotope.data.video_io import to_tensor
    from chronotope.flow import flow_loss
    from chronotope.tokens import num_tokens
    from chronotope.training.batches import Item, make_batch
    from chronotope.training.config import get_preset
    from chronotope.training.latents import LatentCodec
    from chronotope.world import generate_clip
    from chronotope.world.seeds import eval_seed

    codec, cfg = LatentCodec(pipe.vae), get_preset("world-tiny").override(caption_dropout=0.0)
    items = []
    for i in range(clips):
        w, h = SIZES[i % len(SIZES)]
        clip = generate_clip(eval_seed(0, 50_000 + i), width=w, height=h, num_frames=17)
        z = codec.encode(to_tensor(clip.frames))
        items.append(Item(z, clip.caption, num_tokens(z.shape, tuple(cfg.patch)), 0))
    g = torch.Generator().manual_seed(0)
    batch = make_batch(items, cfg=cfg, encode_text=pipe.text_encoder.encode, generator=g)
    p = batch.packed
    with torch.no_grad():
        pred = pipe.transformer(p.tokens, p.sigma, p.positions, p.segments, p.text, p.text_segments)
    return float(flow_loss(pred, batch.target, batch.weight, p.segments)[0])


def judge(args: argparse.Namespace) -> None:
    pipe, cases, pink, bar, fps = _judge_setup(args)
    t0 = time.monotonic()
    # the base model's new-concept rates on a few prompts only: it never saw them (0 expected)
    few = args.concept_prompts // 3
    base = _judge_model(
        pipe, "base", cases, pink[:few], bar[:few], fps, _base_scores(args), args.steps
    )
    pipe.load_lora_weights(Path(args.out) / "run", adapter_name="concepts")
    mine = _Scores(Path(args.out) / "judge_adapter.jsonl")
    lora = _judge_model(pipe, "adapter", cases, pink, bar, fps, mine, args.steps)
    lora["world_loss"] = world_loss(pipe)
    pipe.set_adapters(["concepts"], [0.0])  # weight 0: the base model exactly
    base["world_loss"] = world_loss(pipe)
    rows = sorted(set(base) | set(lora))
    print(f"{'':32s} {'base':>6s} {'adapter':>8s}")
    for k in rows:
        print(f"{k:32s} {base.get(k, float('nan')):6.3f} {lora.get(k, float('nan')):8.3f}")
    drift = {
        a: lora[f"in_distribution.{a}"] - base[f"in_distribution.{a}"]
        for a in ("color", "shape", "motion", "count")
    }
    verdict = {
        "new_concepts_at_least_0.8": min(lora["new.pink"], lora["new.bar"]) >= 0.8,
        "new_concepts_appear_at_least_0.8": min(lora["appears.pink"], lora["appears.bar"]) >= 0.8,
        "base_within_0.05": all(abs(drift[a]) <= 0.05 for a in ("color", "shape", "motion")),
    }
    print(f"drift (adapter - base): {drift}; {verdict}")
    _update(
        Path(args.out), "judge",
        {"base": base, "adapter": lora, "drift": drift, "verdict": verdict,
         "prompts": len(cases), "concept_prompts": args.concept_prompts, "steps": args.steps,
         "minutes": (time.monotonic() - t0) / 60},
    )  # fmt: skip


# ---------------------------------------------------------------- 4. time


def _train_rate(args: argparse.Namespace, name: str, lora: int) -> float:
    """Median tokens/s of the logged windows (the first, warm-up, dropped) of a --steps run;
    the clips' latents come from the adapter run's cache (encoding is not timed)."""
    import shutil

    out = Path(args.out) / f"time-{name}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(Path(args.out) / "run" / "latents", out / "latents")
    cmd = train_command(args, out, lora=lora, steps=args.time_steps)
    cmd += ["--log-every", "5", "--checkpoint-every", "100000"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    lines = (out / "log.csv").read_text().splitlines()
    header = lines[0].split(",")
    rates = [float(row.split(",")[header.index("tokens_per_s")]) for row in lines[2:]]
    return float(np.median(rates))


def _gen_seconds(pipe, n: int) -> float:
    times = []
    for i in range(n + 1):  # the first call warms up
        t = time.perf_counter()
        _generate(pipe, "a pink bar moves left", seed=i)
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:]))


def timing(args: argparse.Namespace) -> None:
    import torch

    from chronotope.pipeline.loading import load_pipeline
    from chronotope.pipeline.lora import adapter_file
    from chronotope.utils.paths import BUNDLED_MODEL_DIR

    rates = {"lora": _train_rate(args, "lora", args.rank), "full": _train_rate(args, "full", 0)}
    torch.set_num_threads(args.threads)
    pipe = load_pipeline()
    pipe.set_progress_bar_config(disable=True)
    gen = {"none": _gen_seconds(pipe, args.time_gens)}
    pipe.load_lora_weights(Path(args.out) / "run", adapter_name="concepts")
    gen["loaded"] = _gen_seconds(pipe, args.time_gens)
    pipe.fuse_lora()
    gen["fused"] = _gen_seconds(pipe, args.time_gens)
    adapter = adapter_file(Path(args.out) / "run").stat().st_size
    dit = (BUNDLED_MODEL_DIR / "transformer" / "diffusion_pytorch_model.safetensors").stat()
    sizes = {"adapter_bytes": adapter, "dit_bytes": dit.st_size, "ratio": adapter / dit.st_size}
    print(f"training tokens/s: adapter {rates['lora']:.0f}, full fine-tuning {rates['full']:.0f}")
    print(f"generation s (17 frames 64x64, the model's steps, one candidate): {gen}")
    print(f"adapter {adapter / 1e6:.2f} MB = {sizes['ratio']:.1%} of the DiT's file")
    _update(Path(args.out), "time", {"train_tokens_per_s": rates, "generate_s": gen, **sizes})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phase", choices=["render", "train", "base", "judge", "time", "all"])
    p.add_argument("--out", default="runs/bench-lora")
    p.add_argument("--clips", type=int, default=200, help="clips rendered (at most 200)")
    p.add_argument(
        "--world-share", type=float, default=0.0,
        help="share of world clips among the user's (rehearsal by data; --preserve does it)",
    )  # fmt: skip
    p.add_argument(
        "--seconds", type=lambda t: tuple(float(v) for v in t.split(",")), default=(1.0, 2.0),
        metavar="LO,HI", help="clip lengths (short clips: more of them in each step)",
    )  # fmt: skip
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, help="default: the lora preset's")
    p.add_argument("--preserve", type=float, help="train --preserve (default: the preset's)")
    p.add_argument(
        "--minutes",
        type=float,
        default=14.0,
        help="training budget (the command's clock: encoding, training, the final save within 15)",
    )
    p.add_argument("--ranks", type=int, default=2, help="training processes (one per core)")
    p.add_argument("--prompts", type=int, default=144, help="eval prompts per set (judge)")
    p.add_argument("--concept-prompts", type=int, default=20, help="per new concept (judge)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of judge and time")
    p.add_argument("--steps", type=int, help="judge's solver steps (default: the model's own)")
    p.add_argument("--base-from", help="another OUT whose base figures (same prompts) to reuse")
    p.add_argument("--time-steps", type=int, default=25, help="steps of each timed training")
    p.add_argument("--time-gens", type=int, default=5, help="timed generations per mode")
    args = p.parse_args()
    phases = {"render": render, "train": train, "base": base, "judge": judge, "time": timing}
    for name in phases if args.phase == "all" else [args.phase]:
        phases[name](args)


if __name__ == "__main__":
    main()
