"""`GenerationRequest`: one call to generate, as the library, the CLI and the server build it.

A request names its task from one vocabulary (`TASKS`), checks itself before any model is
loaded (`check`), and resolves against a model's geometry and defaults (`resolve`) into a
`Resolved` request: sizes, lengths, conditions as uint8 frames and the sampling settings of
the call. The plan of each task (`tasks.plans`) runs a `Resolved` request.

    text_to_video    a prompt                       text_to_image    the same, one frame
    image_to_video   image and/or last_image        long_video       either, longer than a window
    extend_forward   video + extend="forward"       extend_backward  video + extend="backward"
    connect          connect=(A, B)                 restyle          video (+ strength)
    loop             loop=True (text-to-video as a circle; with another task: a bridge back)
    multi_shot       several prompts
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from chronotope.errors import UsageError
from chronotope.flow.settings import SamplingSettings
from chronotope.tasks import sizes, windows
from chronotope.tasks.conditions import Condition, as_clip, as_image, as_pair, source_size
from chronotope.tasks.settings import TaskSettings

TASKS = (
    "text_to_video", "text_to_image", "image_to_video", "long_video", "extend_forward",
    "extend_backward", "connect", "restyle", "loop", "multi_shot",
)  # fmt: skip
SAMPLING_FIELDS = ("steps", "guidance", "solver", "early_guidance", "candidates")
EXTEND = ("forward", "backward")


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """What to make (prompts, conditions, length, size, seed) and the call's own sampling
    settings; None takes the model's default. Conditions are uint8 arrays ((T,)H,W,3), float
    arrays in [0, 1], PIL images, tensors or file paths (`tasks.conditions`)."""

    prompt: str | Sequence[str]
    negative_prompt: str | None = None
    image: Condition | None = None
    last_image: Condition | None = None
    video: Condition | None = None
    extend: str | None = None  # with video: "forward" or "backward"; without: a restyle
    strength: float | None = None  # a restyle's SDEdit strength in (0, 1]
    connect: tuple[Condition, Condition] | None = None
    transition: str | None = None  # how a connect joins: "auto", "bridge", "dissolve"
    loop: bool = False
    num_frames: int | None = None
    seconds: float | None = None
    shot_seconds: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    solver: str | None = None
    early_guidance: float | None = None
    candidates: int | None = None

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    @property
    def task(self) -> str:
        """The task by the arguments given (a long one is named when its length is known)."""
        return _task(self, frames=self.num_frames or 0, window=np.inf)

    def sampling_overrides(self) -> dict:
        return {k: getattr(self, k) for k in SAMPLING_FIELDS if getattr(self, k) is not None}

    def check(self) -> None:
        """Refuse a 0, NaN or out-of-range number, and any argument the task would not use:
        none is ever silently ignored (whether each argument is given is all that matters, so
        the CLI runs this before it loads a model)."""
        sizes.check_numbers(
            fps=self.fps, seconds=self.seconds, shot_seconds=self.shot_seconds, seed=self.seed
        )
        SamplingSettings(**self.sampling_overrides())
        prompts = self.prompts
        if not prompts or any(not isinstance(p, str) for p in prompts):
            raise UsageError("prompt must be a string or a list of strings", param="prompt")
        if self.negative_prompt is not None and not isinstance(self.negative_prompt, str):
            raise UsageError("negative_prompt must be a string", param="negative_prompt")
        _check_conditions(self)
        _check_shots(self)
        if self.strength is not None:
            windows.check_strength(self.strength)


def _check_conditions(r: GenerationRequest) -> None:
    if r.transition is not None:
        windows.check_transition(r.transition)
        if r.connect is None:
            raise UsageError(
                "transition is how a connect joins its clips: give connect", param="transition"
            )
    images = [n for n, v in (("image", r.image), ("last_image", r.last_image)) if v is not None]
    if r.video is not None and r.connect is not None:
        raise UsageError("give video or connect, not both", param="connect")
    if (r.video is not None or r.connect is not None) and images:
        given = "video" if r.video is not None else "connect"
        raise UsageError(f"{images[0]} does not combine with {given}", param=images[0])
    if r.strength is not None and (r.video is None or r.extend is not None):
        raise UsageError("strength restyles a video: give video and no extend", param="strength")
    if r.extend is not None and r.video is None:
        raise UsageError("extend continues a video: give video", param="extend")
    if r.extend is not None and r.extend not in EXTEND:
        raise UsageError(
            f"extend must be 'forward' or 'backward', got {r.extend!r}", param="extend"
        )
    if r.video is not None and r.extend is None and (r.num_frames, r.seconds) != (None, None):
        raise UsageError(
            "a restyle is as long as its video: give no frames or seconds",
            param="frames" if r.num_frames is not None else "seconds",
        )


def _check_shots(r: GenerationRequest) -> None:
    if len(r.prompts) > 1:
        given = [n for n, v in (("image", r.image), ("last_image", r.last_image)) if v is not None]
        given += [n for n, v in (("video", r.video), ("connect", r.connect)) if v is not None]
        given += ["loop"] if r.loop else []
        if given:
            raise UsageError(
                f"several prompts (a multi-shot video) do not combine with {given[0]}",
                param=given[0],
            )
    if r.loop and r.num_frames == 1:
        raise UsageError("loop makes a video: it does not combine with one frame", param="loop")


def _task(r: GenerationRequest, *, frames: int, window: float) -> str:
    """The task of `r` at an output (or shot) length of `frames` and a model's `window`."""
    if r.connect is not None:
        return "connect"
    if r.video is not None:
        return "restyle" if r.extend is None else f"extend_{r.extend}"
    if len(r.prompts) > 1:
        return "multi_shot"
    if frames > window:
        return "long_video"
    if r.loop and r.image is None and r.last_image is None:
        return "loop"
    if r.image is not None or r.last_image is not None:
        return "image_to_video"
    return "text_to_image" if frames == 1 else "text_to_video"


