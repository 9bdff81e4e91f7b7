"""Sample latents for one or more draws in one packed sequence, with one solver.

A draw is a task as data: reference latents `z_ref` (C,T',H',W') (normalized), a per-latent-frame
start noise level (0 = pinned conditioning frame, 1 = generate from noise, s = SDEdit from the
reference at strength s) and its text. Draws of any sizes are packed together (NaViT-style), and
classifier-free guidance packs each draw's unconditional copy into the same sequence, so one
transformer call per solver step serves the whole batch (`flow.guidance`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from chronotope.errors import UsageError
from chronotope.flow import get_solver, make_schedule, shift_for_tokens
from chronotope.flow.guidance import Circle, TransformerCall, circular_model_fn, guided_model_fn
from chronotope.flow.settings import SamplingSettings
from chronotope.model import DiT
from chronotope.tokens import PackedBatch, SampleInfo, patchify


@dataclass
class Draw:
    z_ref: torch.Tensor  # (C, T', H', W') normalized reference latent (anything where unpinned)
    start: torch.Tensor  # (T',) start noise level per latent frame: 0 pinned, 1 noise, s SDEdit
    text: torch.Tensor  # (n, text_dim) per-token text states
    seed: int
    # latent frames [circle_from:] form a circle (a seamless loop): see `circular_model_fn`
    circle_from: int | None = None


def _start_tokens(draw: Draw, patch: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    """Initial state, reference tokens and per-token start level of one draw."""
    gen = torch.Generator().manual_seed(draw.seed)
    noise = torch.randn(draw.z_ref.shape, generator=gen)  # in latent space: patch-independent
    ref, positions = patchify(draw.z_ref.float(), patch)  # (N, D), (N, 3)
    noise_tok, _ = patchify(noise, patch)
    per_frame = ref.shape[0] // draw.start.shape[0] * patch[0]
    start = draw.start.float().repeat_interleave(per_frame)  # (N,)
    x = (1 - start)[:, None] * ref + start[:, None] * noise_tok  # x_sigma at each token's start
    return x, ref, positions, start


def _schedules(starts: torch.Tensor, steps: int, shift: float) -> torch.Tensor:
    """(K+1, N) schedule: every distinct start level gets its own shifted ramp to 0."""
    out = torch.zeros(steps + 1, starts.shape[0])
    for level in torch.unique(starts).tolist():
        if level > 0:
            out[:, starts == level] = make_schedule(steps, shift=shift, start=level)[:, None]
    return out


def sample_draws(
    transformer: DiT,
    draws: Sequence[Draw],
    *,
    uncond_text: torch.Tensor,
    settings: SamplingSettings,
    autocast: bool = True,
    callback: Callable[[int, int], None] | None = None,
    call: TransformerCall | None = None,
) -> list[torch.Tensor]:
    """Run the solver over all draws packed together; returns one latent (C,T',H',W') each.

    `call` is the transformer call of every solver step (default: the transformer itself; a
    sequence-parallel call under torchrun). Draws with a circle (loops) get no early guidance.
    Pinned tokens (start 0) keep their reference value bit-exactly: their schedule is all zeros.
    """
    patch = tuple(transformer.config.patch)
    xs, positions, schedules = [], [], []
    for draw in draws:
        x, _, pos, start = _start_tokens(draw, patch)
        xs.append(x)
        positions.append(pos)
        # the time shift comes from the sample's own token count, as in training
        shift = shift_for_tokens(x.shape[0], **vars(settings.shift))
        schedules.append(_schedules(start, settings.steps, shift))
    batch = PackedBatch.build(
        xs,
        positions,
        [_info(draw, patch) for draw in draws],
        text=[draw.text for draw in draws],
    )
    # no early guidance in a loop's circle: every evaluation sees it rolled another way, and
    # strong guidance then places the object at several places at once (duplicates)
    level = torch.cat(
        [
            torch.full((x.shape[0],), 1.0 if draw.circle_from is not None else settings.early_sigma)
            for draw, x in zip(draws, xs)
        ]
    )
    model_fn = guided_model_fn(
        call or transformer, batch, uncond_text, settings, autocast=autocast, level=level
    )
    circles = _circles(draws, [x.shape[0] for x in xs], patch)
    if circles:
        model_fn = circular_model_fn(model_fn, circles)
    sigmas = torch.cat(schedules, dim=1)  # (K+1, L)
    progress = None if callback is None else (lambda i, n, _x: callback(i, n))
    x = get_solver(settings.solver)(model_fn, batch.tokens.float(), sigmas, callback=progress)
    return batch.unpack_latents(x)


def _circles(
    draws: Sequence[Draw], lengths: Sequence[int], patch: tuple[int, int, int]
) -> list[Circle]:
    """Each draw's circle, where it has one, placed in the packing."""
    circles, offset = [], 0
    for draw, n in zip(draws, lengths):
        t = draw.z_ref.shape[1]
        if draw.circle_from is not None:
            if not (0 <= draw.circle_from < t and draw.circle_from % patch[0] == 0):
                raise UsageError(
                    f"circle_from must be a latent frame in [0, {t}) on the temporal patch "
                    f"grid ({patch[0]}), got {draw.circle_from}"
                )
            per = n // (t // patch[0])  # tokens of one token-frame
            circles.append(
                Circle(offset + draw.circle_from // patch[0] * per, offset + n, per, draw.seed)
            )
        offset += n
    return circles


def _info(draw: Draw, patch: tuple[int, int, int]) -> SampleInfo:
    c, t, h, w = draw.z_ref.shape
    return SampleInfo((t // patch[0], h // patch[1], w // patch[2]), patch, c, draw.text.shape[0])
