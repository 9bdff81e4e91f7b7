"""The server's only view of generation: an `Engine` turns a `GenerationRequest` into frames.

The HTTP layer, the job store and the worker never import the model; they build the request
(`chronotope.tasks.request`, the same one the library and the CLI build) and call an engine.
`PipelineEngine` adapts `chronotope.pipeline`; tests plug in a deterministic numpy engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from chronotope.tasks.request import GenerationRequest

ProgressCallback = Callable[[int, int], None]  # (step, total); may raise to cancel


class Engine(Protocol):
    name: str
    fps: float  # the frame rate it generates at: a given video is handed over at this rate

    def validate(self, request: GenerationRequest, seconds: float) -> None:
        """Raise `UsageError` (or `MemoryBudgetError`) for a request this engine cannot run;
        `seconds`: the length it generates (a restyle's: its source's, not yet read)."""

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback, model: str | None = None
    ) -> tuple[np.ndarray, float]:
        """Return (frames uint8 (T,H,W,3), fps); call `progress(step, total)` as it goes.
        `model`: the job's model name (a LoRA adapter's, or anything else: the base model)."""


class PipelineEngine:
    """`Engine` over `chronotope.pipeline.ChronotopePipeline` (one pipeline, one lock).

    One pipeline object is not safe to call from two threads at once (the stop checks are hooks
    on its shared modules), so `generate` holds a lock; the server runs one job at a time.
    """

    def __init__(
        self, pipe: Any, *, name: str = "chronotope", steps: int | None = None,
        lora: dict | None = None,
    ):  # fmt: skip
        """`lora`: name -> (adapter path, weight), each loaded now and used by the jobs whose
        `model` names it (`serve --lora NAME=PATH`)."""
        import threading

        from chronotope.pipeline.lora import load_adapters

        self.pipe = pipe
        self.adapters = {n: float(w) for n, (_, w) in (lora or {}).items()}
        load_adapters(pipe, dict(lora or {}))
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

    def validate(self, request: GenerationRequest, seconds: float) -> None:
        from chronotope.tasks.sizes import frames_for_seconds

        # an extension is sampled window by window: what must fit is the new segment
        frames = frames_for_seconds(seconds, self.fps, self.pipe.ft)
        # one sample of each window must fit: the model's seam candidates shrink to what fits
        self.pipe.validate_request(  # a job holds its whole output in memory
            width=request.width, height=request.height, num_frames=frames, kept_frames=frames
        )

    def estimate_seconds(self, request: GenerationRequest, seconds: float) -> float:
        """Seconds `request` would take here (`ChronotopePipeline.estimate`); `seconds` as in
        `validate`. A given video counts by its length, not its pixels: an extension by the
        context its windows pin, a restyle by `seconds` (its source's length)."""
        video = request.video
        if video is not None:
            ctx = self.pipe.tasks.context_frames
            n = ctx if request.extend else max(1, round(seconds * self.fps))
            video = np.zeros((n, 16, 16, 3), np.uint8)  # a blank stand-in: only its length counts
        image = None if request.image is None else np.zeros((16, 16, 3), np.uint8)
        stand_in = dataclasses.replace(
            request, video=video, image=image, fps=self.fps, steps=self.steps
        )
        return self.pipe.estimate(stand_in).total

    def calibrate(self) -> None:
        """Time this machine for the estimates (`pipeline.timing`; cached, seconds once), so
        that the first request is not the one that waits for it."""
        from chronotope.pipeline.timing import calibration

        calibration(self.pipe)

    def choose_size(self, width: int, height: int, name: str) -> tuple[int, int, str | None]:
        """The output size for an input (`name`: image, video) of `width` x `height` when the
        request gives none, by the library's rule (`tasks.sizes.condition_size`): its own on
        the VAE's grid, or the model's scale at its aspect ratio with the line that says so."""
        from chronotope.tasks import sizes

        d = self.pipe.defaults
        fit = sizes.condition_size(width, height, multiple=d.fs, grid=d.grid, pixels=d.scale)
        if fit is None:
            return d.width, d.height, None
        w, h, scaled = fit
        note = sizes.scale_message(name, (width, height), (w, h), d.scale) if scaled else None
        return w, h, note

    def prompt_warnings(self, prompt: str) -> list[str]:
        """The line naming the prompt's words the model never learned, if any."""
        from chronotope.pipeline.vocabulary import warn_unknown

        return warn_unknown([prompt], self.pipe.vocabulary)

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback, model: str | None = None
    ) -> tuple[np.ndarray, float]:
        request = dataclasses.replace(request, fps=self.fps, steps=self.steps)
        with self._lock, _checked_within(self.pipe, progress) as callback:
            self._use_adapter(model)
            # prepared and run, not `generate`: what it tells is on the video object
            # (`submit.py`), not Python warnings in the server's log
            out = self.pipe.run(self.pipe.prepare(request), callback=callback)
        return np.asarray(out.frames, dtype=np.uint8), float(out.fps)

    def _use_adapter(self, model: str | None) -> None:
        """The job's adapter alone at its weight, or none (the base model, bit for bit)."""
        if not self.adapters:
            return
        if model in self.adapters:
            self.pipe.enable_lora()
            self.pipe.set_adapters([model], [self.adapters[model]])
        else:
            self.pipe.disable_lora()


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
