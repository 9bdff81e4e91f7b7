"""`ChronotopePipeline`: every task through one conditioning mechanism, one sampler, one decoder.

Stages of a call:
  1. resolve the request (size, frames, task) and refuse what cannot fit, before allocating
  2. plan sampling windows (`tasks.py`): canvas of known frames + start noise per latent frame
  3. encode each window's canvas (only where something is known) and its prompt
  4. sample all latents with the solver (`sampler.py`), guidance packed into the same call
  5. decode chunk by chunk (tiled for large frames), splice the known frames back bit-exactly,
     and assemble the task's output; long videos stream window after window to a frame sink
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.streaming import TileSpec, auto_tile
from chronotope.data import fit_frames, to_tensor
from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.model import DiT, TextEncoder
from chronotope.pipeline import request as rq
from chronotope.pipeline import tasks
from chronotope.pipeline.conditions import Condition, as_clip, as_image, as_pair
from chronotope.pipeline.sampler import Job, sample_jobs
from chronotope.tasks.canvas import latent_frames
from chronotope.tasks.seams import moving_seams, seam_discontinuity, wrap_discontinuity
from chronotope.utils.precision import autocast

# candidate i of a window samples with seed + i * this (far from the windows' own seed + index)
CANDIDATE_SEED_STRIDE = 1_000_003

FrameSink = Callable[[np.ndarray], None]


@dataclass
class GenerationOutput:
    frames: np.ndarray  # (T, H, W, 3) uint8; empty when the frames went to a sink
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)


class ChronotopePipeline(DiffusionPipeline):
    """Text/image/video-to-video with a DiT over spacetime patches and a causal VAE."""

    model_cpu_offload_seq = "transformer->vae"

    def __init__(
        self,
        transformer: DiT,
        vae: CausalVAE,
        *,
        text_encoder_path: str | None = None,
        width: int = 112,
        height: int = 64,
        fps: float = 8.0,
        seconds: float = 4.0,
        steps: int = 24,
        guidance: float = 4.0,
        solver: str = "euler",
        window_frames: int = 65,
        context_frames: int = 9,
        bridge_seconds: float = 2.0,
        memory_budget_gib: float = 16.0,
        shift: dict | None = None,
        text_max_length: int = 128,
        seam_feather: int = 8,
        bridge_start: float = 0.6,
        early_guidance: float = 1.0,
        early_sigma: float = 0.7,
        early_rescale: float = 0.5,
        restyle_guidance: float | None = None,
        dissolve_above: float = 0.05,
        seam_candidates: int = 1,
    ):
        super().__init__()
        rq.check_numbers(candidates=seam_candidates)
        if not 0.0 < bridge_start <= 1.0:
            raise UsageError(f"bridge_start must be in (0, 1], got {bridge_start}")
        rq.check_numbers(early_guidance=early_guidance)
        if restyle_guidance is not None:
            rq.check_numbers(guidance=restyle_guidance)
        if not 0.0 <= dissolve_above <= 1.0:
            raise UsageError(f"dissolve_above must be in [0, 1], got {dissolve_above}")
        if not 0.0 <= early_sigma <= 1.0:
            raise UsageError(f"early_sigma must be in [0, 1], got {early_sigma}")
        if not 0.0 <= early_rescale <= 1.0:
            raise UsageError(f"early_rescale must be in [0, 1], got {early_rescale}")
        self.register_modules(transformer=transformer, vae=vae)
        self.register_to_config(
            text_encoder_path=text_encoder_path,
            width=width,
            height=height,
            fps=fps,
            seconds=seconds,
            steps=steps,
            guidance=guidance,
            solver=solver,
            window_frames=window_frames,
            context_frames=context_frames,
            bridge_seconds=bridge_seconds,
            memory_budget_gib=memory_budget_gib,
            shift=shift,
            text_max_length=text_max_length,
            seam_feather=seam_feather,
            bridge_start=bridge_start,
            early_guidance=early_guidance,
            early_sigma=early_sigma,
            early_rescale=early_rescale,
            restyle_guidance=restyle_guidance,
            dissolve_above=dissolve_above,
            seam_candidates=seam_candidates,
        )
        self._text_encoder: TextEncoder | None = None
        self.autocast = (
            True  # bf16 where fast (utils/precision.py); exact-equality tests turn it off
        )

    @classmethod
    def from_random(
        cls, *, seed: int = 0, width: int = 64, depth: int = 2, heads: int = 2, **config
    ):
        """A tiny pipeline with random weights (tiny VAE, small DiT): for tests and servers'
        smoke runs; it generates noise-like videos, but through every real code path."""
        torch.manual_seed(seed)
        vae = CausalVAE.from_preset("tiny")
        c = vae.config.latent_channels
        vae.set_latent_stats(torch.zeros(c), torch.ones(c))
        dit = DiT(in_channels=c, patch=(1, 2, 2), width=width, depth=depth, heads=heads)
        # random (not zero) output layers, so the velocity and hence the video depend on the text
        for p in dit.parameters():
            if p.ndim > 0 and not p.abs().sum():
                torch.nn.init.normal_(p, std=0.02)
        pipe = cls(dit.eval(), vae.eval(), **config)
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
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            self._text_encoder = TextEncoder(
                self.config.text_encoder_path, max_length=self.config.text_max_length
            )
        return self._text_encoder

    def _padded(self, h: int, w: int) -> tuple[int, int]:
        m = self.grid_multiple
        return math.ceil(h / m) * m, math.ceil(w / m) * m

    # ---- 1. request validation ----

    def validate_request(
        self,
        *,
        width: int,
        height: int,
        num_frames: int,
        guidance: float | None = None,
        kept_frames: int = 0,
        candidates: int = 1,
    ) -> rq.MemoryEstimate:
        """Raise `UsageError` / `MemoryBudgetError` unless the request can run; returns the
        memory estimate of its largest window plus `kept_frames` output frames held in memory
        (a long call without a `frame_sink` returns all its frames at once), with `candidates`
        samples of a window drawn together (where the call has windows that draw them)."""
        rq.check_size(width, height, self.fs)
        rq.check_frames(num_frames, self.ft)
        window = min(num_frames, self.config.window_frames)
        h, w = self._padded(height, width)
        p = self.transformer.config.patch
        tokens = (
            latent_frames(window, self.ft) // p[0] * (h // self.fs // p[1]) * (w // self.fs // p[2])
        ) * int(candidates)
        cfg = self.transformer.config
        estimate = rq.estimate_memory(
            tokens=tokens,
            width=cfg.width,
            mlp_ratio=cfg.mlp_ratio,
            heads=cfg.heads,
            weight_bytes=sum(p.numel() * p.element_size() for p in self.components_parameters()),
            guidance=(guidance if guidance is not None else self.config.guidance) != 1.0,
            tile_pixels=min(h * w, self._tile_pixels()),
            vae_channels=max(self.vae.config.channel_mults) * self.vae.config.base_channels,
            frames_in_memory=3 * window
            if num_frames > self.config.window_frames
            else num_frames + window,
            height_px=h,
            width_px=w,
            kept_frames=kept_frames,
        )
        rq.check_memory(estimate, self.config.memory_budget_gib)
        return estimate

    def _candidates_that_fit(self, request: dict, most: int) -> int:
        """The largest number of candidates up to `most` whose estimate fits the budget; with
        none, the one-sample estimate's refusal (candidates are a choice of seams, not a reason
        to refuse a call that fits once)."""
        for k in range(most, 1, -1):
            try:
                self.validate_request(**request, candidates=k)
                return k
            except MemoryBudgetError:
                continue
        self.validate_request(**request, candidates=1)
        return 1

    def components_parameters(self):
        yield from self.transformer.parameters()
        yield from self.vae.parameters()

    # latent pixels per tile side: 512 px at fs=8. Smaller tiles cost more than they save: with
    # 32-latent tiles a 512x512 frame became 9 overlapping tiles (halo included) and decoded in
    # 8.7 s against 1.4 s untiled; the memory estimate follows the same size.
    TILE_LATENT = 64

    def _tile(self, h: int, w: int) -> TileSpec | None:
        return auto_tile(h // self.fs, w // self.fs, TileSpec(size=self.TILE_LATENT, overlap=8))

    def _tile_pixels(self) -> int:
        return (self.TILE_LATENT * self.fs) ** 2

    def resolve_frames(self, num_frames: int | None, seconds: float | None, fps: float) -> int:
        if num_frames is not None and seconds is not None:
            raise UsageError("give frames or seconds, not both", param="frames")
        if num_frames is not None:
            rq.check_frames(num_frames, self.ft)
            return num_frames
        return rq.frames_for_seconds(
            self.config.seconds if seconds is None else seconds, fps, self.ft
        )

    # ---- 2-5. the call ----

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
        """Generate one video (or image: `num_frames=1`) for `prompt`; see the module docstring.

        `video`, `image`, `last_image` and the two `connect` clips are uint8 arrays ((T,)H,W,3)
        at the call's fps, float arrays in [0, 1], PIL images (a clip: a list of them), tensors
        laid out like the arrays, or file paths (read at the call's fps; see `conditions.py`).
        With `frame_sink`, frames are handed over window by window and not kept (memory flat in
        length); the returned `frames` is then empty. `negative_prompt` takes the place of the
        empty prompt in classifier-free guidance: the video is steered away from it.
        `early_guidance` (default: the model's) multiplies the guidance strength (g - 1) of the
        noisiest steps, sigma above the model's `early_sigma`, where the motion is decided.
        A restyle without `guidance` uses the model's `restyle_guidance` where it has one.
        `transition` of a connect: "bridge" (new frames pinned between A's end and B's start),
        "dissolve" (A continued and B led into, each from its own frames, cross-faded; the
        prompt does not steer it) or "auto" (the default): a dissolve where A's end and B's
        start show different scenes (`tasks.scene_change` above the model's `dissolve_above`).
        `candidates` (default: the model's `seam_candidates`): a window where given frames in
        motion meet generated ones (an extension, a connect, a long video's later windows; not
        an image-to-video: one given frame sets no pace) or a loop's circle is sampled that
        many times in one packed solver run, with seeds seed + i * CANDIDATE_SEED_STRIDE, and
        the sample whose seams look most like its other frame steps is kept
        (`tasks.seams.seam_discontinuity`). It costs that many times the sampling and decoding
        of such windows; 1 samples once.
        """
        t0 = time.perf_counter()
        cfg = self.config
        rq.check_numbers(
            steps=steps,
            fps=fps,
            seconds=seconds,
            shot_seconds=shot_seconds,
            guidance=guidance,
            seed=seed,
            early_guidance=early_guidance,
            candidates=candidates,
        )
        candidates_given = candidates is not None
        candidates = int(cfg.seam_candidates if candidates is None else candidates)
        fps = float(cfg.fps if fps is None else fps)
        steps = int(cfg.steps if steps is None else steps)
        guidance_given = guidance is not None
        guidance = float(cfg.guidance if guidance is None else guidance)
        early_guidance = float(cfg.early_guidance if early_guidance is None else early_guidance)
        solver = solver or cfg.solver
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts or any(not isinstance(p, str) for p in prompts):
            raise UsageError("prompt must be a string or a list of strings", param="prompt")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise UsageError("negative_prompt must be a string", param="negative_prompt")
        self.check_task(prompts, image, last_image, video, strength, extend, connect, loop,
                         num_frames, seconds, transition)  # fmt: skip
        # conditions as uint8 frames: arrays, PIL images, tensors, or paths read at `fps`
        image = as_image(image, fps=fps, name="image")
        last_image = as_image(last_image, fps=fps, name="last_image")
        video = as_clip(video, fps=fps, name="video")
        connect = as_pair(connect, fps=fps, name="connect")
        # default size: the conditions' own, rounded down to the VAE's grid (they are resized);
        # a condition too small or too large for any output size gives the model's own
        ref = [
            v and max(self.fs, v - v % self.fs)
            for v in self._reference_size(image, last_image, video, connect)
        ]
        if any(v is not None and not rq.MIN_SIDE <= v <= rq.MAX_SIDE for v in ref):
            ref = [None, None]
        width = width if width is not None else ref[0] or cfg.width
        height = height if height is not None else ref[1] or cfg.height
        restyling = video is not None and extend is None
        extending = video is not None and extend is not None
        if extending or connect is not None:  # frames are the new part, beside given clips
            if extending:
                new = self._new_frames(num_frames, seconds, fps, self._default_new(fps))
            else:
                new = self._bridge_frames(num_frames, seconds, fps)
            total = tasks.padded_length(new, self.ft)  # the largest window's new part
        elif self._loop_period(loop, image, last_image, num_frames):
            total = num_frames + 1  # the causal first frame, then a circle of num_frames
        else:
            total = self._shot_frames(num_frames, seconds, fps, len(prompts), shot_seconds)
        if restyling:  # the output is as long as the source
            strength = tasks.RESTYLE_STRENGTH if strength is None else strength
            tasks.check_strength(strength)
            total = tasks.padded_length(len(video), self.ft)
            if not guidance_given and cfg.restyle_guidance is not None:
                # a restyle starts part way down the noise levels: the prompt has fewer steps
                # to act in, and the model's own default for it guides harder
                guidance = float(cfg.restyle_guidance)
        rq.check_length(total * len(prompts), fps)
        request = dict(
            width=width,
            height=height,
            num_frames=total,
            guidance=guidance,
            kept_frames=0 if frame_sink is not None else total * len(prompts),
        )
        # windows that may draw candidates: beside given frames (an extension, a connect, a
        # restyle's later windows, a loop's circle or bridge) or after a first window (a long
        # video); a text-to-video or image-to-video of one window samples once
        drawn = (
            extending or connect is not None or restyling or loop
            or len(prompts) > 1 or total > cfg.window_frames
        )  # fmt: skip
        if not drawn:  # every window samples once: the metadata says so
            candidates = 1
            self.validate_request(**request)
        elif candidates_given:
            self.validate_request(**request, candidates=candidates)
        else:  # the model's default: as many candidates as fit the budget, at least one
            candidates = self._candidates_that_fit(request, candidates)
        image, last_image, video, connect = (
            self._fit(x, height, width) for x in (image, last_image, video, connect)
        )
        run = _Run(
            self,
            steps=steps,
            guidance=guidance,
            solver=solver,
            seed=seed,
            callback=callback,
            height=height,
            width=width,
            negative=negative_prompt or "",
            early_guidance=early_guidance,
            candidates=candidates,
        )
        ctx = cfg.context_frames
        if extending:
            task = f"extend-{extend}"
            out = run.extend(prompts[0], video, extend, new, ctx)
        elif restyling:
            task = "restyle"
            out = run.restyle(prompts[0], video, strength, ctx)
        elif connect is not None:
            task = "connect"
            transition = tasks.connect_transition(
                *connect, transition or "auto", cfg.dissolve_above
            )
            if transition == "dissolve":
                out = run.dissolve(*connect, new, ctx)
            else:
                out = run.one(prompts[0], tasks.connect(*connect, new, self.ft, ctx // self.ft))
        elif len(prompts) > 1 or total > cfg.window_frames:
            task = "multi-shot" if len(prompts) > 1 else "long"
            # a loop's bridge back needs the whole clip: it is streamed after the bridge
            sink = None if loop else frame_sink
            out = run.long(prompts, total, ctx, sink, image=image, last_image=last_image)
        elif loop and image is None and last_image is None:
            task = "loop"  # one window whose frames form a circle: a true wrap
            out = run.one(prompts[0], tasks.loop(total, height, width, self.ft))
        else:
            task = (
                "image"
                if total == 1
                else (
                    "image-to-video"
                    if image is not None or last_image is not None
                    else "text-to-video"
                )
            )
            out = run.one(
                prompts[0], tasks.image_to_video(total, height, width, self.ft, image, last_image)
            )
        if loop and task != "loop":  # a given clip, or one longer than a window: a bridge back
            task += "+loop"
            out = run.one(
                prompts[-1],
                tasks.loop_closure(out, self._mult(self._bridge(fps)), self.ft, ctx // self.ft),
            )
        # frames of the output that are given clips kept as they are (extension's source,
        # connect's two clips); the rest were generated
        given = len(video) if task.startswith("extend") else 0
        given += sum(len(c) for c in connect) if task.startswith("connect") else 0
        streamed = frame_sink is not None and task in ("long", "multi-shot")
        frames = run.frames_out if streamed else len(out)
        if frame_sink is not None and not streamed:
            frame_sink(out)
            out = out[:0]
        meta = dict(
            task=task,
            prompt=prompts if len(prompts) > 1 else prompts[0],
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            frames=frames,
            fps=fps,
            steps=steps,
            guidance=guidance,
            early_guidance=early_guidance,
            candidates=candidates,
            transition=transition if connect is not None else None,
            solver=solver,
            seed=seed,
            seconds=frames / fps,
            new_frames=frames - given,
            new_seconds=(frames - given) / fps,
            wall_seconds=time.perf_counter() - t0,
        )
        return GenerationOutput(frames=out, fps=fps, metadata=meta)

    # ---- helpers of the call ----

    @staticmethod
    def check_task(prompts, image, last_image, video, strength, extend, connect, loop,
                   num_frames, seconds, transition=None) -> None:  # fmt: skip
        """Refuse arguments the chosen task would not use: none is ever silently ignored (the
        CLI runs this before it loads a model: only whether each argument is given matters)."""
        if transition is not None:
            tasks.check_transition(transition)
            if connect is None:
                raise UsageError(
                    "transition is how a connect joins its clips: give connect", param="transition"
                )
        images = [n for n, v in (("image", image), ("last_image", last_image)) if v is not None]
        if video is not None and connect is not None:
            raise UsageError("give video or connect, not both", param="connect")
        if (video is not None or connect is not None) and images:
            given = "video" if video is not None else "connect"
            raise UsageError(f"{images[0]} does not combine with {given}", param=images[0])
        if strength is not None and (video is None or extend is not None):
            raise UsageError(
                "strength restyles a video: give video and no extend", param="strength"
            )
        if extend is not None and video is None:
            raise UsageError("extend continues a video: give video", param="extend")
        if video is not None and extend is None and (num_frames is not None or seconds is not None):
            raise UsageError(
                "a restyle is as long as its video: give no frames or seconds",
                param="frames" if num_frames is not None else "seconds",
            )
        if len(prompts) > 1:
            given = images + [
                n for n, v in (("video", video), ("connect", connect)) if v is not None
            ]
            given += ["loop"] if loop else []
            if given:
                raise UsageError(
                    f"several prompts (a multi-shot video) do not combine with {given[0]}",
                    param=given[0],
                )
        if loop and num_frames == 1:
            raise UsageError("loop makes a video: it does not combine with one frame", param="loop")

    def _loop_period(self, loop, image, last_image, num_frames) -> bool:
        """Whether `num_frames` asks for a text-to-video loop of exactly that many frames: a
        whole number of latent frames (a multiple of ft). A count 1 + k*ft keeps its meaning
        (a period of k*ft frames after the causal first frame); any other is refused, naming
        the nearest periods."""
        if not loop or image is not None or last_image is not None:
            return False
        if not isinstance(num_frames, numbers.Integral) or isinstance(num_frames, bool):
            return False  # None (seconds) or not a whole number: the usual checks answer
        ft = self.ft
        if num_frames >= ft and num_frames % ft == 0:
            return True
        if num_frames > 1 and (num_frames - 1) % ft:
            lo = max(ft, num_frames // ft * ft)
            raise UsageError(
                f"a loop's frames are a multiple of {ft} (the period) or 1 + k*{ft} (a period of "
                f"k*{ft}); nearest valid period: {lo} or {lo + ft}, got {num_frames}",
                param="frames",
            )
        return False

    def _mult(self, n: int) -> int:
        return max(self.ft, n // self.ft * self.ft)

    def _bridge(self, fps: float) -> int:
        return self._mult(round(self.config.bridge_seconds * fps))

    def _default_new(self, fps: float) -> int:
        return rq.frames_for_seconds(self.config.seconds, fps, self.ft)

    @staticmethod
    def _new_frames(num_frames, seconds, fps: float, default: int) -> int:
        """How many frames to make beside given clips (an extension): exactly `num_frames`, or
        `seconds` at `fps`, any count >= 1 (the sampler makes the next latent-aligned length and
        the frames farthest from the clip are dropped); `default` when neither is given."""
        if num_frames is not None and seconds is not None:
            raise UsageError("give frames or seconds, not both", param="frames")
        if num_frames is not None:
            whole = isinstance(num_frames, numbers.Integral) or (
                isinstance(num_frames, numbers.Real) and float(num_frames).is_integer()
            )
            if isinstance(num_frames, bool) or not whole or num_frames < 1:
                raise UsageError(
                    f"frames must be a whole number >= 1, got {num_frames}", param="frames"
                )
            return int(num_frames)
        if seconds is not None:
            return rq.frames_for_seconds(seconds, fps, 1)  # any count: ft=1
        return default

    def _bridge_frames(self, num_frames, seconds, fps: float) -> int:
        """Frames of connect's bridge: B's first frames must start a latent frame, so the bridge
        is a multiple of ft; another count is refused with the nearest valid ones."""
        n = self._new_frames(num_frames, seconds, fps, self._bridge(fps))
        if n % self.ft == 0:
            return n
        if num_frames is None:  # seconds: the nearest whole number of latent frames to them
            return self._mult(round(seconds * fps / self.ft) * self.ft)
        lo = n // self.ft * self.ft
        near = f"{lo} or {lo + self.ft}" if lo else str(self.ft)
        raise UsageError(
            f"a connect bridge is a multiple of {self.ft} frames (B starts a latent frame); "
            f"nearest valid: {near}, got {num_frames}",
            param="frames",
        )

    def _shot_frames(self, num_frames, seconds, fps, shots: int, shot_seconds) -> int:
        """Frames per shot (the whole video when there is one prompt)."""
        if shot_seconds is not None:
            if shot_seconds <= 0:
                raise UsageError(
                    f"shot seconds must be > 0, got {shot_seconds}", param="shot_seconds"
                )
            return rq.frames_for_seconds(shot_seconds, fps, self.ft)
        total = self.resolve_frames(num_frames, seconds, fps)
        return total if shots == 1 else rq.snap_frames(max(1, total // shots), self.ft)

    @staticmethod
    def _reference_size(image, last_image, video, connect) -> tuple[int | None, int | None]:
        for x in (image, last_image, video, None if connect is None else connect[0]):
            if x is not None:
                return int(x.shape[-2]), int(x.shape[-3])
        return None, None

    @staticmethod
    def _fit(x, height: int, width: int):
        """Conditions ((T,)H,W,3 uint8, or a pair of them) at the output size: scaled to cover
        it with their aspect ratio kept, then center-cropped (as the server does)."""
        if x is None:
            return None
        if isinstance(x, tuple):
            return tuple(ChronotopePipeline._fit(v, height, width) for v in x)
        return fit_frames(x, width, height)


class _Run:
    """One call's settings, shared by its windows (each window gets seed + its index)."""

    def __init__(
        self, pipe: ChronotopePipeline, *, steps, guidance, solver, seed, callback, height, width,
        negative: str = "", early_guidance: float = 1.0, candidates: int = 1,
    ):  # fmt: skip
        self.pipe, self.steps, self.guidance, self.solver = pipe, steps, guidance, solver
        self.early_guidance, self.candidates = early_guidance, candidates
        self.negative = negative  # the prompt guidance steers away from ("": unconditional)
        self.seed, self.callback, self.height, self.width = seed, callback, height, width
        self.gen_hw = pipe._padded(height, width)
        self.windows = 0
        self.frames_out = 0

    def _pad(self, x: np.ndarray) -> np.ndarray:
        """Edge-pad frames (..., H, W, 3) up to the transformer's grid."""
        h, w = self.gen_hw
        pads = [(0, 0)] * (x.ndim - 3) + [(0, h - x.shape[-3]), (0, w - x.shape[-2]), (0, 0)]
        return np.pad(x, pads, mode="edge") if h != x.shape[-3] or w != x.shape[-2] else x

    def one(self, prompt: str, window: tasks.Window) -> np.ndarray:
        """Sample, decode, splice and assemble one window; returns frames at the output size."""
        pipe = self.pipe
        canvas = window.canvas
        if canvas.height != self.gen_hw[0] or canvas.width != self.gen_hw[1]:
            canvas = _pad_canvas(canvas, self._pad)
        z_ref = self._encode(canvas) if window.needs_encode else self._zeros(canvas)
        text = pipe.text_encoder.encode([prompt, self.negative])
        start = window.start
        if pipe.config.bridge_start < 1.0:
            # a bridge between pinned frames (connect, loop, first+last image) starts from its
            # cross-faded canvas, noised to `bridge_start`, not from pure noise
            bridged = canvas.bridged_latents() & (start == 1.0)
            start = np.where(bridged, pipe.config.bridge_start, start)
        # a window with a seam whose given side moves (a clip beside generated frames) or a
        # loop's circle may draw several samples and keep the one whose seams look most like
        # its other steps; candidate 0 is the window's own seed, so one is the plain call
        looped = window.circle_from is not None
        seams = moving_seams(canvas.frames, canvas.known) if self.candidates > 1 else []
        k = self.candidates if looped or seams else 1
        seed = self.seed + self.windows
        jobs = [
            Job(
                z_ref=z_ref,
                start=torch.from_numpy(start),
                text=text[0],
                seed=seed + i * CANDIDATE_SEED_STRIDE,
                circle_from=window.circle_from,
            )
            for i in range(k)
        ]
        self.windows += 1
        bar = pipe.progress_bar(total=self.steps)

        def progress(i: int, n: int) -> None:
            bar.update(1)
            if self.callback is not None:
                self.callback(i, n)

        zs = sample_jobs(
            pipe.transformer,
            jobs,
            uncond_text=text[1],
            steps=self.steps,
            guidance=self.guidance,
            solver=self.solver,
            autocast=pipe.autocast,
            callback=progress,
            shift=pipe.config.shift,
            early_guidance=self.early_guidance,
            early_sigma=pipe.config.early_sigma,
            early_rescale=pipe.config.early_rescale,
        )
        bar.close()
        best, best_score = None, float("inf")
        for z in zs:
            decoded = self._decode(z, circle_from=window.circle_from)
            # given frames go back bit-exactly; the decoder's error beside them fades over
            # `seam_feather` frames instead of jumping at the seam (Canvas.splice)
            decoded = canvas.splice(decoded, feather=pipe.config.seam_feather)
            decoded = decoded[:, : self.height, : self.width]
            score = (
                self._seam_score(decoded, canvas.known, seams, window.circle_from) if k > 1 else 0
            )
            if score < best_score:
                best, best_score = decoded, score
        decoded = best
        canvas_out = window.canvas  # unpadded canvas: known frames at the output size
        if canvas_out is not canvas:
            decoded = canvas_out.splice(decoded)
        return window.assemble(decoded)

    def _seam_score(self, frames, known, seams: list[int], circle_from: int | None) -> float:
        """How far a window's worst seam is from an ordinary step (0: as smooth as the rest):
        its `seams` between known and generated frames, and a loop's wrap (the circle's frames,
        after the causal head, played around)."""
        score = seam_discontinuity(frames, known, seams)
        if circle_from is not None:
            head = 1 + (circle_from - 1) * self.pipe.ft  # the pixel frames before the circle
            score = max(score, wrap_discontinuity(frames[head:]))
        return score

    def _encode(self, canvas) -> torch.Tensor:
        vae = self.pipe.vae
        video = to_tensor(canvas.filled())[None]  # (1, 3, T, H, W) in [-1, 1]
        with autocast(enabled=self.pipe.autocast):
            mean, _ = vae.encode_chunked(video, tile=self.pipe._tile(*self.gen_hw))
        return vae.normalize(mean.float())[0]  # (C, T', H', W')

    def _zeros(self, canvas) -> torch.Tensor:
        vae = self.pipe.vae
        t, h, w = vae.latent_size(canvas.num_frames, canvas.height, canvas.width)
        return torch.zeros(vae.config.latent_channels, t, h, w)

    def _decode(self, z: torch.Tensor, circle_from: int | None = None) -> np.ndarray:
        """Latent (C,T',H',W') -> frames (T,H,W,3). With a circle (a loop), the causal decoder
        runs over the circle twice (and on into its first latent frame) and the period's frames
        come from the second pass, decoded after the circle's end: the wrap gets the context it
        is played with. The period starts ft // 2 frames into a latent frame, so the wrap is a
        step inside one (any phase of a circle is the same loop; generated frames step harder
        across latent frames than inside one, `benchmarks/eval_latent_boundaries.py`)."""
        vae = self.pipe.vae
        if circle_from is not None:
            if circle_from < 1:  # latent frame 0 decodes to one frame, the others to ft
                raise UsageError(
                    f"a decoded circle starts at latent frame 1 or later, got {circle_from}"
                )
            circle = z[:, circle_from:]
            z = torch.cat([z, circle, circle[:, :1]], dim=1)
        z = vae.denormalize(z[None].float())
        chunks = []
        with autocast(enabled=self.pipe.autocast):
            for part in vae.decode_iter(z, tile=self.pipe._tile(*self.gen_hw)):
                chunks.append(_to_uint8(part[0]))
        frames = np.concatenate(chunks)
        if circle_from is None:
            return frames
        ft = self.pipe.ft
        head = 1 + (circle_from - 1) * ft  # frames before it
        period = circle.shape[1] * ft
        start = head + period + ft // 2  # in the second pass, half a latent frame in
        return np.concatenate([frames[:head], frames[start : start + period]])

    def extend(
        self, prompt: str, video: np.ndarray, direction: str, new: int, ctx: int
    ) -> np.ndarray:
        """The clip with `new` frames (any count >= 1) after or before it, made window by window
        when they are more than a window holds; each window is latent-aligned (a multiple of ft
        after the clip, 1 + k*ft before it) and the frames farthest from the clip are dropped."""
        ft, window = self.pipe.ft, self.pipe.config.window_frames
        if direction == "forward":
            more = self.long([prompt], -(-new // ft) * ft, ctx, None, clip=video)
            return np.concatenate([video, more[:new]])
        if direction != "backward":
            raise UsageError(
                f"extend must be 'forward' or 'backward', got {direction!r}", param="extend"
            )
        parts, start, made = [], video, 0  # `start`: the earliest frames so far
        while made < new:
            room = window - tasks.head_len(len(start), ft, ctx // ft)
            n = min(tasks.padded_length(new - made, ft), 1 + (room - 1) // ft * ft)
            part = self.one(prompt, tasks.extend_backward(start, n, ft, ctx // ft))[:n]
            parts.insert(0, part)
            made += n
            start = np.concatenate([part, start[:ctx]])  # all a later window's head can use
        return np.concatenate([*parts, video])[made - new :]

    def dissolve(self, a: np.ndarray, b: np.ndarray, new: int, ctx: int) -> np.ndarray:
        """A connect across a scene change: A continued by `new` frames and B led into by as
        many, each made from its own frames alone (no prompt and no guidance: a text naming
        both scenes pulls each side towards the other's), then cross-faded; A + bridge + B."""
        kept = self.guidance, self.early_guidance
        self.guidance, self.early_guidance = 1.0, 1.0
        try:
            after_a = self.extend("", a, "forward", new, ctx)[len(a) :]
            before_b = self.extend("", b, "backward", new, ctx)[:new]
        finally:
            self.guidance, self.early_guidance = kept
        return np.concatenate([a, tasks.cross_fade(after_a, before_b), b])

    def restyle(self, prompt: str, video: np.ndarray, strength: float, ctx: int) -> np.ndarray:
        """SDEdit of the whole clip, windowed like a long video when it is longer than a window:
        each later window pins the last `ctx` restyled frames and restyles the next source frames
        after them, so the new look carries over and memory stays flat in length."""
        ft, window = self.pipe.ft, self.pipe.config.window_frames
        first = min(len(video), window)
        out = [self.one(prompt, tasks.restyle(video[:first], strength, ft))]
        done, tail = first, out[0]
        while done < len(video):
            tail = tail[len(tail) - tasks.tail_len(len(tail), ft, ctx // ft) :]
            part = video[done : done + window - len(tail)]
            made = self.one(prompt, tasks.restyle(part, strength, ft, context=tail))
            out.append(made)
            done += len(made)
            tail = np.concatenate([tail, made])
        return np.concatenate(out)

    def long(
        self, prompts, per_shot: int, ctx: int, sink, clip: np.ndarray | None = None,
        image: np.ndarray | None = None, last_image: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Windowed extension with overlap: each window pins the last frames of the previous one,
        so memory stays flat in length. A new shot (prompt) starts a fresh window: a cut. With
        `clip`, the first shot continues that clip instead of starting from text; with `image`
        its first window starts on it, and with `last_image` its last window ends on it (one
        shot). Frames go to `sink` as they are made."""
        pipe = self.pipe
        ft, window = pipe.ft, pipe.config.window_frames
        kept: list[np.ndarray] = []

        def emit(frames: np.ndarray) -> None:
            (sink or kept.append)(frames)
            self.frames_out += len(frames)

        for shot, prompt in enumerate(prompts):
            if clip is None or shot > 0:
                first = min(per_shot, window)
                if image is not None and shot == 0:
                    start = tasks.image_to_video(first, self.height, self.width, ft, image, None)
                else:
                    start = tasks.text_to_video(first, *self.gen_hw, ft)
                clip = self.one(prompt, start)
                emit(clip)
                done = len(clip)
            else:
                done = 0
            while done < per_shot:
                tail = tasks.tail_len(len(clip), ft, ctx // ft)
                new = pipe._mult(min(per_shot - done, window - tail))
                last = last_image if done + new >= per_shot else None  # the final window
                out = self.one(
                    prompt, tasks.extend_forward(clip[-tail:], new, ft, ctx // ft, last_image=last)
                )
                emit(out[tail:])
                done += new
                clip = out[-tail:]  # only the context is kept
        return np.concatenate(kept) if kept else np.zeros((0, self.height, self.width, 3), np.uint8)


def _pad_canvas(canvas, pad):
    from chronotope.tasks.canvas import Canvas

    h, w = pad(canvas.frames[:1]).shape[1:3]
    out = Canvas(canvas.num_frames, h, w, canvas.ft, reference=canvas.reference)
    out.frames = pad(canvas.frames)
    out.known = canvas.known.copy()
    return out


def _to_uint8(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).numpy()
