"""Long videos that do not drift: a minute made as windowed extensions, judged window by window.

Users of every windowed video model report the same failure: colors and contrast creep with each
extension, the subject fades away, and each join shows as a jump. This check makes one long
text-to-video per case (the pipeline's own windowed extension with overlap, `tasks.plans.long`)
and measures, per window of new frames:
- brightness (mean luma), contrast (std of luma within a frame) and saturation (HSV S weighted
  by V), and the last window's drift against the first (last / first - 1);
- the prompted object's presence per frame (a detection of its color at a plausible size), and
  its size (px) per window, a reading beside the floor: a dark scene's brightness and contrast
  move with the size of its one object;
- each join's seam ratio: the step into a window's first frame over the median frame step
  (`tasks.seams.seam_ratio`).

The floor for the bundled model: every figure of the last window within `DRIFT_MAX` of the
first, the object present in `PRESENCE_MIN` of the frames, every join within `JOIN_MAX` of the
median step. Prompts come from the eval's in-distribution set, restricted to a still object,
which stays in view for a minute (in the world a moving object leaves the frame in seconds, which
is physics, not drift); the world's own render of each prompt's scene is measured alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import detect
from chronotope.eval.prompts import PromptCase, prompt_cases
from chronotope.eval.tracks import TrackConfig
from chronotope.tasks.seams import seam_ratio
from chronotope.tasks.sizes import whole_multiple
from chronotope.tasks.windows import tail_len

DRIFT_MAX = 0.05  # |last window / first window - 1| of brightness, contrast and saturation
PRESENCE_MIN = 0.95  # fraction of frames in which the prompted object is found
JOIN_MAX = 2.0  # a join's step over the median frame step
# the motion whose object stays in view for a minute: a moving one leaves the frame in seconds,
# and a bouncing one comes to rest within a window, after which the world's own clip has no
# step at all and the median frame step is 0 (every join then "jumps")
IN_VIEW = ("stays still",)
FIGURES = ("brightness", "contrast", "saturation")
_LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)  # BT.601
_DETECT_CHUNK = 16  # frames per detector call: its color distances grow with frames x palette


def window_spans(num_frames: int, window: int, context: int, ft: int) -> list[tuple[int, int]]:
    """[start, end) of the frames each window of a one-shot long text-to-video adds: the first
    window whole, then each extension's new frames after the `context` frames it keeps (the
    arithmetic of `tasks.plans.long`; a test checks it against the pipeline's own windows)."""
    ctx = context // ft
    first = min(num_frames, window)
    spans, done, kept = [(0, first)], first, first
    while done < num_frames:
        tail = tail_len(kept, ft, ctx)
        new = whole_multiple(min(num_frames - done, window - tail), ft)
        spans.append((done, done + new))
        done, kept = done + new, tail
    return spans


def frame_figures(frames: np.ndarray) -> dict[str, np.ndarray]:
    """(T,) brightness, contrast and saturation in [0, 1] of uint8 frames (T,H,W,3)."""
    x = frames.astype(np.float32) / 255.0
    y = x @ _LUMA  # (T,H,W) luma
    value, chroma = x.max(axis=-1), x.max(axis=-1) - x.min(axis=-1)  # HSV V and V * S
    # HSV S weighted by V: near-black pixels, whose S is their noise, weigh next to nothing
    sat = chroma.sum(axis=(1, 2)) / np.maximum(value.sum(axis=(1, 2)), 1e-6)
    return {"brightness": y.mean(axis=(1, 2)), "contrast": y.std(axis=(1, 2)), "saturation": sat}


def window_figures(frames: np.ndarray, spans: list[tuple[int, int]]) -> dict[str, list[float]]:
    """Each figure's mean over the frames of each window."""
    per_frame = frame_figures(frames)
    return {k: [float(v[a:b].mean()) for a, b in spans] for k, v in per_frame.items()}


def drift(per_window: dict[str, list[float]]) -> dict[str, float]:
    """Last window over first, minus 1, per figure (0 where both are 0, as a gray scene's
    saturation; infinite where only the first is)."""
    return {k: _relative(v[-1], v[0]) for k, v in per_window.items()}


def _nanmedian(x: np.ndarray) -> float:
    """`np.nanmedian`, without its RuntimeWarning where every value is NaN (a window where the
    object is never found: NaN is the answer there, not a fault to warn about)."""
    x = x[~np.isnan(x)]
    return float(np.median(x)) if len(x) else float("nan")


def _relative(last: float, first: float) -> float:
    if first != first or last != last:  # NaN: nothing to compare
        return float("nan")
    if first > 0:
        return float(last / first - 1.0)
    return 0.0 if last == first else float("inf")


