"""Concepts outside the world's vocabulary: the color pink and the shape bar, to teach a model
with a LoRA adapter (`benchmarks/bench_lora.py`) and to judge whether it learned them.

A concept clip is a world scene (`world.sample_scene`: the world's motions, physics, sizes and
backgrounds) whose one object takes the new color and/or shape, captioned by the world's own
phrasebook (`make_caption`) and drawn by the world's renderer for the background with the
object blended over it exactly as `world.render` blends its objects (coverage = clip(0.5 - signed
distance, 0, 1)). The world generator never draws these; the detector looks for them only when
asked (`DetectConfig(new_concepts=True)`), so no figure of the world's eval moves.

Both were chosen so that the bundled VAE can show them (what it cannot reconstruct no adapter
of the DiT can draw): encoded and decoded, 20 clips of each were still read as their concept,
where a diamond (a square on its corner) came back a circle in 9 of 10 and a magenta-pink
(255, 0, 160) turned purple in 1 of 4 (measured while choosing; `tests/eval` keeps the rest).
- pink (255, 64, 128): >= 127 in RGB from every object color and >= 104 from every background
  and scenery color, the world's own rule (world/vocab.py), so a color mask still separates it;
- bar: a horizontal bar as wide as the world's `size` and 0.4 of it tall (so it reaches no
  farther from its center than the square the scene was sampled for: the world's floor and
  walls still hold it); the detector reads it by its bounding box, over 1.6 times as wide as
  tall, where the world's shapes are 0.75-1.1 after the VAE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from chronotope.world import COLORS, SHAPES, make_caption, sample_scene, shapes
from chronotope.world.render import render
from chronotope.world.spec import SceneSpec

NEW_COLORS: dict[str, tuple[int, int, int]] = {"pink": (255, 64, 128)}
NEW_SHAPES: tuple[str, ...] = ("bar",)
BAR_HEIGHT = 0.4  # of the bar's width, the world's `size`


def signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, size: float) -> np.ndarray:
    """`world.shapes.signed_distance`, and the bar's (exact inside, a bound outside corners, as
    the world's square)."""
    if shape == "bar":
        return np.maximum(np.abs(dx) - 0.5 * size, np.abs(dy) - 0.5 * BAR_HEIGHT * size)
    return shapes.signed_distance(shape, dx, dy, size)


def rgb(color: str) -> tuple[int, int, int]:
    return NEW_COLORS[color] if color in NEW_COLORS else COLORS[color]


@dataclass(frozen=True)
class ConceptClip:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    caption: str
    spec: SceneSpec  # the scene with the concept's color and shape: the prompt's truth


def concept_clip(
    seed: int, *, color: str, shape: str, width: int = 64, height: int = 64,
    num_frames: int = 17, fps: float = 8.0, reserved: bool = False, **pins: str,
) -> ConceptClip:  # fmt: skip
    """A single-object world scene from `seed` in `color` and `shape` (new or the world's),
    with `pins` (motion=..., background=...) as `sample_scene` takes them."""
    if color not in COLORS and color not in NEW_COLORS:
        raise ValueError(f"unknown color {color!r}")
    if shape not in SHAPES and shape not in NEW_SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    scene_seq, caption_seq = np.random.SeedSequence(int(seed)).spawn(2)
    # the world samples a stand-in of its own vocabulary (a square for a bar: the same reach)
    stand_in = {"color": color if color in COLORS else "red", "shape": shape}
    if shape in NEW_SHAPES:
        stand_in["shape"] = "square"
    spec = sample_scene(
        np.random.Generator(np.random.PCG64(scene_seq)), width=width, height=height,
        family="single", include_heldout=True, overrides={**stand_in, **pins},
    )  # fmt: skip
    obj = dataclasses.replace(spec.objects[0], color=color, shape=shape)
    spec = dataclasses.replace(spec, objects=(obj,))
    caption = make_caption(
        spec, np.random.Generator(np.random.PCG64(caption_seq)), reserved=reserved
    )
    return ConceptClip(draw(spec, num_frames=num_frames, fps=fps), caption, spec)


def draw(spec: SceneSpec, *, num_frames: int, fps: float) -> np.ndarray:
    """The frames of a single-object scene: the world's background, then the object blended in
    as `world.render` blends its own (anti-aliased over a one-pixel ramp)."""
    t = np.arange(num_frames, dtype=np.float64) / fps
    empty = dataclasses.replace(spec, objects=())
    frames = render(empty, t, np.zeros((0, num_frames, 2))).frames
    obj = spec.objects[0]
    cx, cy = np.moveaxis(spec.to_pixels(spec.screen_positions(t))[0], -1, 0)  # (T,) each
    ys, xs = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float64)  # pixel centers
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]  # (T, H, W)
    alpha = np.clip(0.5 - signed_distance(obj.shape, dx, dy, obj.size * spec.scale), 0.0, 1.0)
    color = np.asarray(rgb(obj.color), dtype=np.float32)
    under = frames.astype(np.float32)
    out = under + alpha[..., None].astype(np.float32) * (color - under)
    return np.rint(out).astype(np.uint8)
