"""`ChronotopePipeline`: every task through one conditioning mechanism, one sampler, one decoder.

A call runs in stages (`generate`):
  1. resolve the request (`tasks.request`): conditions, size, lengths, seed, sampling settings
  2. check memory and time: refuse what cannot fit the memory budget before allocating (seam
     candidates shrink to fit) and what would take longer than the time budget; tell what the
     call chose (a size) and the prompt's words the model never learned
  3. plan (`tasks.plans`): the task's windows, a canvas of known frames + start noise each
  4. sample each window (`window.py`): encode its canvas, sample with the solver
     (`sampler.py`, guidance packed into the same call), decode, splice the known frames back
  5. write: frames to the sink window by window (long videos), or returned whole

Stages 1-2 are `prepare` (no weight is used: a pipeline loaded without weights prepares the
same call, `load_pipeline(weights=False)`), stages 3-5 `run`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.streaming import TileSpec, auto_tile
from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.flow.guidance import TransformerCall
from chronotope.flow.settings import SamplingSettings, check_keys
from chronotope.model import DiT, TextEncoder
from chronotope.pipeline.lora import LoraMixin
from chronotope.pipeline.memory import MemoryEstimate, check_memory, window_estimate
from chronotope.pipeline.timing import TELL_ABOVE_S, CallCost, TimeEstimate
from chronotope.pipeline.vocabulary import (
    ScaleWarning,
    UnknownWordsWarning,
    issue,
    unknown_words,
    warn_unknown,
)
from chronotope.pipeline.window import CallProgress, WindowSampler
from chronotope.tasks import sizes
from chronotope.tasks.conditions import Condition
from chronotope.tasks.plans import run_plan
from chronotope.tasks.request import GenerationRequest, ModelDefaults, Resolved, resolve
from chronotope.tasks.settings import TaskSettings

FrameSink = Callable[[np.ndarray], None]
TEXT_DEFAULTS = {"encoder_path": None, "max_length": 128, "vocabulary": None}
log = logging.getLogger("chronotope.pipeline")


@dataclass
class GenerationOutput:
    frames: np.ndarray  # (T, H, W, 3) uint8; empty when the frames went to a sink
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)
    # what the call told (a size it chose, words the model never learned): also issued as
    # Python warnings (`vocabulary.ChronotopeWarning`)
    warnings: list[str] = field(default_factory=list)
    estimate: TimeEstimate | None = None  # its time, estimated before it ran


@dataclass(frozen=True, eq=False)
class PreparedCall:
    """A request through stages 1-2 (`ChronotopePipeline.prepare`): resolved, checked against
    the memory and time budgets, its time estimated; `ChronotopePipeline.run` samples it."""

    resolved: Resolved
    defaults: ModelDefaults
    time: TimeEstimate
    time_message: str  # the estimate and the size that would take a tenth of it
    unknown: tuple[str, ...]  # one message per prompt naming words the model never learned
    started: float  # time.perf_counter() when it was prepared

    @property
    def warnings(self) -> list[str]:
        return [*self.resolved.notes, *self.unknown]

    @property
    def long(self) -> bool:
        """Whether it is expected to take long enough to be told before it starts."""
        return self.time.total > TELL_ABOVE_S


class ChronotopePipeline(DiffusionPipeline, LoraMixin):
    """Text/image/video-to-video with a DiT over spacetime patches and a causal VAE; LoRA
    adapters load as in diffusers (`pipeline/lora.py`)."""

    model_cpu_offload_seq = "transformer->vae"

    def __init__(
        self,
        transformer: DiT,
        vae: CausalVAE,
        *,
        width: int = 112,
        height: int = 64,
        fps: float = 8.0,
        seconds: float = 4.0,
        memory_budget_gib: float = 16.0,
        trained_pixels: int | None = None,
        text: Mapping | None = None,
        sampling: SamplingSettings | Mapping | None = None,
        tasks: TaskSettings | Mapping | None = None,
    ):
        """The keyword arguments are the saved config (`model_index.json`): the native size,
        fps and length, the memory budget, the scale it was trained at (`trained_pixels`:
        pixels a frame of its largest training size; None: width x height), the text (`text`:
        `encoder_path`, None for the default MiniLM, the `max_length` in tokens the DiT was
        trained with and its `vocabulary`, the content words of its training captions, None
        where not declared) and the default sampling and task settings."""
        super().__init__()
        self.sampling = _settings(SamplingSettings, sampling)
        self.tasks = _settings(TaskSettings, tasks)
        text = {**TEXT_DEFAULTS, **(text or {})}
        check_keys(TEXT_DEFAULTS, text, "text")
        if trained_pixels is not None and not (
            isinstance(trained_pixels, int) and trained_pixels > 0
        ):
            raise UsageError(f"trained_pixels must be a whole number > 0, got {trained_pixels}")
        words = text["vocabulary"]
        if words is not None and (
            isinstance(words, str) or not all(isinstance(w, str) for w in words)
        ):
            raise UsageError("text vocabulary must be a list of words")
        self._vocabulary = None if words is None else frozenset(words)
        text["vocabulary"] = None if words is None else sorted(self._vocabulary)
        self.register_modules(transformer=transformer, vae=vae)
        self.register_to_config(
            width=width,
            height=height,
            fps=fps,
            seconds=seconds,
            memory_budget_gib=memory_budget_gib,
            trained_pixels=trained_pixels,
            text=text,
            sampling=self.sampling.to_dict(),
            tasks=self.tasks.to_dict(),
        )
        self._text_encoder: TextEncoder | None = None
        # bf16 where fast (utils/precision.py); exact-equality tests turn it off
        self.autocast = True
        # the transformer call of every solver step (None: the transformer itself); a
        # sequence-parallel one under torchrun (`distributed.sampling.parallelize_sampling`)
        self.transformer_call: TransformerCall | None = None
        # seconds a call may be expected to take (`--time-budget`); None: any
        self.time_budget_s: float | None = None

    def configure(
        self, *, sampling: SamplingSettings | None = None, tasks: TaskSettings | None = None
    ) -> None:
        """Replace the default sampling and/or task settings (saved with `save_pretrained`)."""
        if sampling is not None:
            object.__setattr__(self, "sampling", sampling)  # not a config value: its dict is
            self.register_to_config(sampling=sampling.to_dict())
        if tasks is not None:
            object.__setattr__(self, "tasks", tasks)
            self.register_to_config(tasks=tasks.to_dict())

    @classmethod
    def from_random(
        cls, *, seed: int = 0, width: int = 64, depth: int = 2, heads: int = 2, **config
    ):
        """A tiny pipeline with random weights (tiny VAE, small DiT): for tests and servers'
        smoke runs; it generates noise-like videos, but through every real code path.
        `config`: the pipeline's settings, where a sampling or task setting may also be
        given by its own name (`steps=3, window_frames=17`)."""
        torch.manual_seed(seed)
        vae = CausalVAE.from_preset("tiny")
        c = vae.config.latent_channels
        vae.set_latent_stats(torch.zeros(c), torch.ones(c))
        dit = DiT(in_channels=c, patch=(1, 2, 2), width=width, depth=depth, heads=heads)
        # random (not zero) output layers, so the velocity and hence the video depend on the text
        for p in dit.parameters():
            if p.ndim > 0 and not p.abs().sum():
                torch.nn.init.normal_(p, std=0.02)
        pipe = cls(dit.eval(), vae.eval(), **group_settings(config))
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # ---- geometry ----

    @property
    def ft(self) -> int:
        return self.vae.config.temporal_factor

    @property
    def fs(self) -> int:
        return self.vae.config.spatial_factor

    @property
    def grid_multiple(self) -> int:
        """Pixels per transformer token side; sizes are padded up to it internally."""
        return self.fs * max(self.transformer.config.patch[1:])

    @property
    def defaults(self) -> ModelDefaults:
        """What a request resolves against: this model's geometry and defaults."""
        c = self.config
        return ModelDefaults(
            ft=self.ft, fs=self.fs, grid=self.grid_multiple, width=c.width, height=c.height,
            fps=float(c.fps), seconds=c.seconds, sampling=self.sampling, tasks=self.tasks,
            pixels=c.trained_pixels or 0,
        )  # fmt: skip

    # ---- vocabulary ----

    @property
    def vocabulary(self) -> frozenset[str] | None:
        """The content words of the model's training captions (None: not declared)."""
        return self._vocabulary

    def unknown_words(self, prompt: str) -> list[str]:
        """The content words of `prompt` outside `vocabulary` (lowercased, without punctuation,
        numerals or stop words; a plural of a known word is known), in order."""
        return unknown_words(prompt, self._vocabulary)

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            text = self.config.text
            self._text_encoder = TextEncoder(text["encoder_path"], max_length=text["max_length"])
        return self._text_encoder

    def padded(self, h: int, w: int) -> tuple[int, int]:
        return self.defaults.padded(h, w)

    # latent pixels per tile side: 512 px at fs=8. Smaller tiles cost more than they save: with
    # 32-latent tiles a 512x512 frame became 9 overlapping tiles (halo included) and decoded in
    # 8.7 s against 1.4 s untiled; the memory estimate follows the same size.
    TILE_LATENT = 64

    def tile(self, h: int, w: int) -> TileSpec | None:
        return auto_tile(h // self.fs, w // self.fs, TileSpec(size=self.TILE_LATENT, overlap=8))

    def tile_pixels(self) -> int:
        return (self.TILE_LATENT * self.fs) ** 2

    def components_parameters(self):
        yield from self.transformer.parameters()
        yield from self.vae.parameters()

    # ---- memory ----

    def validate_request(
        self,
        *,
        width: int,
        height: int,
        num_frames: int,
        guidance: float | None = None,
        kept_frames: int = 0,
        candidates: int = 1,
    ) -> MemoryEstimate:
        """Raise `UsageError` / `MemoryBudgetError` unless the request can run; returns the
        memory estimate of its largest window plus `kept_frames` output frames held in memory
        (a long call without a `frame_sink` returns all its frames at once), with `candidates`
        samples of a window drawn together (where the call has windows that draw them)."""
        sizes.check_size(width, height, self.fs)
        sizes.check_frames(num_frames, self.ft)
        guidance = self.sampling.guidance if guidance is None else guidance
        estimate = window_estimate(
            self, width=width, height=height, num_frames=num_frames, guided=guidance != 1.0,
            kept_frames=kept_frames, candidates=candidates,
        )  # fmt: skip
        check_memory(estimate, self.config.memory_budget_gib)
        return estimate

    def _fit_in_memory(self, r: Resolved, *, streamed: bool) -> Resolved:
        """Refuse a request whose largest window does not fit the memory budget; the model's
        default seam candidates shrink to as many as fit (at least one: candidates are a choice
        of seams, not a reason to refuse a call that fits once), a count asked for is refused."""
        request = dict(
            width=r.width,
            height=r.height,
            num_frames=r.total,
            guidance=r.sampling.guidance,
            kept_frames=0 if streamed else r.total * len(r.prompts),
        )
        k = r.sampling.candidates
        if not r.draws_candidates:  # every window samples once: the metadata says so
            k = 1
            self.validate_request(**request)
        elif r.candidates_given:
            self.validate_request(**request, candidates=k)
        else:
            while k > 1:
                try:
                    self.validate_request(**request, candidates=k)
                    break
                except MemoryBudgetError:
                    k -= 1
            if k == 1:
                self.validate_request(**request, candidates=1)
        return dataclasses.replace(r, sampling=dataclasses.replace(r.sampling, candidates=k))

    # ---- the call ----

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | Sequence[str],
        *,
        width: int | None = None,
        height: int | None = None,
        num_frames: int | None = None,
        seconds: float | None = None,
        fps: float | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        image: Condition | None = None,
        last_image: Condition | None = None,
        video: Condition | None = None,
        strength: float | None = None,
        extend: str | None = None,
        connect: tuple[Condition, Condition] | None = None,
        loop: bool = False,
        transition: str | None = None,
        shot_seconds: float | None = None,
        solver: str | None = None,
        negative_prompt: str | None = None,
        early_guidance: float | None = None,
        candidates: int | None = None,
        callback: Callable[[int, int], None] | None = None,
        frame_sink: FrameSink | None = None,
    ) -> GenerationOutput:
        """Generate one video (or image: `num_frames=1`) for `prompt`. The keyword arguments
        are the fields of `tasks.request.GenerationRequest` (where each is described; the task
        they name is in its module docstring), but for `generator` (draws the seed when none
        is given), `callback(step, total)` (after each solver step) and `frame_sink`: frames
        are handed to it window by window and not kept (memory flat in length); the returned
        `frames` is then empty. None takes the model's default (`pipe.sampling`, `pipe.tasks`).
        """
        request = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt, image=image, last_image=last_image,
            video=video, extend=extend, strength=strength, connect=connect,
            transition=transition, loop=loop, num_frames=num_frames, seconds=seconds,
            shot_seconds=shot_seconds, fps=fps, width=width, height=height, seed=seed,
            steps=steps, guidance=guidance, solver=solver, early_guidance=early_guidance,
            candidates=candidates,
        )  # fmt: skip
        return self.generate(request, generator=generator, callback=callback, sink=frame_sink)

    @torch.no_grad()
    def generate(
        self,
        request: GenerationRequest,
        *,
        generator: torch.Generator | None = None,
        callback: Callable[[int, int], None] | None = None,
        sink: FrameSink | None = None,
    ) -> GenerationOutput:
        """Run `request` through the stages of the module docstring: `prepare` it, issue its
        warnings (`ScaleWarning`, `UnknownWordsWarning`), log a long call's estimate, `run` it."""
        call = self.prepare(request, generator=generator, streamed=sink is not None)
        issue(call.resolved.notes, ScaleWarning)
        issue(call.unknown, UnknownWordsWarning)
        if call.long:
            log.info(call.time_message)
        return self.run(call, callback=callback, sink=sink)

    def prepare(
        self,
        request: GenerationRequest,
        *,
        generator: torch.Generator | None = None,
        streamed: bool = False,
    ) -> PreparedCall:
        """Stages 1-2: resolve `request`, refuse it (`MemoryBudgetError`, `TimeBudgetError`)
        when it does not fit the memory budget or its estimated time is over `time_budget_s`,
        and name what it will be told. Nothing is sampled and no weight is used; `streamed`:
        its frames will go to a sink (not held in memory)."""
        started = time.perf_counter()
        r = resolve(request, self.defaults, generator)  # 1. resolve
        r = self._fit_in_memory(r, streamed=streamed).fitted()  # 2. check memory and time
        cost = CallCost(self, r)
        estimate = cost.estimate()
        cost.check(estimate, self.time_budget_s)
        message = cost.message(estimate) if estimate.total > TELL_ABOVE_S else str(estimate)
        unknown = tuple(warn_unknown(r.prompts, self._vocabulary))
        return PreparedCall(r, self.defaults, estimate, message, unknown, started)

    def estimate(self, request: GenerationRequest) -> TimeEstimate:
        """The time `request` would take on this machine, without checking it against the
        time budget. With its size given, its conditions count by their length alone: they
        are read at the token grid's smallest size, not scaled to the output's (a server
        estimates an upload's task from a blank stand-in of its length)."""
        if request.seed is None:  # no seed drawn from the global generator for an estimate
            request = dataclasses.replace(request, seed=0)
        width, height = request.width, request.height
        if width is None or height is None:
            r = resolve(request, self.defaults)
        else:
            g = self.grid_multiple
            r = resolve(dataclasses.replace(request, width=g, height=g), self.defaults)
            r = dataclasses.replace(
                r, width=width, height=height, gen_hw=self.padded(height, width)
            )
        r = self._fit_in_memory(r, streamed=False)
        return CallCost(self, r).estimate()

    @torch.no_grad()
    def run(
        self,
        call: PreparedCall,
        *,
        callback: Callable[[int, int], None] | None = None,
        sink: FrameSink | None = None,
    ) -> GenerationOutput:
        """Stages 3-5 of a prepared call (by this pipeline, or by one of the same folder loaded
        without weights): one progress bar over the solver steps of all its windows, and
        `callback(step, total)` with the same counts."""
        if call.defaults != self.defaults:
            raise UsageError("the call was prepared for a model with other settings")
        r = call.resolved
        counted = _CountingSink(sink)
        bar = self.progress_bar(total=call.time.steps)
        progress = CallProgress(bar, windows=call.time.windows, callback=callback)
        try:
            sample_window = WindowSampler(self, r, progress)
            out = run_plan(r, sample_window, counted if sink else None)  # 3.-4. plan, sample
        finally:
            bar.close()
        frames = counted.frames or len(out)
        if sink is not None and not counted.frames:  # 5. write what was not streamed
            sink(out)
            out = out[:0]
        meta = _metadata(r, frames, call.started)
        return GenerationOutput(out, r.fps, meta, warnings=call.warnings, estimate=call.time)


