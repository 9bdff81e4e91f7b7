"""Guidance of a packed velocity model: classifier-free guidance with early guidance and its
rescale, and the circular wrapper of a seamless loop. The pipeline and training previews both
sample through `guided_model_fn`, so a preview is what `generate` would make.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from chronotope.flow.settings import SamplingSettings
from chronotope.flow.solvers import ModelFn
from chronotope.tokens import PackedBatch, Segments
from chronotope.utils.precision import autocast as use_autocast

# the transformer call of a solver step: (x, sigma, positions, segments, text, text_segments)
# -> velocity (L, D); the model itself, or a sequence-parallel call (`distributed.sampling`)
TransformerCall = Callable[..., torch.Tensor]


def guided_model_fn(
    call: TransformerCall,
    batch: PackedBatch,
    uncond_text: torch.Tensor,
    settings: SamplingSettings,
    *,
    autocast: bool = True,
    level: float | torch.Tensor | None = None,
) -> ModelFn:
    """Velocity model over the packed batch; with guidance g != 1 the conditional and
    unconditional copies of every sample share one transformer call: v = v_u + g (v_c - v_u)
    (Ho & Salimans 2022), the unconditional text being `uncond_text` for every sample.

    Early guidance: a token above noise level `level` (default `settings.early_sigma`; a number
    or one per token) gets g = 1 + early_guidance * (g - 1). What moves where (the direction of
    motion, the layout) is settled in the first, noisiest steps, where the initial noise competes
    with the prompt; stronger guidance there makes the prompt win, and the usual strength
    afterwards keeps colours and edges from saturating. Per token, so frames that start below
    `level` (a restyle, a bridge, pinned frames) keep g. The early tokens' guided velocity of
    each sample is then rescaled towards the spread of their conditional velocity
    (`rescale_early_guidance`, phi = `early_rescale`)."""
    guidance, factor = settings.guidance, settings.early_guidance
    level = settings.early_sigma if level is None else level
    phi = settings.early_rescale
    guided = guidance != 1.0
    n = batch.num_samples
    positions, segments = batch.positions, batch.segments
    text, text_segments = batch.text, batch.text_segments
    if guided:
        positions = torch.cat([positions, positions])
        segments = Segments(segments.seqlens * 2)
        text = torch.cat([text, *[uncond_text] * n])
        text_segments = Segments(text_segments.seqlens + (uncond_text.shape[0],) * n)
    length = batch.tokens.shape[0]
    spans = list(zip(batch.segments.offsets[:n], batch.segments.offsets[1 : n + 1]))

    @torch.no_grad()
    def model_fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if guided:
            x, sigma = torch.cat([x, x]), torch.cat([sigma, sigma])
        with use_autocast(x.device.type, enabled=autocast):
            v = call(x, sigma, positions, segments, text, text_segments).float()
        if not guided:
            return v
        v_c, v_u = v[:length], v[length:]
        early = sigma[:length] > level if factor != 1.0 else None
        if early is None or not early.any():  # past the early steps: no where, no rescale
            return v_u + guidance * (v_c - v_u)
        g = torch.where(early, 1 + factor * (guidance - 1), guidance)
        out = v_u + g[:, None] * (v_c - v_u)
        return rescale_early_guidance(out, v_c, early, spans, phi) if phi > 0 else out

    return model_fn


def rescale_early_guidance(
    guided: torch.Tensor,
    cond: torch.Tensor,
    early: torch.Tensor,
    spans: Sequence[tuple[int, int]],
    phi: float = 1.0,
) -> torch.Tensor:
    """Per sample (token span [a, b)), scale the guided velocity (L, D) of its `early` tokens
    so that its standard deviation over them equals the conditional velocity's, and blend:
    phi * rescaled + (1 - phi) * guided; other tokens are returned as they are (the guidance
    rescale of Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
    Flawed"): the stronger guidance turns the velocity towards the prompt with less
    lengthening, which otherwise overshoots into two copies of an object. A rolled circle only
    permutes tokens inside its sample, so the result does not depend on the roll."""
    out = guided.clone()
    for a, b in spans:
        m = early[a:b]
        if m.any():
            o, c = guided[a:b][m], cond[a:b][m]
            out[a:b][m] = o * (phi * c.std() / o.std().clamp_min(1e-12) + 1 - phi)
    return out


@dataclass(frozen=True)
class Circle:
    """Tokens [start, end) of a packed sequence that form a circle of token-frames of `per`
    tokens each (t-major order), rolled by offsets drawn from `seed`."""

    start: int
    end: int
    per: int
    seed: int


def circular_model_fn(model_fn: ModelFn, circles: Sequence[Circle]) -> ModelFn:
    """Seamless loops by circular denoising: at every evaluation each circle of token-frames is
    rolled by a random whole number of frames before the model sees it (positions stay put) and
    the velocity is rolled back. The state itself never moves, but every pair of neighbours on
    the circle, the last frame and the first included, is a pair of neighbours inside the clip
    at most evaluations, so the wrap is denoised like any other step of the video (the tiling
    trick of MultiDiffusion, Bar-Tal et al. 2023, along time). Each circle draws its offsets
    from its own seed: a sample gives the same frames alone or packed with others."""
    gens = [torch.Generator().manual_seed(c.seed) for c in circles]

    def fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        order = torch.arange(x.shape[0])
        for c, gen in zip(circles, gens):
            n = c.end - c.start
            shift = int(torch.randint(n // c.per, (1,), generator=gen)) * c.per
            order[c.start : c.end] = c.start + (torch.arange(n) + shift) % n  # a rolled view
        v = model_fn(x[order], sigma[order])
        out = torch.empty_like(v)
        out[order] = v  # rolled back: each token gets its own velocity
        return out

    return fn
