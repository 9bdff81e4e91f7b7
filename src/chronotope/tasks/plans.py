"""The plan of every task: which windows to sample and how their frames join.

A plan runs a `Resolved` request against `sample`, a callable that samples one window and
returns its assembled frames (`pipeline.window.WindowSampler`); tasks/ knows nothing of how.
Frames a plan streams go to `sink` as they are made (memory flat in length); the plan returns
the rest. Adding a task is a function here, a name in `PLANS` and in `request.TASKS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from chronotope.tasks import windows
from chronotope.tasks.request import Resolved
from chronotope.tasks.sizes import padded_length, whole_multiple
from chronotope.tasks.windows import Window

SampleWindow = Callable[[str, Window], np.ndarray]  # (prompt, window) -> the window's output
FrameSink = Callable[[np.ndarray], None]
Plan = Callable[[Resolved, SampleWindow, "FrameSink | None"], np.ndarray]


def one_window(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    """Text-to-video, text-to-image, image-to-video (first and/or last image): one window."""
    window = windows.image_to_video(r.total, r.height, r.width, r.ft, r.image, r.last_image)
    return sample(r.prompts[0], window)


def circle(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    """A text-to-video loop: one window whose latent frames after the first form a circle."""
    return sample(r.prompts[0], windows.loop(r.total, r.height, r.width, r.ft))


def extend_forward(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    return extend(r, sample, r.prompts[0], r.video, r.new, forward=True)


def extend_backward(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    return extend(r, sample, r.prompts[0], r.video, r.new, forward=False)


def connect(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    """A bridge from A's end into B's start, or across a scene change a dissolve."""
    a, b = r.connect
    if r.transition == "dissolve":
        return dissolve(r, sample, a, b)
    ctx = r.tasks.context_frames // r.ft
    return sample(r.prompts[0], windows.connect(a, b, r.new, r.ft, ctx))


def shots(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    """A long video or several shots (one per prompt), window after window."""
    return long(r, sample, r.prompts, r.total, sink, image=r.image, last_image=r.last_image)


def restyle(r: Resolved, sample: SampleWindow, sink: FrameSink | None) -> np.ndarray:
    """SDEdit of the whole clip, windowed like a long video when it is longer than a window:
    each later window pins the last `context` restyled frames and restyles the next source
    frames after them, so the new look carries over and memory stays flat in length."""
    ft, window, ctx = r.ft, r.tasks.window_frames, r.tasks.context_frames // r.ft
    prompt, video, strength = r.prompts[0], r.video, r.strength
    first = min(len(video), window)
    out = [sample(prompt, windows.restyle(video[:first], strength, ft))]
    done, tail = first, out[0]
    while done < len(video):
        tail = tail[len(tail) - windows.tail_len(len(tail), ft, ctx) :]
        part = video[done : done + window - len(tail)]
        made = sample(prompt, windows.restyle(part, strength, ft, context=tail))
        out.append(made)
        done += len(made)
        tail = np.concatenate([tail, made])
    return np.concatenate(out)


PLANS: dict[str, Plan] = {
    "text_to_video": one_window,
    "text_to_image": one_window,
    "image_to_video": one_window,
    "long_video": shots,
    "multi_shot": shots,
    "extend_forward": extend_forward,
    "extend_backward": extend_backward,
    "connect": connect,
    "restyle": restyle,
    "loop": circle,
}


def run_plan(r: Resolved, sample: SampleWindow, sink: FrameSink | None = None) -> np.ndarray:
    """The task's output: its plan, and with `loop` (a given clip, or one longer than a window)
    a bridge from its end back into its start; such a loop streams only after its bridge."""
    closes = r.loop and r.task != "loop"
    out = PLANS[r.task](r, sample, None if closes else sink)
    if closes:
        ctx = r.tasks.context_frames // r.ft
        out = sample(r.prompts[-1], windows.loop_closure(out, r.loop_bridge, r.ft, ctx))
    return out


def extend(
    r: Resolved, sample: SampleWindow, prompt: str, video: np.ndarray, new: int, *, forward: bool
) -> np.ndarray:
    """The clip with `new` frames (any count >= 1) after or before it, made window by window
    when they are more than a window holds; each window is latent-aligned (a multiple of ft
    after the clip, 1 + k*ft before it) and the frames farthest from the clip are dropped."""
    ft, window, ctx = r.ft, r.tasks.window_frames, r.tasks.context_frames
    if forward:
        more = long(r, sample, [prompt], -(-new // ft) * ft, None, clip=video)
        return np.concatenate([video, more[:new]])
    parts, start, made = [], video, 0  # `start`: the earliest frames so far
    while made < new:
        room = window - windows.head_len(len(start), ft, ctx // ft)
        n = min(padded_length(new - made, ft), 1 + (room - 1) // ft * ft)
        part = sample(prompt, windows.extend_backward(start, n, ft, ctx // ft))[:n]
        parts.insert(0, part)
        made += n
        start = np.concatenate([part, start[:ctx]])  # all a later window's head can use
    return np.concatenate([*parts, video])[made - new :]


def dissolve(r: Resolved, sample: SampleWindow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A connect across a scene change: A continued by `new` frames and B led into by as many,
    each made from its own frames alone (no prompt and no guidance: a text naming both scenes
    pulls each side towards the other's), then cross-faded; A + bridge + B."""

    def unguided(prompt: str, window: Window) -> np.ndarray:
        return sample(prompt, dataclasses.replace(window, guided=False))

    after_a = extend(r, unguided, "", a, r.new, forward=True)[len(a) :]
    before_b = extend(r, unguided, "", b, r.new, forward=False)[: r.new]
    return np.concatenate([a, windows.cross_fade(after_a, before_b), b])


def long(
    r: Resolved, sample: SampleWindow, prompts: Sequence[str], per_shot: int,
    sink: FrameSink | None, *, clip: np.ndarray | None = None,
    image: np.ndarray | None = None, last_image: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Windowed extension with overlap: each window pins the last frames of the previous one,
    so memory stays flat in length. A new shot (prompt) starts a fresh window: a cut. With
    `clip`, the first shot continues that clip instead of starting from text; with `image`
    its first window starts on it, and with `last_image` its last window ends on it (one
    shot). Frames go to `sink` as they are made (returned when there is none)."""
    ft, window, ctx = r.ft, r.tasks.window_frames, r.tasks.context_frames // r.ft
    kept: list[np.ndarray] = []
    emit = sink or kept.append
    for shot, prompt in enumerate(prompts):
        if clip is None or shot > 0:
            first = min(per_shot, window)
            if image is not None and shot == 0:
                start = windows.image_to_video(first, r.height, r.width, ft, image, None)
            else:
                start = windows.text_to_video(first, *r.gen_hw, ft)
            clip = sample(prompt, start)
            emit(clip)
            done = len(clip)
        else:
            done = 0
        while done < per_shot:
            tail = windows.tail_len(len(clip), ft, ctx)
            new = whole_multiple(min(per_shot - done, window - tail), ft)
            last = last_image if done + new >= per_shot else None  # the final window
            out = sample(
                prompt, windows.extend_forward(clip[-tail:], new, ft, ctx, last_image=last)
            )
            emit(out[tail:])
            done += new
            clip = out[-tail:]  # only the context is kept
    return np.concatenate(kept) if kept else np.zeros((0, r.height, r.width, 3), np.uint8)
