"""`generate_clip` and `scene_from_prompt`: a seed or a prompt -> frames, caption, ground truth."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.world.captions import make_caption, parse_prompt
from chronotope.world.render import render
from chronotope.world.scenes import sample_scene
from chronotope.world.spec import SceneSpec
from chronotope.world.vocab import SHAPES, is_heldout

MIN_SIDE, MAX_SIDE = 16, 2048
MAX_FPS = 1000.0
MAX_BYTES = 4 << 30  # frames + the renderer's per-pixel owner map; refused before allocating


@dataclass(frozen=True, kw_only=True)
class ObjectState:
    """One object in one frame, in screen pixels (pixel (i, j) has its center at x=j, y=i).

    `visible`: some pixel shows it (its center inside the shape, nothing drawn over it);
    `visible_fraction`: shown pixels / pixels it would cover unclipped and unoccluded (1.0 =
    whole, so a color-mask centroid equals `center`; the center pixel then has its exact color).
    """

    shape: str
    color: str
    center: tuple[float, float]
    size: float
    visible: bool
    visible_fraction: float

    def to_dict(self) -> dict:
        return {
            "shape": self.shape,
            "color": self.color,
            "center": list(self.center),
            "size": self.size,
            "visible": self.visible,
            "visible_fraction": self.visible_fraction,
        }


@dataclass(frozen=True, kw_only=True)
class FrameState:
    """Ground truth of one frame: its time, the camera offset (pixels) and every object."""

    time: float
    camera: tuple[float, float]
    objects: list[ObjectState] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "time": self.time,
            "camera": list(self.camera),
            "objects": [o.to_dict() for o in self.objects],
        }


@dataclass(kw_only=True)
class WorldClip:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    caption: str
    fps: float
    states: list[FrameState]
    spec: SceneSpec

    def ground_truth(self) -> dict:
        """JSON-serialisable: the spec, the caption and every frame's state."""
        t, h, w, _ = self.frames.shape
        return {
            "caption": self.caption,
            "fps": self.fps,
            "num_frames": t,
            "width": w,
            "height": h,
            "spec": self.spec.to_dict(),
            "frames": [s.to_dict() for s in self.states],
        }


def generate_clip(
    seed: int,
    *,
    width: int = 64,
    height: int = 64,
    num_frames: int = 33,
    fps: float = 8.0,
    family: str | None = None,
    include_heldout: bool = False,
    **overrides: str,
) -> WorldClip:
    """A world clip drawn from `seed`; `overrides` pin items (shape="circle", motion=...)."""
    _check_args(seed, width, height, num_frames, fps)
    scene_seq, caption_seq = np.random.SeedSequence(int(seed)).spawn(2)
    spec = sample_scene(
        np.random.Generator(np.random.PCG64(scene_seq)),
        width=int(width),
        height=int(height),
        family=family,
        include_heldout=bool(include_heldout),
        overrides=overrides,
    )
    caption = make_caption(spec, np.random.Generator(np.random.PCG64(caption_seq)))
    return render_clip(spec, num_frames=int(num_frames), fps=float(fps), caption=caption)


def render_clip(spec: SceneSpec, *, num_frames: int, fps: float, caption: str) -> WorldClip:
    """Frames and per-frame ground truth of `spec` sampled at `fps`."""
    t = np.arange(num_frames, dtype=np.float64) / fps  # frame times, seconds
    centers = spec.to_pixels(spec.screen_positions(t))  # (K, T, 2)
    out = render(spec, t, centers)
    cam = spec.camera_x(t) * spec.scale
    fraction = out.shown / np.maximum(out.whole, 1)
    states = [
        FrameState(
            time=float(t[i]),
            camera=(float(cam[i]), 0.0),
            objects=[
                ObjectState(
                    shape=obj.shape,
                    color=obj.color,
                    center=(float(centers[k, i, 0]), float(centers[k, i, 1])),
                    size=obj.size * spec.scale,
                    visible=bool(out.shown[k, i] > 0),
                    visible_fraction=float(fraction[k, i]),
                )
                for k, obj in enumerate(spec.objects)
            ],
        )
        for i in range(num_frames)
    ]
    return WorldClip(frames=out.frames, caption=caption, fps=fps, states=states, spec=spec)


def _check_args(seed, width, height, num_frames, fps) -> None:
    def is_int(v) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if not is_int(seed) or not 0 <= seed < 2**63:
        raise UsageError(f"seed must be an integer in [0, 2**63), got {seed!r}", param="seed")
    for name, v in (("width", width), ("height", height)):
        if not is_int(v) or not MIN_SIDE <= v <= MAX_SIDE:
            raise UsageError(
                f"{name} must be an integer in [{MIN_SIDE}, {MAX_SIDE}], got {v!r}", param=name
            )
    if not is_int(num_frames) or num_frames < 1:
        raise UsageError(
            f"num_frames must be an integer >= 1, got {num_frames!r}", param="num_frames"
        )
    if not isinstance(fps, numbers.Real) or not (0 < fps <= MAX_FPS) or math.isnan(fps):
        raise UsageError(f"fps must be in (0, {MAX_FPS:g}], got {fps!r}", param="fps")
    per_frame = width * height * 4  # RGB + owner byte
    if num_frames * per_frame > MAX_BYTES:
        raise MemoryBudgetError(
            f"num_frames must be <= {MAX_BYTES // per_frame} at {width}x{height} "
            f"(memory budget {MAX_BYTES >> 30} GiB), got {num_frames}",
            param="num_frames",
        )


def scene_from_prompt(
    text: str,
    *,
    seed: int = 0,
    width: int = 64,
    height: int = 64,
    num_frames: int = 33,
    fps: float = 8.0,
) -> WorldClip:
    """The ground-truth clip of a prompt written in the vocabulary; its caption is the prompt.

    Items the prompt leaves open (a color, the motion) are drawn from `seed`. A prompt naming a
    held-out pair renders it (evaluation asks for those on purpose).
    """
    parsed = parse_prompt(text)
    family = parsed["family"]
    if family is None:
        raise UsageError(
            f"prompt names no object of the world's vocabulary: {text!r}; name a shape "
            f"({', '.join(SHAPES)}) or the player, e.g. 'a red circle moves left'",
            param="prompt",
        )
    if parsed["count"] > 2:
        raise UsageError(f"prompt names {parsed['count']} objects; at most 2", param="prompt")
    overrides: dict[str, str] = {}
    heldout = False
    for suffix, obj in zip(("", "2"), parsed["objects"]):
        if obj["color"] is not None:
            overrides["color" + suffix] = obj["color"]
        if obj["shape"] != "player":
            overrides["shape" + suffix] = obj["shape"]
        if family in ("single", "pair") and obj["motion"] is not None:
            overrides["motion" + suffix] = obj["motion"]
        heldout |= obj["color"] is not None and is_heldout(obj["color"], obj["shape"])
    for item in ("background", "direction", "action"):
        if parsed[item] is not None:
            overrides[item] = parsed[item]
    _check_args(seed, width, height, num_frames, fps)
    scene_seq = np.random.SeedSequence(int(seed)).spawn(2)[0]  # as generate_clip draws scenes
    spec = sample_scene(
        np.random.Generator(np.random.PCG64(scene_seq)),
        width=width,
        height=height,
        family=family,
        include_heldout=heldout,
        overrides=overrides,
    )
    return render_clip(spec, num_frames=num_frames, fps=float(fps), caption=text.strip())
