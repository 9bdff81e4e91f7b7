"""One window of a task: encode its canvas, sample (several candidates where a seam moves),
decode, splice the given frames back bit-exactly and keep the candidate with the best seams.

`WindowSampler` is the `sample_window` callable every plan of `tasks.plans` runs against:
each window it samples gets the call's seed + its index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from chronotope.data import to_tensor
from chronotope.errors import UsageError
from chronotope.pipeline.sampler import Draw, sample_draws
from chronotope.tasks.canvas import Canvas
from chronotope.tasks.request import Resolved
from chronotope.tasks.seams import moving_seams, seam_discontinuity, wrap_discontinuity
from chronotope.tasks.windows import Window
from chronotope.utils.precision import autocast

# candidate i of a window samples with seed + i * this (far from the windows' own seed + index)
CANDIDATE_SEED_STRIDE = 1_000_003


class CallProgress:
    """One progress bar over the solver steps of every window of a call (tqdm's rate gives
    the ETA of the whole call), and the call's `callback(step, total)` with the same counts."""

    def __init__(self, bar, *, windows: int, callback: Callable[[int, int], None] | None = None):
        self.bar, self.windows, self.callback = bar, windows, callback
        self.window, self.step = 0, 0

    def next_window(self) -> None:
        self.window += 1
        if self.bar is not None:
            self.bar.set_description(f"window {self.window}/{self.windows}")

    def step_done(self) -> None:
        self.step += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            total = self.bar.total if self.bar is not None else self.step
            self.callback(self.step, max(total, self.step))


class WindowSampler:
    """Samples the windows of one call with `pipe`'s models (`__call__(prompt, window)`)."""

    def __init__(self, pipe, r: Resolved, progress: CallProgress | None = None):
        self.pipe, self.r = pipe, r
        self.progress = progress or CallProgress(None, windows=0)
        self.windows = 0  # windows sampled so far: the next one's seed offset

    def __call__(self, prompt: str, window: Window) -> np.ndarray:
        """Sample, decode, splice and assemble one window; returns frames at the output size."""
        r, canvas = self.r, window.canvas
        if (canvas.height, canvas.width) != r.gen_hw:
            canvas = _pad_canvas(canvas, r.gen_hw)
        z_ref = self._encode(canvas) if window.needs_encode else self._zeros(canvas)
        text = self.pipe.text_encoder.encode([prompt, r.negative])
        # a window with a seam whose given side moves (a clip beside generated frames) or a
        # loop's circle may draw several samples and keep the one whose seams look most like
        # its other steps; candidate 0 is the window's own seed, so one is the plain call
        seams = moving_seams(canvas.frames, canvas.known) if r.sampling.candidates > 1 else []
        k = r.sampling.candidates if window.circle_from is not None or seams else 1
        seed = r.seed + self.windows
        start = torch.from_numpy(self._start(window, canvas))
        draws = [
            Draw(z_ref, start, text[0], seed + i * CANDIDATE_SEED_STRIDE, window.circle_from)
            for i in range(k)
        ]
        self.windows += 1
        self.progress.next_window()
        zs = self._sample(draws, text[1], window.guided)
        decoded = self._best(zs, canvas, window.circle_from, seams)
        if window.canvas is not canvas:  # the unpadded canvas: known frames at the output size
            decoded = window.canvas.splice(decoded)
        return window.assemble(decoded)

    def _start(self, window: Window, canvas: Canvas) -> np.ndarray:
        """(T',) start noise levels: a bridge between pinned frames (connect, loop, first and
        last image) starts from its cross-faded canvas noised to `bridge_start`, not from
        pure noise."""
        level = self.r.tasks.bridge_start
        if level >= 1.0:
            return window.start
        bridged = canvas.bridged_latents() & (window.start == 1.0)
        return np.where(bridged, level, window.start)

    def _sample(self, draws: list[Draw], uncond_text: torch.Tensor, guided: bool):
        settings = self.r.sampling
        if not guided:
            settings = dataclasses.replace(settings, guidance=1.0, early_guidance=1.0)
        zs = sample_draws(
            self.pipe.transformer,
            draws,
            uncond_text=uncond_text,
            settings=settings,
            autocast=self.pipe.autocast,
            callback=lambda i, n: self.progress.step_done(),
            call=self.pipe.transformer_call,
        )
        return zs

    def _best(self, zs, canvas: Canvas, circle_from: int | None, seams: list[int]) -> np.ndarray:
        """The candidate whose seams look most like its other frame steps, decoded, with the
        given frames spliced back: bit-exactly, the decoder's error beside them fading over
        `seam_feather` frames instead of jumping at the seam (Canvas.splice)."""
        best, best_score = None, float("inf")
        for z in zs:
            decoded = canvas.splice(self.decode(z, circle_from), feather=self.r.tasks.seam_feather)
            decoded = decoded[:, : self.r.height, : self.r.width]
            score = (
                self._seam_score(decoded, canvas.known, seams, circle_from) if len(zs) > 1 else 0
            )
            if score < best_score:
                best, best_score = decoded, score
        return best

    def _seam_score(self, frames, known, seams: list[int], circle_from: int | None) -> float:
        """How far a window's worst seam is from an ordinary step (0: as smooth as the rest):
        its `seams` between known and generated frames, and a loop's wrap (the circle's frames,
        after the causal head, played around)."""
        score = seam_discontinuity(frames, known, seams)
        if circle_from is not None:
            head = 1 + (circle_from - 1) * self.pipe.ft  # the pixel frames before the circle
            score = max(score, wrap_discontinuity(frames[head:]))
        return score

    def _encode(self, canvas: Canvas) -> torch.Tensor:
        vae = self.pipe.vae
        video = to_tensor(canvas.filled())[None]  # (1, 3, T, H, W) in [-1, 1]
        with autocast(enabled=self.pipe.autocast):
            mean, _ = vae.encode_chunked(video, tile=self.pipe.tile(*self.r.gen_hw))
        return vae.normalize(mean.float())[0]  # (C, T', H', W')

    def _zeros(self, canvas: Canvas) -> torch.Tensor:
        vae = self.pipe.vae
        t, h, w = vae.latent_size(canvas.num_frames, canvas.height, canvas.width)
        return torch.zeros(vae.config.latent_channels, t, h, w)

    def decode(self, z: torch.Tensor, circle_from: int | None = None) -> np.ndarray:
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
            for part in vae.decode_iter(z, tile=self.pipe.tile(*self.r.gen_hw)):
                chunks.append(to_uint8(part[0]))
        frames = np.concatenate(chunks)
        if circle_from is None:
            return frames
        ft = self.pipe.ft
        head = 1 + (circle_from - 1) * ft  # frames before it
        period = circle.shape[1] * ft
        start = head + period + ft // 2  # in the second pass, half a latent frame in
        return np.concatenate([frames[:head], frames[start : start + period]])


def _pad_canvas(canvas: Canvas, hw: tuple[int, int]) -> Canvas:
    """The canvas edge-padded (frames (T, H, W, 3)) up to the transformer's grid `hw`."""
    h, w = hw
    pads = [(0, 0), (0, h - canvas.height), (0, w - canvas.width), (0, 0)]
    out = Canvas(canvas.num_frames, h, w, canvas.ft, reference=canvas.reference)
    out.frames = np.pad(canvas.frames, pads, mode="edge")
    out.known = canvas.known.copy()
    return out


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).numpy()
