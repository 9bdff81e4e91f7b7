"""Sample latents for one or more jobs in one packed sequence, with one solver.

A job is a task as data: reference latents `z_ref` (C,T',H',W') (normalized), a per-latent-frame
start noise level (0 = pinned conditioning frame, 1 = generate from noise, s = SDEdit from the
reference at strength s) and its text. Jobs of any sizes are packed together (NaViT-style), and
classifier-free guidance packs each job's unconditional copy into the same sequence, so one
transformer call per solver step serves the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from chronotope.errors import UsageError
from chronotope.flow import get_solver, make_schedule, shift_for_tokens
from chronotope.model import DiT
from chronotope.tokens import PackedBatch, SampleInfo, Segments, patchify
from chronotope.utils.precision import autocast as use_autocast


@dataclass
class Job:
    z_ref: torch.Tensor  # (C, T', H', W') normalized reference latent (anything where unpinned)
    start: torch.Tensor  # (T',) start noise level per latent frame: 0 pinned, 1 noise, s SDEdit
    text: torch.Tensor  # (n, text_dim) per-token text states
    seed: int
    # latent frames [circle_from:] form a circle (a seamless loop): see `circular_model_fn`
    circle_from: int | None = None


def _start_tokens(job: Job, patch: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    """Initial state, reference tokens and per-token start level of one job."""
    gen = torch.Generator().manual_seed(job.seed)
    noise = torch.randn(job.z_ref.shape, generator=gen)  # drawn in latent space: patch-independent
    ref, positions = patchify(job.z_ref.float(), patch)  # (N, D), (N, 3)
    noise_tok, _ = patchify(noise, patch)
    per_frame = ref.shape[0] // job.start.shape[0] * patch[0]
    start = job.start.float().repeat_interleave(per_frame)  # (N,)
    x = (1 - start)[:, None] * ref + start[:, None] * noise_tok  # x_sigma at each token's start
    return x, ref, positions, start


def _schedules(starts: torch.Tensor, steps: int, shift: float) -> torch.Tensor:
    """(K+1, N) schedule: every distinct start level gets its own shifted ramp to 0."""
    out = torch.zeros(steps + 1, starts.shape[0])
    for level in torch.unique(starts).tolist():
        if level > 0:
            out[:, starts == level] = make_schedule(steps, shift=shift, start=level)[:, None]
    return out


def sample_jobs(
    transformer: DiT,
    jobs: Sequence[Job],
    *,
    uncond_text: torch.Tensor,
    steps: int,
    guidance: float,
    solver: str = "euler",
    autocast: bool = True,
    callback: Callable[[int, int], None] | None = None,
    shift: dict | None = None,
    early_guidance: float = 1.0,
    early_sigma: float = 0.7,
    early_rescale: float = 0.5,
) -> list[torch.Tensor]:
    """Run the solver over all jobs packed together; returns one latent (C,T',H',W') per job.

    Guidance is `guidance` for tokens at noise level sigma <= `early_sigma` and
    1 + early_guidance * (guidance - 1) above it, rescaled by `early_rescale` (see
    `_guided_model_fn`); jobs with a circle (loops) keep `guidance` throughout.

    Pinned tokens (start 0) keep their reference value bit-exactly: their schedule is all zeros.
    `shift` holds the anchors of `shift_for_tokens` the model was trained with.
    """
    patch = tuple(transformer.config.patch)
    xs, refs, positions, schedules = [], [], [], []
    for job in jobs:
        x, ref, pos, start = _start_tokens(job, patch)
        xs.append(x)
        refs.append(ref)
        positions.append(pos)
        # the time shift comes from the sample's own token count, as in training
        schedules.append(_schedules(start, steps, shift_for_tokens(x.shape[0], **(shift or {}))))
    batch = PackedBatch.build(
        xs,
        positions,
        [_info(job, patch, x.shape[0]) for job, x in zip(jobs, xs)],
        text=[job.text for job in jobs],
    )
    # no early guidance in a loop's circle: every evaluation sees it rolled another way, and
    # strong guidance then places the object at several places at once (duplicates)
    level = torch.cat(
        [
            torch.full((x.shape[0],), 1.0 if job.circle_from is not None else early_sigma)
            for job, x in zip(jobs, xs)
        ]
    )
    model_fn = _guided_model_fn(
        transformer,
        batch,
        uncond_text,
        guidance,
        autocast,
        early=(early_guidance, level, early_rescale),
    )
    circles = _circles(jobs, [x.shape[0] for x in xs], patch)
    if circles:
        model_fn = circular_model_fn(model_fn, circles)
    sigmas = torch.cat(schedules, dim=1)  # (K+1, L)
    progress = None if callback is None else (lambda i, n, _x: callback(i, n))
    x = get_solver(solver)(model_fn, batch.tokens.float(), sigmas, callback=progress)
    return batch.unpack_latents(x)


@dataclass(frozen=True)
class Circle:
    """Tokens [start, end) of a packed sequence that form a circle of token-frames of `per`
    tokens each (t-major order), rolled by offsets drawn from `seed`."""

    start: int
    end: int
    per: int
    seed: int


def _circles(
    jobs: Sequence[Job], lengths: Sequence[int], patch: tuple[int, int, int]
) -> list[Circle]:
    """Each job's circle, where it has one, placed in the packing."""
    circles, offset = [], 0
    for job, n in zip(jobs, lengths):
        t = job.z_ref.shape[1]
        if job.circle_from is not None:
            if not (0 <= job.circle_from < t and job.circle_from % patch[0] == 0):
                raise UsageError(
                    f"circle_from must be a latent frame in [0, {t}) on the temporal patch "
                    f"grid ({patch[0]}), got {job.circle_from}"
                )
            per = n // (t // patch[0])  # tokens of one token-frame
            circles.append(
                Circle(offset + job.circle_from // patch[0] * per, offset + n, per, job.seed)
            )
        offset += n
    return circles


def circular_model_fn(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], circles: Sequence[Circle]
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Seamless loops by circular denoising: at every evaluation each circle of token-frames is
    rolled by a random whole number of frames before the model sees it (positions stay put) and
    the velocity is rolled back. The state itself never moves, but every pair of neighbours on
    the circle, the last frame and the first included, is a pair of neighbours inside the clip
    at most evaluations, so the wrap is denoised like any other step of the video (the tiling
    trick of MultiDiffusion, Bar-Tal et al. 2023, along time). Each circle draws its offsets
    from its own seed: a job gives the same frames alone or packed with others."""
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


def _info(job: Job, patch: tuple[int, int, int], n: int) -> SampleInfo:
    c, t, h, w = job.z_ref.shape
    return SampleInfo((t // patch[0], h // patch[1], w // patch[2]), patch, c, job.text.shape[0])


def call_transformer(transformer: DiT, *args: object) -> torch.Tensor:
    """The plain transformer call of a solver step."""
    return transformer(*args)


# every solver step's transformer call goes through this name (looked up at call time):
# `chronotope.distributed.sampling` swaps it to split the tokens over ranks (torchrun)
transformer_call: Callable[..., torch.Tensor] = call_transformer


def _guided_model_fn(
    transformer: DiT,
    batch: PackedBatch,
    uncond_text: torch.Tensor,
    guidance: float,
    autocast: bool,
    early: tuple[float, float | torch.Tensor, float] = (1.0, 1.0, 1.0),
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Velocity model over the packed batch; with guidance the conditional and unconditional
    copies of every sample share one transformer call: v = v_u + g * (v_c - v_u).

    `early` = (factor, level, phi): a token above noise level `level` (a number, or one per
    token) gets g = 1 + factor * (g - 1). What moves where (the direction of motion, the
    layout) is settled in the first, noisiest steps, where the initial noise competes with the
    prompt; stronger guidance there makes the prompt win, and the usual strength afterwards
    keeps colours and edges from saturating. Per token, so frames that start below `level` (a
    restyle, a bridge, pinned frames) keep g.
    The early tokens' guided velocity of each sample is then rescaled towards the standard
    deviation of their conditional velocity (the guidance rescale of Lin et al. 2024, "Common
    Diffusion Noise Schedules and Sample Steps are Flawed"; phi = 1: fully, 0: not at all): the
    stronger guidance turns the velocity towards the prompt with less lengthening, which
    otherwise overshoots into two copies of an object. `rescale_early_guidance` is that step."""
    factor, level, phi = early
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
            v = transformer_call(transformer, x, sigma, positions, segments, text, text_segments)
            v = v.float()
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
    phi * rescaled + (1 - phi) * guided; other tokens are returned as they are. A rolled
    circle only permutes tokens inside its sample, so the result does not depend on the roll."""
    out = guided.clone()
    for a, b in spans:
        m = early[a:b]
        if m.any():
            o, c = guided[a:b][m], cond[a:b][m]
            out[a:b][m] = o * (phi * c.std() / o.std().clamp_min(1e-12) + 1 - phi)
    return out
