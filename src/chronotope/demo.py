"""`make demo`: one short video per task with the bundled model, and a page showing them all.

Conditions (images, clips to extend, connect or restyle) are ground-truth clips rendered by the
world, so the page shows what the model did with a known input.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chronotope.data import write_video
from chronotope.world import generate_clip, scene_from_prompt


@dataclass(frozen=True)
class DemoItem:
    name: str
    task: str
    prompt: str
    run: Callable  # (pipe, world_clip_fn) -> GenerationOutput
    ext: str = ".mp4"


def _world(pipe, seed: int, frames: int, **overrides) -> np.ndarray:
    clip = generate_clip(
        seed,
        width=pipe.config.width,
        height=pipe.config.height,
        num_frames=frames,
        fps=pipe.config.fps,
        **overrides,
    )
    return clip.frames


def _wide(pipe) -> tuple[int, int]:
    """(width, height) of a 16:9 frame whose short side is the model's native short side,
    the long side rounded to the pipeline's grid (64 px -> 112x64)."""
    short, grid = min(pipe.config.width, pipe.config.height), pipe.grid_multiple
    return max(grid, round(short * 16 / 9 / grid) * grid), short


ITEMS = [
    DemoItem(
        "text_to_video",
        "text-to-video (16:9)",
        "a red circle moves right",
        lambda p, s: p(
            "a red circle moves right", width=_wide(p)[0], height=_wide(p)[1], seconds=4, seed=s
        ),
    ),
    DemoItem(
        "vertical",
        "text-to-video (9:16)",
        "a yellow triangle falls and bounces",
        lambda p, s: p(
            "a yellow triangle falls and bounces",
            width=_wide(p)[1],
            height=_wide(p)[0],
            seconds=4,
            seed=s,
        ),
    ),
    DemoItem(
        "image",
        "text-to-image",
        "a blue square on a gray background",
        lambda p, s: p("a blue square on a gray background", num_frames=1, seed=s),
        ".png",
    ),
    DemoItem(
        "image_to_video",
        "image-to-video",
        # the image's own caption: a prompt that leaves out its gray background asks for
        # another scene, and the video jumps to it after frame 0
        "a cyan circle moving to the left on a gray background",
        lambda p, s: p(
            "a cyan circle moving to the left on a gray background",
            seconds=4,
            seed=s,
            image=_world(
                p, 12, 1, color="cyan", shape="circle", motion="moves left", family="single"
            )[0],
        ),
    ),
    DemoItem(
        "extend_forward",
        "extend forward (first 2 s given)",
        "a purple square moves up",
        lambda p, s: p(
            "a purple square moves up",
            extend="forward",
            seconds=2,
            seed=s,
            video=_world(p, 12, 17, color="purple", shape="square", motion="moves up"),
        ),
    ),
    DemoItem(
        "extend_backward",
        "extend backward (last 2 s given)",
        "a white circle moves down",
        lambda p, s: p(
            "a white circle moves down",
            extend="backward",
            seconds=2,
            seed=s,
            video=_world(p, 13, 17, color="white", shape="circle", motion="moves down"),
        ),
    ),
    DemoItem(
        "connect",
        # a black scene and a gray one: a dissolve (`transition`), which no prompt steers
        "connect two clips of two scenes (a dissolve)",
        "a red square",
        lambda p, s: p(
            "a red square",
            seed=s,
            connect=(
                _world(p, 14, 9, color="red", shape="square", motion="moves right"),
                _world(p, 15, 9, color="red", shape="square", motion="moves left"),
            ),
        ),
    ),
    DemoItem(
        "loop",
        "seamless loop",
        # a bounce stays in view (a thrown object leaves the frame: a loop of mostly black)
        "an orange circle falls and bounces",
        lambda p, s: p("an orange circle falls and bounces", seconds=3, loop=True, seed=s),
    ),
    DemoItem(
        "restyle",
        "restyle a clip (strength 0.6): red -> yellow",
        # the source's own caption ("a red circle moving right") with the color swapped: a
        # prompt that leaves out the source's background asks for another one as well
        "a yellow circle moving right",
        lambda p, s: p(
            "a yellow circle moving right",
            strength=0.6,
            seed=s,
            video=_world(p, 17, 33, color="red", shape="circle", motion="moves right"),
        ),
    ),
    DemoItem(
        "multi_shot",
        "multi-shot (2 shots)",
        "a red circle moves left | a yellow square falls and bounces",
        lambda p, s: p(
            ["a red circle moves left", "a yellow square falls and bounces"], shot_seconds=2, seed=s
        ),
    ),
]


