"""Every Sora task as one sampling window: a canvas of known frames, start noise levels per latent
frame, and a rule that turns the decoded window into the task's output.

text-to-video / image      nothing known; all latent frames start at 1
image-to-video             the image is frame 0 (pinned); `last_image` is held over the last
                           latent chunk (ft frames), so connecting two images is the same window
extend forward             the clip's tail (1 + c*ft frames) pinned at the start of the window;
                           output = clip + new frames
extend backward            the clip's head (c*ft frames) pinned at the end; output = new + clip
connect A -> B             A's tail pinned first, B's head pinned last; output = A + bridge + B
connect across a scene     (A's end and B's start show different scenes) A extended forward and
change                     B backward, each from its own frames alone, cross-faded: a dissolve
restyle (SDEdit)           the source clip is the reference; every latent frame starts at s;
                           a long clip goes window by window, each pinning the last restyled
                           frames of the one before
loop                       text-to-video whose latent frames after the first form a circle
                           (circular denoising, `flow.guidance.circular_model_fn`): output = one
                           period of the circle's frames, whose last leads into its first
                           like any two neighbours (a true wrap, not a fade), starting half a
                           latent frame in so the wrap is a step inside one
loop of a given clip       the clip V, then connect V -> V; output = V + bridge
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chronotope.errors import UsageError
from chronotope.tasks.canvas import Canvas
from chronotope.tasks.sizes import padded_length

Assemble = Callable[[np.ndarray], np.ndarray]


@dataclass
class Window:
    canvas: Canvas
    start: np.ndarray  # (T',) float: 0 pinned, 1 from noise, s SDEdit
    assemble: Assemble  # decoded window (T,H,W,3) with known frames spliced -> task output
    needs_encode: bool  # whether the reference latent must be encoded from the canvas
    circle_from: int | None = None  # latent frames [circle_from:] form a circle (a loop)
    guided: bool = True  # False: sampled without the prompt's guidance (a dissolve's sides)


def _window(canvas: Canvas, assemble: Assemble, strength: float = 1.0) -> Window:
    pinned = canvas.latent_mask()
    start = np.where(pinned, 0.0, strength)
    return Window(canvas, start, assemble, needs_encode=bool(pinned.any() or strength < 1.0))


def text_to_video(num_frames: int, h: int, w: int, ft: int) -> Window:
    return _window(Canvas(num_frames, h, w, ft), lambda out: out)


def image_to_video(
    num_frames: int,
    h: int,
    w: int,
    ft: int,
    image: np.ndarray | None,
    last_image: np.ndarray | None,
) -> Window:
    canvas = Canvas(num_frames, h, w, ft)
    if image is not None:
        canvas.place(image, 0)
    if last_image is not None:
        if num_frames < 1 + ft:
            raise UsageError(f"a last image needs at least {1 + ft} frames", param="frames")
        canvas.place(np.repeat(last_image[None], ft, axis=0), num_frames - ft)
    return _window(canvas, lambda out: out)


def tail_len(n: int, ft: int, context: int) -> int:
    """Longest 1 + c*ft <= n with c <= context."""
    return 1 + ft * min(context, (n - 1) // ft)


def head_len(n: int, ft: int, context: int) -> int:
    """Longest c*ft <= n with 1 <= c <= context (a clip of fewer than ft frames is held)."""
    return ft * max(1, min(context, n // ft))


def _head(clip: np.ndarray, ft: int, context: int) -> np.ndarray:
    n = head_len(len(clip), ft, context)
    if len(clip) >= n:
        return clip[:n]
    return np.concatenate([clip, np.repeat(clip[-1:], n - len(clip), axis=0)])  # hold short clips


def extend_forward(
    clip: np.ndarray,
    new_frames: int,
    ft: int,
    context: int,
    last_image: np.ndarray | None = None,
) -> Window:
    """`new_frames` (a multiple of ft) after the clip, continuing its last 1 + c*ft frames; with
    `last_image`, the new frames end on it (held over the last latent frame, as in
    `image_to_video`)."""
    tail = clip[len(clip) - tail_len(len(clip), ft, context) :]
    canvas = Canvas(len(tail) + new_frames, *clip.shape[1:3], ft).place(tail, 0)
    if last_image is not None:
        if new_frames < ft:
            raise UsageError(f"a last image needs at least {ft} new frames", param="frames")
        canvas.place(np.repeat(last_image[None], ft, axis=0), canvas.num_frames - ft)
    return _window(canvas, lambda out: np.concatenate([clip, out[len(tail) :]]))


def extend_backward(clip: np.ndarray, new_frames: int, ft: int, context: int) -> Window:
    """`new_frames` (1 + k*ft) before the clip, leading into its first c*ft frames."""
    head = _head(clip, ft, context)
    canvas = Canvas(new_frames + len(head), *clip.shape[1:3], ft).place(head, new_frames)
    return _window(canvas, lambda out: np.concatenate([out[:new_frames], clip]))


def connect(a: np.ndarray, b: np.ndarray, bridge_frames: int, ft: int, context: int) -> Window:
    """A bridge of `bridge_frames` (a multiple of ft) from the end of A into the start of B."""
    tail = a[len(a) - tail_len(len(a), ft, context) :]
    head = _head(b, ft, context)
    canvas = Canvas(len(tail) + bridge_frames + len(head), *a.shape[1:3], ft)
    canvas.place(tail, 0).place(head, len(tail) + bridge_frames)
    bridge = slice(len(tail), len(tail) + bridge_frames)
    return _window(canvas, lambda out: np.concatenate([a, out[bridge], b]))


TRANSITIONS = ("auto", "bridge", "dissolve")


def scene_change(a_last: np.ndarray, b_first: np.ndarray) -> float:
    """How far apart two frames' scenes are: the median over pixels of the mean absolute
    difference of their colors, in [0, 1]. Objects moving over one background change few
    pixels (median ~0); another background or shot changes most of them."""
    d = np.abs(a_last.astype(np.float32) - b_first.astype(np.float32)).mean(axis=-1) / 255.0
    return float(np.median(d))


def check_transition(transition: str) -> None:
    if transition not in TRANSITIONS:
        raise UsageError(
            f"transition must be one of {', '.join(TRANSITIONS)}, got {transition!r}",
            param="transition",
        )


def connect_transition(a: np.ndarray, b: np.ndarray, transition: str, above: float) -> str:
    """'bridge' or 'dissolve' for a connect of A into B: `transition` as asked, or with 'auto'
    a dissolve when A's last frame and B's first show different scenes (`scene_change` above
    `above`). The world model keeps one background through a bridge, so across a scene change
    its bridge cuts from one background to the other instead of leading into B."""
    check_transition(transition)
    if transition != "auto":
        return transition
    return "dissolve" if scene_change(a[-1], b[0]) > above else "bridge"


def cross_fade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frames (T,H,W,3) that go from `a` to `b` with an eased weight: frame k is s(u) of b, u =
    k/(T-1) (one frame: u = 1/2), s(u) = 3u^2 - 2u^3 (smoothstep). The first frame is `a`'s and
    the last `b`'s, unmixed, so the seams beside the fade are the two extensions' own seams
    (the clip before into `a`'s first frame, `b`'s last into the clip after: each window's
    candidates were chosen for them), and the fade's rate is zero at both ends, so the blend
    picks up and hands over without a jump in the rate of change. Two-scene connects within the
    eval's 2x seam rule: `benchmarks/eval_seam_candidates.py` (model card)."""
    n = len(a)
    u = np.arange(n, dtype=np.float32) / (n - 1) if n > 1 else np.full(1, 0.5, np.float32)
    w = (u * u * (3 - 2 * u))[:, None, None, None]
    return np.round((1 - w) * a.astype(np.float32) + w * b.astype(np.float32)).astype(np.uint8)