class _CountingSink:
    """A frame sink that counts the frames it passes on."""

    def __init__(self, sink: FrameSink | None):
        self.sink, self.frames = sink, 0

    def __call__(self, frames: np.ndarray) -> None:
        self.sink(frames)
        self.frames += len(frames)


def _metadata(r: Resolved, frames: int, t0: float) -> dict[str, Any]:
    s, new = r.sampling, frames - r.given_frames
    return dict(
        task=r.name,
        prompt=list(r.prompts) if len(r.prompts) > 1 else r.prompts[0],
        negative_prompt=r.negative_prompt,
        width=r.width,
        height=r.height,
        frames=frames,
        fps=r.fps,
        steps=s.steps,
        guidance=s.guidance,
        early_guidance=s.early_guidance,
        candidates=s.candidates,
        transition=r.transition if r.connect is not None else None,
        solver=s.solver,
        seed=r.seed,
        seconds=frames / r.fps,
        new_frames=new,
        new_seconds=new / r.fps,
        wall_seconds=time.perf_counter() - t0,
    )


def _settings(cls, value):
    """`value` as the settings dataclass `cls`: given, from its JSON form, or the defaults."""
    if isinstance(value, cls):
        return value
    return cls() if value is None else cls.from_dict(value)


def group_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Pipeline settings where sampling and task settings may be named on their own
    (`steps=3`): those go into their group (`sampling=...`, `tasks=...`), checked there."""
    config = dict(config)
    for key, cls in (("sampling", SamplingSettings), ("tasks", TaskSettings)):
        names = {f.name for f in dataclasses.fields(cls)} & set(config)
        if names:
            base = _settings(cls, config.get(key))
            config[key] = dataclasses.replace(base, **{n: config.pop(n) for n in names})
    return config