def run_demo(pipe, out_dir: Path, *, seed: int = 0, items=ITEMS, log=print) -> Path:
    """Generate every item into `out_dir` and write `index.html`; returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, item in enumerate(items):
        t0 = time.perf_counter()
        out = item.run(pipe, seed + i)
        path = write_video(out_dir / f"{item.name}{item.ext}", out.frames, out.fps)
        wall = time.perf_counter() - t0
        h, w = out.frames.shape[1:3]
        rows.append(
            dict(
                name=item.name,
                task=item.task,
                prompt=item.prompt,
                file=path.name,
                frames=len(out.frames),
                size=f"{w}x{h}",
                fps=out.fps,
                seconds=round(wall, 2),
            )
        )
        log(f"{item.task:40s} {path.name:22s} {len(out.frames):4d} frames {w}x{h} in {wall:.1f} s")
    (out_dir / "demo.json").write_text(json.dumps(rows, indent=2))
    page = out_dir / "index.html"
    page.write_text(_page(rows))
    return page


def run_world_demo(out_dir: Path, *, seed: int = 0, log=print) -> Path:
    """Without a bundled model: the world's own ground-truth clips for the demo prompts, so the
    page shows what the training data looks like (and what the model is asked to learn)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, prompt, (w, h)) in enumerate(WORLD_DEMO):
        clip = scene_from_prompt(prompt, seed=seed + i, width=w, height=h, num_frames=33, fps=8.0)
        path = write_video(out_dir / f"{name}.mp4", clip.frames, clip.fps)
        rows.append(
            dict(
                name=name,
                task="world ground truth",
                prompt=prompt,
                file=path.name,
                frames=len(clip.frames),
                size=f"{w}x{h}",
                fps=clip.fps,
                seconds=0,
            )
        )
        log(f"{'world ground truth':40s} {path.name:22s} {len(clip.frames):4d} frames {w}x{h}")
    page = out_dir / "index.html"
    page.write_text(_page(rows))
    return page


WORLD_DEMO = [
    ("world_right", "a red circle moves right", (112, 64)),
    ("world_bounce", "a yellow triangle falls and bounces", (64, 112)),
    ("world_arc", "a blue square is thrown in an arc", (112, 64)),
    ("world_still", "a white circle stays still on a sky background", (64, 64)),
]


def _page(rows: list[dict]) -> str:
    cards = []
    for r in rows:
        media = (
            f'<img src="{html.escape(r["file"])}">'
            if r["file"].endswith(".png")
            else f'<video src="{html.escape(r["file"])}" autoplay loop muted playsinline controls></video>'
        )
        cards.append(
            f"<figure>{media}<figcaption><b>{html.escape(r['task'])}</b><br>"
            f"&ldquo;{html.escape(r['prompt'])}&rdquo;<br><small>{r['frames']} frames, {r['size']}, "
            f"{r['fps']:g} fps, made in {r['seconds']} s</small></figcaption></figure>"
        )
    return (
        "<!doctype html><meta charset=utf-8><title>chronotope demo</title>"
        "<style>body{font-family:sans-serif;background:#111;color:#eee}"
        "main{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;width:300px}"
        "video,img{width:300px;image-rendering:pixelated;background:#000}</style>"
        "<h1>chronotope: every task, one model</h1><main>" + "".join(cards) + "</main>"
    )
