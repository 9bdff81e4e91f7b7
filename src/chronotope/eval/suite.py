"""The whole evaluation of one model: parse floor, adherence, physics, world, tasks, VAE, and
the drift of minute-long videos (`long_video.py`).

`run_eval(pipe, cfg)` generates everything at the model's native size and fps, measures it, and
returns an `EvalResult`: flat metrics (`section.name`, what thresholds refer to), per-item rows,
the data behind every plot, and sample videos for contact sheets. `report.py` writes it.

What keeps it honest:
- every model figure is one sample per case (`candidates=1`); the pipeline's own default
  (best-of-K seam candidates) is a separate row, `tasks_default.*`, never the headline;
- every world clip comes from the frozen eval seed range (`world.seeds`), one block per
  `--seed`, which no training stream can reach;
- `run_subject` takes any `Subject` (a generate call and native settings), so tests hand it
  degenerate "models" (noise, a still speck, copy-last, the wrong motion) and the world's own
  clips, and check that the figures fail and pass where they should.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from chronotope.errors import UsageError
from chronotope.eval import sections
from chronotope.eval.subject import Subject, pipeline_subject
from chronotope.pipeline.vocabulary import UnknownWordsWarning

TASKS = (
    "extend_forward",
    "extend_backward",
    "loop",
    "connect",
    "image_to_video",
    "restyle",
    "long_video",
)


@dataclass(frozen=True)
class EvalConfig:
    seed: int = 0  # moves every world clip, prompt and sampling seed
    steps: int | None = None  # solver steps (None: the model's default)
    guidance: float | None = None
    early_guidance: float | None = None  # None: the model's
    prompts: int = 36  # per prompt set (three sets): one prompt moves a figure by 1/36 < 0.03
    seconds: float = 2.0  # text-to-video clips: a fall's bounce and an arc's apex fit in 2 s
    physics_cases: int = 16  # uniform-motion continuations
    cond_frames: int = 5  # given frames (1 + k*ft)
    new_frames: int = 8  # generated after them (a multiple of ft: also the connect bridge)
    falling_cases: int = 12
    world_cases: int = 8  # per world-family check (game, pan, collision, occlusion)
    world_seconds: float = 3.0  # the world's events (a collision, a pass behind a wall) fit
    restyle_strength: float = 0.5
    long_frames: int | None = None  # None: three sampling windows (two extensions)
    tasks: tuple[str, ...] = TASKS  # which task checks to run
    task_cases: int = 8  # clips each task check runs on
    default_candidates: bool = True  # also run the tasks with the pipeline's default candidates
    vae_clips: int = 4
    floor_clips: int = 8
    long_video_cases: int = 2  # minute-long videos judged for drift (0: none)
    long_video_seconds: float = 60.0

    def __post_init__(self):
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise UsageError(
                f"unknown task check(s) {', '.join(unknown)}; valid: {', '.join(TASKS)}"
            )
        counts = ("prompts", "physics_cases", "falling_cases", "cond_frames", "new_frames")
        for name in (*counts, "floor_clips", "task_cases", "world_cases"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}", param=name)
        if self.long_video_cases < 0 or not self.long_video_seconds > 0:
            raise UsageError(
                "long_video_cases must be >= 0 and long_video_seconds > 0, got "
                f"{self.long_video_cases} and {self.long_video_seconds}",
                param="long_video_cases",
            )
        if not 0 <= self.seed < 1000:
            raise UsageError(f"seed must be in [0, 1000), got {self.seed}", param="seed")


QUICK = EvalConfig(
    # 30 prompts (10 per set), 8 continuations and 3 cases of each task at 16 steps: under two
    # minutes on two cores for the bundled model; the long video (three windows), the minute-long
    # drift check and the best-of-K row are the full run's
    steps=16,
    prompts=10,
    physics_cases=8,
    falling_cases=4,
    world_cases=2,
    tasks=tuple(t for t in TASKS if t != "long_video"),
    task_cases=3,
    default_candidates=False,
    vae_clips=2,
    floor_clips=4,
    long_video_cases=0,
)


@dataclass
class EvalResult:
    config: dict
    model: dict  # native size, fps, parameters
    metrics: dict[str, float] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)  # metric -> cases it stands on
    rows: dict[str, list[dict]] = field(default_factory=dict)  # per prompt / case / task
    figures: dict[str, dict] = field(default_factory=dict)  # plot name -> its data
    samples: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # sheets
    timings: dict[str, float] = field(default_factory=dict)


def run_eval(
    pipe, cfg: EvalConfig | None = None, *, log: Callable[[str], None] = print
) -> EvalResult:
    """Run every section on a `ChronotopePipeline`; see the module docstring."""
    cfg = cfg or EvalConfig()
    return run_subject(pipeline_subject(pipe), cfg, log=log)


def run_subject(
    subject: Subject, cfg: EvalConfig, *, log: Callable[[str], None] = print
) -> EvalResult:
    """Run every section on `subject` (a pipeline's, or a test's stand-in)."""
    res = EvalResult(config=asdict(cfg), model=subject.info())
    runner = sections.Runner(subject, cfg, res)
    t0 = time.perf_counter()
    for name, fn in sections.SECTIONS:
        if (name == "vae" and subject.vae is None) or (
            name == "long_video" and not cfg.long_video_cases
        ):
            continue
        t = time.perf_counter()
        log(f"eval: {name} ...")
        # the held-out and paraphrase sets name words outside the model's vocabulary on purpose:
        # the pipeline's warning for each of those prompts tells the eval nothing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownWordsWarning)
            fn(runner)
        res.timings[name] = time.perf_counter() - t
    res.timings["total"] = time.perf_counter() - t0
    return res


def jsonable(x):
    """NaN -> None (strict JSON), numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def quick_config(**overrides) -> EvalConfig:
    """The `--quick` configuration with some fields replaced (None values are ignored)."""
    return replace(QUICK, **{k: v for k, v in overrides.items() if v is not None})
