"""Random task masks: which latent frames of a training clip are clean conditioning (sigma 0).

One checkpoint serves every task (text-to-video, image-to-video, connect two images, extend
forward/backward, loop) because training sees every kind of mask:

    none        nothing conditioned (text-to-video / text-to-image)
    first       frame 0 (image-to-video)
    last        the last frame (video ending on an image)
    first_last  both ends (connect two images, seamless loop)
    prefix      frames [0, k) (extend forward)
    suffix      frames [T'-k, T') (extend backward)
    random      a random subset (interpolation / sparse keyframes)
    ends        frames [0, a) and [T'-b, T') (connect two clips, close a clip into a loop: the
                model must lead the middle into a pinned future of several frames)

A clip never has all its frames conditioned (nothing would be left to learn), and a 1-frame
image is never conditioned (its only frame would be the whole sample).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

from chronotope.errors import UsageError


@dataclass(frozen=True)
class TaskMix:
    """Probabilities of each mask kind for a clip of >= 2 latent frames (renormalised over the
    kinds possible for that length). Nearly half the clips are plain text-to-video, because that
    is the hardest and most used task; image-to-video (first) is the most common conditioned one."""

    none: float = 0.45
    first: float = 0.15
    last: float = 0.05
    first_last: float = 0.1
    prefix: float = 0.1
    suffix: float = 0.05
    random: float = 0.05
    ends: float = 0.05

    def __post_init__(self) -> None:
        probs = asdict(self)
        if any(p < 0 for p in probs.values()) or sum(probs.values()) <= 0:
            raise UsageError(f"task probabilities must be >= 0 with a positive sum, got {probs}")


TASK_KINDS = tuple(f.name for f in fields(TaskMix))  # in field order, as `sample_task` indexes


def _possible(kind: str, num_frames: int) -> bool:
    if num_frames == 1:
        return kind == "none"
    return not (kind in ("first_last", "ends") and num_frames < 3)


def task_mask(kind: str, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The (T',) bool mask of one kind; `prefix`/`suffix`/`random` draw their frames."""
    if kind not in TASK_KINDS:
        raise UsageError(f"task kind must be one of {', '.join(TASK_KINDS)}, got {kind!r}")
    if not _possible(kind, num_frames):
        raise UsageError(f"task {kind!r} needs more than {num_frames} latent frame(s)")
    mask = torch.zeros(num_frames, dtype=torch.bool)
    if kind in ("first", "first_last"):
        mask[0] = True
    if kind in ("last", "first_last"):
        mask[-1] = True
    if kind in ("prefix", "suffix"):
        k = int(torch.randint(1, num_frames, (), generator=generator))  # 1 .. T'-1 frames
        mask[:k] = True
        if kind == "suffix":
            mask = mask.flip(0)
    if kind == "ends":
        a = int(torch.randint(1, num_frames - 1, (), generator=generator))  # 1 .. T'-2 frames
        b = int(torch.randint(1, num_frames - a, (), generator=generator))  # >= 1 noisy between
        mask[:a] = True
        mask[num_frames - b :] = True
    if kind == "random":
        # each frame kept with p=1/2, redrawn until at least one clean and one noisy frame
        while True:
            mask = torch.rand(num_frames, generator=generator) < 0.5
            if 0 < int(mask.sum()) < num_frames:
                break
    return mask


def sample_task(
    num_frames: int, generator: torch.Generator | None = None, probs: TaskMix = TaskMix()
) -> tuple[str, torch.Tensor]:
    """Draw a mask kind by `probs` among those possible for `num_frames`, and its mask."""
    if num_frames < 1:
        raise UsageError(f"num_latent_frames must be >= 1, got {num_frames}")
    weights = torch.tensor(
        [float(p) if _possible(k, num_frames) else 0.0 for k, p in asdict(probs).items()],
        dtype=torch.float64,
    )
    if weights.sum() <= 0:  # e.g. a mix of only conditioned kinds and a 1-frame image
        return "none", torch.zeros(num_frames, dtype=torch.bool)
    # inverse CDF of one uniform draw: a kind of weight 0 takes no share of [0, 1) and no draw
    # of the stream, so adding one (a new kind, default 0 in old configs) changes no old mask
    u = float(torch.rand((), generator=generator, dtype=torch.float64)) * float(weights.sum())
    cdf = torch.cumsum(weights, 0)
    index = int(torch.searchsorted(cdf, torch.tensor([u], dtype=torch.float64), right=True))
    index = min(index, len(TASK_KINDS) - 1)
    while weights[index] <= 0:  # float rounding at the top end: step back to a drawable kind
        index -= 1
    kind = TASK_KINDS[index]
    return kind, task_mask(kind, num_frames, generator)


def random_task_mask(
    num_latent_frames: int, generator: torch.Generator | None = None, probs: TaskMix = TaskMix()
) -> torch.Tensor:
    """(T',) bool, True = conditioning frame (sigma 0); see `TaskMix` for the kinds."""
    return sample_task(num_latent_frames, generator, probs)[1]


def per_token_sigma(
    frame_sigma: torch.Tensor | float, mask: torch.Tensor, tokens_per_frame: int
) -> torch.Tensor:
    """Per-token noise levels (T'*tokens_per_frame,) from per-frame sigma (a scalar or (T',))
    and the mask: conditioning frames get exactly 0.

    Relies on the t-major token order of `chronotope.tokens.patchify`, so a frame's tokens are
    one contiguous run. With a temporal patch pt > 1, 'frame' means one temporal patch.
    """
    frame_sigma = torch.as_tensor(frame_sigma, dtype=torch.float32)
    frame_sigma = frame_sigma.expand(mask.shape[0])
    per_frame = torch.where(mask, torch.zeros_like(frame_sigma), frame_sigma)
    return per_frame.repeat_interleave(tokens_per_frame)  # (T',) -> (T'*tpf,)