def loop(num_frames: int, h: int, w: int, ft: int) -> Window:
    """A seamless loop made by text-to-video: the latent frames after the first (the causal
    VAE's lone first frame is no part of a period) form a circle; output = their num_frames - 1
    frames, a whole number of latent frames (the decoder runs over the circle twice, so the
    first frames are decoded after the last, as they are played; `pipeline.window` picks the
    phase)."""
    if num_frames < 1 + ft:
        raise UsageError(f"a loop needs at least {1 + ft} frames, got {num_frames}", param="loop")
    window = _window(Canvas(num_frames, h, w, ft), lambda out: out[1:])
    window.circle_from = 1
    return window


def loop_closure(clip: np.ndarray, bridge_frames: int, ft: int, context: int) -> Window:
    """The bridge from the clip's end back into its start; output = clip + bridge (a loop)."""
    window = connect(clip, clip, bridge_frames, ft, context)
    tail = tail_len(len(clip), ft, context)
    bridge = slice(tail, tail + bridge_frames)
    window.assemble = lambda out: np.concatenate([clip, out[bridge]])
    return window


RESTYLE_STRENGTH = 0.6  # the default: the source's layout stays, its look may change


def check_strength(strength: float) -> None:
    if not 0.0 < strength <= 1.0:
        raise UsageError(f"strength must be in (0, 1], got {strength}", param="strength")


def restyle(
    source: np.ndarray, strength: float, ft: int, context: np.ndarray | None = None
) -> Window:
    """SDEdit of `source` at `strength`; output = as many frames as the source.

    A source of any length is held on its last frame up to 1 + k*ft frames and cut back after.
    With `context` (1 + c*ft frames already restyled, the end of the previous window of a long
    restyle), those frames are pinned first and the source follows them: window by window, the
    style carries over and memory stays flat in length.
    """
    check_strength(strength)
    lead = 0 if context is None else len(context)
    n = len(source)
    total = padded_length(lead + n, ft)
    canvas = Canvas(total, *source.shape[1:3], ft, reference=True)
    if context is not None:
        canvas.place(context, 0)
    body = canvas.frames[lead:]
    body[:n] = source  # the reference, not pinned
    body[n:] = source[-1]  # held to the latent grid
    return _window(canvas, lambda out: out[lead : lead + n], strength=strength)