@dataclass(frozen=True)
class ModelDefaults:
    """What a request resolves against: a model's geometry and its defaults."""

    ft: int  # pixel frames per latent frame
    fs: int  # pixels per latent pixel
    grid: int  # pixels per token side: sizes are padded up to it internally
    width: int
    height: int
    fps: float
    seconds: float
    sampling: SamplingSettings
    tasks: TaskSettings
    pixels: int = 0  # pixels a frame it was trained at (its scale); 0: width * height

    @property
    def scale(self) -> int:
        return self.pixels or self.width * self.height

    def padded(self, height: int, width: int) -> tuple[int, int]:
        m = self.grid
        return -(-height // m) * m, -(-width // m) * m


@dataclass(frozen=True, eq=False)
class Resolved:
    """A request resolved against a model: what the task's plan runs."""

    task: str  # from TASKS; with `loop` (and not the loop task) a bridge back closes it
    loop: bool
    prompts: tuple[str, ...]
    negative_prompt: str | None
    width: int
    height: int
    gen_hw: tuple[int, int]  # the size sampled at (padded to the token grid)
    fps: float
    ft: int
    total: int  # frames of the output, of a shot, or of the largest window's new part
    new: int | None  # frames made beside given clips (extend, connect)
    seed: int
    sampling: SamplingSettings
    tasks: TaskSettings
    candidates_given: bool
    image: np.ndarray | None = None  # conditions: uint8 frames, at the output size once fitted
    last_image: np.ndarray | None = None
    video: np.ndarray | None = None
    connect: tuple[np.ndarray, np.ndarray] | None = None
    strength: float | None = None
    transition: str | None = None  # a connect's: as asked, or "bridge"/"dissolve" once fitted
    notes: tuple[str, ...] = ()  # what the call chose that was not asked for (a size), told

    @property
    def name(self) -> str:
        """The task as reported: a loop closing another task is `<task>+loop`."""
        return self.task + ("+loop" if self.loop and self.task != "loop" else "")

    @property
    def negative(self) -> str:
        return self.negative_prompt or ""  # "": the unconditional branch of guidance

    @property
    def draws_candidates(self) -> bool:
        """Whether any window may draw seam candidates: beside given frames (an extension, a
        connect, a restyle's later windows, a loop's circle or bridge) or after a first window
        (a long video); a text-to-video or image-to-video of one window samples once."""
        return self.loop or self.task not in ("text_to_video", "text_to_image", "image_to_video")

    @property
    def given_frames(self) -> int:
        """Frames of the output that are given clips kept as they are."""
        if self.task.startswith("extend"):
            return len(self.video)
        return sum(len(c) for c in self.connect) if self.task == "connect" else 0

    @property
    def loop_bridge(self) -> int:
        """Frames of a loop's bridge back to the start (a whole number of latent frames)."""
        return sizes.whole_multiple(round(self.tasks.bridge_seconds * self.fps), self.ft)

    def fitted(self) -> Resolved:
        """Conditions at the output size (scaled to cover it with their aspect ratio kept, then
        center-cropped), and a connect's transition decided on them."""
        from chronotope.data import fit_frames

        def fit(x):
            return None if x is None else fit_frames(x, self.width, self.height)

        connect = None if self.connect is None else tuple(fit(c) for c in self.connect)
        transition = self.transition
        if connect is not None:
            above = self.tasks.dissolve_above
            transition = windows.connect_transition(*connect, transition or "auto", above)
        return dataclasses.replace(
            self, image=fit(self.image), last_image=fit(self.last_image), video=fit(self.video),
            connect=connect, transition=transition,
        )  # fmt: skip


def resolve(
    request: GenerationRequest, model: ModelDefaults, generator: torch.Generator | None = None
) -> Resolved:
    """Check `request` and resolve it against `model`: conditions read at the call's fps, the
    output size (default: the conditions' own on the VAE's grid, else the model's), the
    lengths, the seed (drawn from `generator` when not given) and the sampling settings."""
    request.check()
    fps = float(model.fps if request.fps is None else request.fps)
    sampling = dataclasses.replace(model.sampling, **request.sampling_overrides())
    seed = request.seed
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
    # the output size is chosen from the conditions' sizes before they are read, and a file is
    # read fitted to it frame by frame (an HD clip is never held at its own size)
    connect = as_pair(request.connect, fps=fps, name="connect")  # a pair: read as given
    sources = {
        n: source_size(getattr(request, n), name=n) for n in ("image", "last_image", "video")
    }
    sources["connect"] = None if connect is None else (connect[0].shape[2], connect[0].shape[1])
    width, height, notes = _output_size(request, model, sources)
    size = (width, height)
    image = as_image(request.image, fps=fps, name="image", size=size)
    last_image = as_image(request.last_image, fps=fps, name="last_image", size=size)
    video = as_clip(request.video, fps=fps, name="video", size=size)
    prompts = request.prompts
    total, new = sizes.task_frames(request, model, fps, video)
    strength = None
    if video is not None and request.extend is None:  # a restyle: as long as its source
        strength = windows.RESTYLE_STRENGTH if request.strength is None else request.strength
        total = sizes.padded_length(len(video), model.ft)
        if request.guidance is None and model.tasks.restyle_guidance is not None:
            # a restyle starts part way down the noise levels: the prompt has fewer steps to
            # act in, and the model's own default for it guides harder
            sampling = dataclasses.replace(sampling, guidance=model.tasks.restyle_guidance)
    sizes.check_length(total * len(prompts), fps)
    return Resolved(
        task=_task(request, frames=total, window=model.tasks.window_frames),
        loop=bool(request.loop), prompts=tuple(prompts),
        negative_prompt=request.negative_prompt, width=width, height=height,
        gen_hw=model.padded(height, width), fps=fps, ft=model.ft, total=total, new=new,
        seed=seed, sampling=sampling, tasks=model.tasks,
        candidates_given=request.candidates is not None, image=image, last_image=last_image,
        video=video, connect=connect, strength=strength, transition=request.transition,
        notes=notes,
    )  # fmt: skip


def _output_size(
    request: GenerationRequest, model: ModelDefaults, sources: dict
) -> tuple[int, int, tuple[str, ...]]:
    """The call's size; else the first condition's (`sizes.condition_size`): its own rounded
    down to the VAE's grid, or, when it is of another scale and no side is given, the model's
    scale at its aspect ratio (said in the returned notes); else the model's. A condition too
    small or too large for any output size gives the model's own (conditions are resized to
    the output size)."""
    given = (request.width, request.height)
    if None not in given:
        return request.width, request.height, ()
    # the first condition's (width, height) sets it (a connect's: A's)
    name, source = next(((n, x) for n, x in sources.items() if x is not None), (None, None))
    fit = None
    if source is not None:
        fit = sizes.condition_size(*source, multiple=model.fs, grid=model.grid, pixels=model.scale)
    notes: tuple[str, ...] = ()
    if fit is None:
        ref = (model.width, model.height)
    elif fit[2] and given == (None, None):  # another scale: the model's, told
        ref = fit[:2]
        label = "connect clip A" if name == "connect" else name.replace("_", " ")
        notes = (sizes.scale_message(label, source, ref, model.scale),)
    else:  # one side given: the other is the condition's own, on the grid
        ref = tuple(max(model.fs, v - v % model.fs) for v in source)
    width = request.width if request.width is not None else ref[0]
    height = request.height if request.height is not None else ref[1]
    return width, height, notes