def object_areas(frames: np.ndarray, color: str, cfg: TrackConfig | None = None) -> np.ndarray:
    """(T,) px: the largest detection of `color` at a size the world's objects have (the
    counted-track rule of `tracks.plausible`, per frame), NaN where there is none."""
    cfg = cfg or TrackConfig()
    scale = float(min(frames.shape[1:3]))
    lo, hi = cfg.min_area * scale * scale, cfg.max_area * scale * scale
    areas = []
    for t in range(0, len(frames), _DETECT_CHUNK):
        for dets in detect(frames[t : t + _DETECT_CHUNK]):  # largest first
            sizes = [d.area for d in dets if d.color == color and lo <= d.area <= hi]
            areas.append(float(sizes[0]) if sizes else np.nan)
    return np.asarray(areas)


def presence(frames: np.ndarray, color: str) -> np.ndarray:
    """(T,) bool: the prompted object is found in the frame (`object_areas`)."""
    return ~np.isnan(object_areas(frames, color))


def join_ratios(frames: np.ndarray, spans: list[tuple[int, int]]) -> list[float]:
    """The seam ratio at each join (the first frame of every window after the first)."""
    return [seam_ratio(frames, a) for a, _ in spans[1:]]


def measure(frames: np.ndarray, spans: list[tuple[int, int]], color: str) -> dict:
    """Every figure of one long video, and whether it meets the floor (`pass`)."""
    if spans[-1][1] != len(frames):
        raise ValueError(f"the windows cover {spans[-1][1]} frames, the video has {len(frames)}")
    per_window = window_figures(frames, spans)
    d = drift(per_window)
    areas = object_areas(frames, color)
    present = float((~np.isnan(areas)).mean())
    sizes = [_nanmedian(areas[a:b]) for a, b in spans]  # the object's size per window
    joins = join_ratios(frames, spans)
    worst_join = max(joins) if joins else float("nan")
    ok = (
        all(abs(v) <= DRIFT_MAX for v in d.values())  # NaN fails
        and present >= PRESENCE_MIN
        and (not joins or worst_join <= JOIN_MAX)
    )
    return {
        "windows": len(spans),
        **{f"{k}_drift": v for k, v in d.items()},
        "presence": present,
        "object_size_drift": _relative(sizes[-1], sizes[0]),  # a reading, not in the floor
        "join_ratio": worst_join,
        "join_median": float(np.median(joins)) if joins else float("nan"),
        "joins": joins,
        "per_window": {**per_window, "object_size": sizes},
        "pass": bool(ok),
    }


@dataclass(frozen=True)
class LongCase:
    prompt: PromptCase

    @property
    def color(self) -> str:
        return self.prompt.spec.objects[0].color


def long_cases(count: int, *, seed: int, width: int, height: int) -> list[LongCase]:
    """The first `count` in-distribution single-object prompts (`prompts.prompt_cases`) whose
    object stays in view (`IN_VIEW`)."""
    out: list[LongCase] = []
    n = 8
    while len(out) < count:  # a prompt is the same for every n: widen the pool until it holds
        n *= 2
        cases = prompt_cases(n, seed=seed, width=width, height=height)
        out = [
            LongCase(c)
            for c in cases
            if c.set == "in_distribution" and len(c.objects) == 1 and c.objects[0][2] in IN_VIEW
        ][:count]
    return out


def section(r) -> None:
    """The eval's `long_video` section on a `sections.Runner`: `long_video_cases` videos of
    `long_video_seconds`, one sample each; rows per case, metrics over the cases (the worst)."""
    from chronotope.world.clip import render_clip

    cfg = r.cfg
    if not cfg.long_video_cases:
        return
    n = r.frames_for(cfg.long_video_seconds)
    spans = window_spans(n, r.s.window_frames, r.s.context_frames, r.ft)
    rows, truths = [], []
    for case in long_cases(cfg.long_video_cases, seed=cfg.seed, width=r.w, height=r.h):
        text = case.prompt.text
        frames = r.gen(text, num_frames=n)
        got = measure(frames, spans, case.color)
        truth = render_clip(case.prompt.spec, num_frames=n, fps=r.fps, caption=text).frames
        truths.append(measure(truth, spans, case.color))
        rows.append({"prompt": text, **got, "presence.truth": truths[-1]["presence"]})
        r.sample("long_video", text, frames)
    summary = {f"{k}_drift": _worst([abs(row[f"{k}_drift"]) for row in rows]) for k in FIGURES}
    summary.update(
        presence=min(row["presence"] for row in rows),
        object_size_drift=_worst([abs(row["object_size_drift"]) for row in rows]),
        join_ratio=_worst([row["join_ratio"] for row in rows]),
        windows=len(spans),
        **{"presence.truth": min(t["presence"] for t in truths)},
        **{"join_ratio.truth": _worst([t["join_ratio"] for t in truths])},
    )
    summary["pass"] = float(np.mean([row["pass"] for row in rows]))
    r.put("long_video", summary, cases=len(rows))
    r.res.rows["long_video"] = rows  # with each case's joins and per-window figures


def _worst(values: list[float]) -> float:
    """The largest value; NaN (a figure that could not be read) wins."""
    return float("nan") if any(v != v for v in values) else max(values)
