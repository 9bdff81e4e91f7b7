"""The server's only view of generation: an `Engine` turns a `GenerationRequest` into frames.

The HTTP layer, the job store and the worker never import the model; they call an engine.
`PipelineEngine` adapts `chronotope.pipeline`; tests plug in a deterministic numpy engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Task = Literal["text", "image", "remix", "edit", "extend"]
ProgressCallback = Callable[[int, int], None]  # (step, total); may raise to cancel


@dataclass
class GenerationRequest:
    """One job as the engine sees it. Arrays are uint8 at the edges (DESIGN.md)."""

    task: Task
    prompt: str
    width: int
    height: int
    seconds: float  # the length to generate (for `extend`: the new segment only)
    image: np.ndarray | None = None  # (H,W,3) first frame for image-to-video
    video: np.ndarray | None = None  # (T,H,W,3) source of remix/edit/extend
    video_fps: float | None = None
    source_seconds: float | None = None  # known before `video` is decoded (validation)
    strength: float | None = None  # SDEdit strength for remix/edit
    extend: Literal["forward", "backward"] | None = None
    seed: int | None = None

    @property
    def from_source(self) -> bool:
        """Made from another video (remix, edit, extend): its length follows the source's."""
        return self.task in ("remix", "edit", "extend")

    @property
    def total_seconds(self) -> float:
        """The length of the output: an extension holds the source plus the new segment."""
        if self.task == "extend":
            return (self.source_seconds or 0.0) + self.seconds
        return self.seconds


class Engine(Protocol):
    name: str

    def validate(self, request: GenerationRequest) -> None:
        """Raise `UsageError` (or `MemoryBudgetError`) for a request this engine cannot run."""

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> tuple[np.ndarray, float]:
        """Return (frames uint8 (T,H,W,3), fps); call `progress(step, total)` as it goes."""


class PipelineEngine:
    """`Engine` over `chronotope.pipeline.ChronotopePipeline` (one pipeline, one lock).

    One pipeline object is not safe to call from two threads at once, so `generate` holds a
    lock; `--workers N` above 1 only overlaps encoding and I/O with generation.
    """

    def __init__(self, pipe: Any, *, name: str = "chronotope", steps: int | None = None):
        import threading

        self.pipe = pipe
        self.name = name
        self.steps = steps
        self.fps = float(pipe.config.fps)
        self.default_size = f"{pipe.config.width}x{pipe.config.height}"
        self.size_multiple = int(pipe.fs)  # sizes must be multiples of the VAE's factor
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, model_dir: str | None = None, *, random_weights: bool = False, **kwargs: Any
    ) -> PipelineEngine:
        """The bundled model, a `save_pretrained` folder, or tiny random weights (smoke runs)."""
        if random_weights:
            from chronotope.pipeline import ChronotopePipeline

            return cls(ChronotopePipeline.from_random(seed=0), **kwargs)
        from chronotope.pipeline.loading import load_pipeline

        return cls(load_pipeline(model_dir), **kwargs)

    def _frames(self, seconds: float) -> int:
        return self.pipe.resolve_frames(None, seconds, self.fps)

    def validate(self, request: GenerationRequest) -> None:
        # an extension is sampled window by window: what must fit is the new segment
        frames = self._frames(request.seconds)
        # one sample of each window must fit: the model's seam candidates shrink to what fits
        self.pipe.validate_request(  # a job holds its whole output in memory
            width=request.width, height=request.height, num_frames=frames, kept_frames=frames
        )

    def _at_pipeline_fps(self, request: GenerationRequest) -> np.ndarray:
        """The pipeline takes clips at its own fps: resample an upload by picking frames."""
        video, src_fps = request.video, request.video_fps or self.fps
        if abs(src_fps - self.fps) < 1e-3:
            return video
        n = max(1, round(len(video) * self.fps / src_fps))
        picks = np.minimum((np.arange(n) * src_fps / self.fps).round().astype(int), len(video) - 1)
        return video[picks]

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> tuple[np.ndarray, float]:
        kwargs: dict[str, Any] = dict(
            width=request.width,
            height=request.height,
            seconds=request.seconds,
            fps=self.fps,
            seed=request.seed,
            steps=self.steps,
            callback=progress,
        )
        if request.task == "image":
            kwargs["image"] = request.image
        elif request.task in ("remix", "edit"):  # as long as the source: no seconds
            del kwargs["seconds"]
            kwargs.update(video=self._at_pipeline_fps(request), strength=request.strength)
        elif request.task == "extend":
            kwargs.update(video=self._at_pipeline_fps(request), extend=request.extend or "forward")
        with self._lock, _checked_within(self.pipe, progress) as callback:
            kwargs["callback"] = callback
            out = self.pipe(request.prompt, **kwargs)
        return np.asarray(out.frames, dtype=np.uint8), float(out.fps)


@contextmanager
def _checked_within(pipe: Any, progress: ProgressCallback) -> Iterator[ProgressCallback]:
    """The pipeline's step callback, plus the same check before every transformer block and
    every VAE chunk: a job deleted (or a server stopped) while running stops within one block,
    not one solver step (minutes at 1280x720 on a CPU). `progress` raises to stop; between
    steps it is called again with the last step's numbers (so it reports no new progress)."""
    last = [0, 1]

    def on_step(step: int, total: int) -> None:
        last[:] = [step, total]
        progress(step, total)

    def check(*_: Any) -> None:
        progress(*last)

    modules = [*pipe.transformer.blocks, pipe.vae.encoder, pipe.vae.decoder]
    handles = [m.register_forward_pre_hook(check) for m in modules]
    try:
        yield on_step
    finally:
        for handle in handles:
            handle.remove()
