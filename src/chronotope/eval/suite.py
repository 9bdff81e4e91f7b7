"""The whole evaluation of one pipeline: parse floor, adherence, physics, tasks, video, VAE.

`run_eval(pipe, cfg)` generates everything at the pipeline's native size and fps, measures it,
and returns an `EvalResult`: flat metrics (`section.name`, what thresholds refer to), per-item
rows, the data behind every plot, and sample videos for contact sheets. `report.py` writes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from chronotope.data import to_tensor, to_uint8
from chronotope.errors import UsageError
from chronotope.eval import adherence, physics, tasks
from chronotope.eval.detect import detect
from chronotope.eval.groundtruth import parse_floor
from chronotope.eval.metrics import flicker, frame_psnr, video_ssim
from chronotope.eval.tracks import track
from chronotope.tasks.seams import steps
from chronotope.world import generate_clip, scene_from_prompt

HELDOUT_SEED = 10**9  # world seeds far above any training seed: held-out clips
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
    seed: int = 0
    steps: int | None = None  # solver steps (None: the pipeline's default)
    guidance: float | None = None
    early_guidance: float | None = None  # None: the model's
    prompts: int = 14  # single-object prompts (plus prompts // 3 pairs and 2 held-out)
    seconds: float = 2.0  # length of text-to-video clips
    physics_cases: int = 8  # uniform-motion continuations
    cond_frames: int = 5  # given frames (1 + k*ft)
    new_frames: int = 8  # generated after them (a multiple of ft: also the connect bridge)
    falling_cases: int = 8  # with 4, one clip moved the fraction by 0.25 against a bar of 0.8
    occlusion_cases: int = 2
    occlusion_max_frames: int = 33
    restyle_strength: float = 0.5
    long_frames: int | None = None  # None: three sampling windows (two extensions)
    tasks: tuple[str, ...] = TASKS  # which task checks to run
    task_cases: int = 4  # clips each task check runs on

    def __post_init__(self):
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise UsageError(
                f"unknown task check(s) {', '.join(unknown)}; valid: {', '.join(TASKS)}"
            )
        counts = ("prompts", "physics_cases", "falling_cases", "cond_frames", "new_frames")
        for name in (*counts, "floor_clips", "task_cases"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}", param=name)

    vae_clips: int = 4
    floor_clips: int = 8


QUICK = EvalConfig(
    # 10 in-distribution prompts at 16 steps: with 5 at 8 steps one prompt moved an accuracy by
    # 0.2, and two models' order on 40 prompts was reversed on those 5 (docs/MODEL_CARD.md)
    steps=16,
    prompts=8,
    seconds=1.0,
    physics_cases=2,
    falling_cases=1,
    occlusion_cases=1,
    occlusion_max_frames=17,
    vae_clips=2,
    floor_clips=4,
    # the long video (two full sampling windows) and the backward extension cost more than
    # the rest of the quick run together; the full run has them
    tasks=("extend_forward", "loop", "connect", "image_to_video", "restyle"),
    task_cases=1,
)


@dataclass
class EvalResult:
    config: dict
    model: dict  # native size, fps, parameters
    metrics: dict[str, float] = field(default_factory=dict)
    rows: dict[str, list[dict]] = field(default_factory=dict)  # per prompt / case / task
    figures: dict[str, dict] = field(default_factory=dict)  # plot name -> its data
    samples: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # sheets
    timings: dict[str, float] = field(default_factory=dict)


def _median(values) -> float:
    v = [x for x in values if x == x]
    return float(np.median(v)) if v else float("nan")


def _mean(values) -> float:
    v = [x for x in values if x == x]  # drop NaN
    return float(np.mean(v)) if v else float("nan")


class _Runner:
    def __init__(self, pipe, cfg: EvalConfig, log: Callable[[str], None]):
        self.pipe, self.cfg, self.log = pipe, cfg, log
        c = pipe.config
        self.w, self.h, self.fps, self.ft = int(c.width), int(c.height), float(c.fps), pipe.ft
        self.scale = float(min(self.w, self.h))
        self.calls = 0
        self.res = EvalResult(config=asdict(cfg), model=self._model_info())

    def _model_info(self) -> dict:
        n = sum(p.numel() for p in self.pipe.components_parameters())
        return {"width": self.w, "height": self.h, "fps": self.fps, "parameters": int(n)}

    def gen(self, prompt: str, **kw) -> np.ndarray:
        self.calls += 1
        kw.setdefault("width", self.w)
        kw.setdefault("height", self.h)
        out = self.pipe(
            prompt,
            steps=self.cfg.steps,
            guidance=self.cfg.guidance,
            early_guidance=self.cfg.early_guidance,
            seed=self.cfg.seed + self.calls,
            **kw,
        )
        return out.frames

    def frames_for(self, seconds: float) -> int:
        return 1 + self.ft * max(1, round(seconds * self.fps / self.ft))

    def world(self, seed: int, num_frames: int, **kw):
        return generate_clip(
            seed, width=self.w, height=self.h, num_frames=num_frames, fps=self.fps, **kw
        )

    def section(self, name: str, fn) -> None:
        t0 = time.perf_counter()
        self.log(f"eval: {name} ...")
        fn()
        self.res.timings[name] = time.perf_counter() - t0

    def put(self, prefix: str, values: dict) -> None:
        for k, v in values.items():
            self.res.metrics[f"{prefix}.{k}"] = float(v)


def run_eval(
    pipe, cfg: EvalConfig | None = None, *, log: Callable[[str], None] = print
) -> EvalResult:
    """Run every section on `pipe`; see the module docstring."""
    cfg = cfg or EvalConfig()
    r = _Runner(pipe, cfg, log)
    t0 = time.perf_counter()
    r.section("parse_floor", lambda: _parse_floor(r))
    r.section("adherence", lambda: _adherence(r))
    r.section("physics", lambda: _physics(r))
    r.section("tasks", lambda: _tasks(r))
    r.section("vae", lambda: _vae(r))
    r.res.timings["total"] = time.perf_counter() - t0
    return r.res


def _parse_floor(r: _Runner) -> None:
    clips = [
        r.world(HELDOUT_SEED + i, 9, family=("single", "pair")[i % 2], include_heldout=True)
        for i in range(r.cfg.floor_clips)
    ]
    r.put("parse_floor", parse_floor(clips))


def _adherence(r: _Runner) -> None:
    prompts = adherence.prompt_set(r.cfg.prompts, seed=r.cfg.seed)
    n = r.frames_for(r.cfg.seconds)
    scores, rows, flick, motion, speed = [], [], [], [], []
    for p in prompts:
        frames = r.gen(p.text, num_frames=n)
        dets = detect(frames)
        s = adherence.score_video(p, frames, dets)
        scores.append(s)
        rows.append({"prompt": p.text, "kind": p.kind, **s})
        r.res.samples.setdefault("adherence", []).append((p.text, frames))
        flick.append(flicker(frames, dets))
        motion.append(float(steps(frames).mean()))
        tr = track(dets, scale=r.scale)
        if tr and len(tr[0].frames) >= 2:
            c = np.asarray(tr[0].centers) / r.scale
            speed.append(float(np.linalg.norm(np.diff(c, axis=0), axis=1).mean() * r.fps))
    summary = adherence.summarize(prompts, scores)
    r.put("adherence", summary)
    r.res.rows["adherence"] = rows
    r.put("video", {"flicker": _mean(flick), "motion": _mean(motion), "speed": _mean(speed)})
    perm = [physics.permanence(f) for _, f in r.res.samples["adherence"][: r.cfg.prompts]]
    r.put(
        "physics",
        {
            "size_permanence": _mean([p["size"] for p in perm]),
            "count_permanence": _mean([p["count"] for p in perm]),
        },
    )
    attrs = {
        a: [summary.get(f"{k}.{a}", float("nan")) for k in adherence.KINDS]
        for a in adherence.ATTRIBUTES
    }
    r.res.figures["adherence"] = {"kinds": list(adherence.KINDS), **attrs}


def _physics(r: _Runner) -> None:
    cfg = r.cfg
    total = cfg.cond_frames + cfg.new_frames
    cases = physics.uniform_cases(
        cfg.physics_cases,
        seed=HELDOUT_SEED + 100,
        width=r.w,
        height=r.h,
        num_frames=total,
        fps=r.fps,
    )
    scores, rows = [], []
    for i, clip in enumerate(cases):
        out = r.gen(
            clip.caption,
            video=clip.frames[: cfg.cond_frames],
            extend="forward",
            num_frames=cfg.new_frames,
        )
        sc = physics.score_continuation(clip, cfg.cond_frames, out)
        scores.append(sc)
        rows.append(
            {
                "caption": clip.caption,
                **{f"v_{k}": v for k, v in sc.velocity.items()},
                "found": sc.found,
            }
        )
        if i < 2:
            r.res.samples.setdefault("physics", []).append((f"truth: {clip.caption}", clip.frames))
            r.res.samples["physics"].append(("model continuation", out[: len(clip.frames)]))
    names = ["model", "parse_floor", "linear", "copy_last"]
    vel = {k: _mean([s.velocity.get(k, np.nan) for s in scores]) for k in names}
    pos = {k: _mean([s.position.get(k, np.nan) for s in scores]) for k in names}
    r.put("physics", {f"velocity_error.{k}": v for k, v in vel.items()})
    r.put("physics", {f"position_error.{k}": v for k, v in pos.items()})
    r.put("physics", {"found": _mean([s.found for s in scores])})
    r.res.rows["physics"] = rows
    r.res.figures["velocity_error"] = {
        "predictor": names,
        "velocity": [vel[k] for k in names],
        "position": [pos[k] for k in names],
    }
    _falling(r)
    _occlusion(r)


def _falling(r: _Runner) -> None:
    n = r.frames_for(1.0)
    cases = physics.falling_cases(
        r.cfg.falling_cases, seed=HELDOUT_SEED + 200, width=r.w, height=r.h, num_frames=n, fps=r.fps
    )
    acc, truth = [], []
    for clip in cases:
        color = clip.spec.objects[0].color
        out = r.gen(clip.caption, image=clip.frames[0], num_frames=n)
        acc.append(physics.fall_acceleration(out, color, r.fps))
        truth.append(physics.fall_acceleration(clip.frames, color, r.fps))
    measured = [a for a in acc if not np.isnan(a)]
    ratios = [physics.gravity_ratio(a) for a in measured]
    r.put(
        "physics",
        {
            # a lost object (NaN) counts as a failure: it did not visibly accelerate
            "falls_accelerate": float(np.mean([a > 0 for a in acc])) if acc else float("nan"),
            "gravity_ratio": float(np.median(ratios)) if ratios else float("nan"),
            "gravity_ratio.parse_floor": _median([physics.gravity_ratio(a) for a in truth]),
        },
    )


def _occlusion(r: _Runner) -> None:
    cases = physics.occlusion_cases(
        r.cfg.occlusion_cases,
        seed=HELDOUT_SEED + 300,
        width=r.w,
        height=r.h,
        max_frames=r.cfg.occlusion_max_frames,
        fps=r.fps,
        ft=r.ft,
    )
    ok = []
    for clip in cases:
        out = r.gen(clip.caption, image=clip.frames[0], num_frames=len(clip.frames))
        ok.append(physics.reappears(out, clip.spec.objects[0].color))
        r.res.samples.setdefault("occlusion", []).append((clip.caption, out))
    r.put("physics", {"reappears": _mean(ok)})


# task-check cases: the clip's motion and the motion of the clip it is connected to
_TASK_MOTIONS = (
    ("moves right", "moves left"),
    ("moves left", "moves right"),
    ("moves down", "moves up"),
    ("moves up", "moves down"),
)


def _task_case(r: _Runner, i: int) -> dict[str, dict]:
    """Every task check once, on case i's clips; returns name -> that check's figures."""
    cfg = r.cfg
    n = r.frames_for(cfg.seconds)
    length = max(n, cfg.cond_frames + 1)
    motion, other_motion = _TASK_MOTIONS[i % len(_TASK_MOTIONS)]
    clip = r.world(HELDOUT_SEED + 400 + 2 * i, length, family="single", motion=motion)
    other = r.world(HELDOUT_SEED + 401 + 2 * i, length, family="single", motion=other_motion)
    c = cfg.cond_frames
    window = int(r.pipe.config.window_frames)
    ctx = int(r.pipe.config.context_frames) // r.ft * r.ft + 1  # frames each extension keeps
    long_n = cfg.long_frames or window + 2 * (window - ctx)
    checks = {
        "extend_forward": lambda: tasks.extend_forward(r.gen, clip, c, cfg.new_frames),
        # 1 + k*ft: a whole backward window, nothing made and dropped
        "extend_backward": lambda: tasks.extend_backward(r.gen, clip, c, cfg.new_frames + 1),
        "loop": lambda: tasks.loop(r.gen, clip.caption, n),
        # the prompt names both clips (a caption of A alone asks a bridge to keep A's scene,
        # and B's start then arrives as a jump); two scenes are a dissolve, which no prompt
        # steers
        "connect": lambda: tasks.connect(
            r.gen,
            clip.frames[:c],
            other.frames[:c],
            f"{clip.caption} and {other.caption}",
            cfg.new_frames,
        ),
        "image_to_video": lambda: tasks.image_to_video(r.gen, clip, n),
        "restyle": lambda: tasks.restyle(r.gen, clip, cfg.restyle_strength),
        # its object stays in view: in the world a moving one leaves the frame in seconds
        "long_video": lambda: tasks.long_video(
            r.gen, r.world(HELDOUT_SEED + 450 + i, long_n, family="single", motion="stays still")
        ),
    }
    found = {}
    for name in cfg.tasks:
        out = checks[name]()
        frames = out.pop("frames")
        if i == 0:
            r.res.samples.setdefault("tasks", []).append((name, frames))
        out.pop("prompt", None)
        found[name] = out
    return found


def _tasks(r: _Runner) -> None:
    """Each check on `task_cases` clips (motions right, left, down, up, ...): a figure is the
    median over the cases, `pass` (and every yes/no) the fraction of cases that hold."""
    cases = [_task_case(r, i) for i in range(r.cfg.task_cases)]
    rows = []
    for name in r.cfg.tasks:
        per_case = [case[name] for case in cases]
        summary = {}
        for key in per_case[0]:
            values = [case[key] for case in per_case]
            is_flag = isinstance(values[0], (bool, np.bool_))
            summary[key] = _mean([float(v) for v in values]) if is_flag else _median(values)
        r.put(f"tasks.{name}", summary)
        rows.append({"task": name, "cases": len(per_case), **summary})
    r.put("tasks", {"pass_rate": _mean([row["pass"] for row in rows])})
    r.res.rows["tasks"] = rows
    # every case's own figures (results.json only: which motion failed which check)
    r.res.rows["task_cases"] = [
        {
            "task": name,
            "case": i,
            "motion": _TASK_MOTIONS[i % len(_TASK_MOTIONS)][0],
            **jsonable(c[name]),
        }
        for name in r.cfg.tasks
        for i, c in enumerate(cases)
    ]


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


@torch.no_grad()
def _vae(r: _Runner) -> None:
    vae = r.pipe.vae
    n = r.frames_for(r.cfg.seconds)
    ps, ss = [], []
    for i in range(r.cfg.vae_clips):
        clip = r.world(HELDOUT_SEED + 500 + i, n, include_heldout=True)
        x = to_tensor(clip.frames)[None]  # (1, 3, T, H, W)
        mean, _ = vae.encode_chunked(x)
        y = to_uint8(vae.decode_chunked(mean)[0])
        ps.append(frame_psnr(y, clip.frames))
        ss.append(video_ssim(y, clip.frames))
    r.put("vae", {"psnr": _mean(ps), "ssim": _mean(ss)})
    _vae_ceiling(r)


@torch.no_grad()
def _vae_ceiling(r: _Runner) -> None:
    """Adherence of the VAE's reconstructions of the world's own clips for the adherence
    prompts: the most the DiT can reach through this decoder (a shape the decoder rounds off
    is lost to the detector however right the latent is)."""
    vae = r.pipe.vae
    prompts = adherence.prompt_set(r.cfg.prompts, seed=r.cfg.seed)
    n = r.frames_for(r.cfg.seconds)
    scores = []
    for i, p in enumerate(prompts):
        clip = scene_from_prompt(
            p.text, seed=HELDOUT_SEED + 600 + i, width=r.w, height=r.h, num_frames=n, fps=r.fps
        )
        mean, _ = vae.encode_chunked(to_tensor(clip.frames)[None])
        scores.append(adherence.score_video(p, to_uint8(vae.decode_chunked(mean)[0])))
    summary = adherence.summarize(prompts, scores)
    r.put("vae.ceiling", {k: summary[k] for k in ("color", "shape", "motion", "count")})


def quick_config(**overrides) -> EvalConfig:
    """The `--quick` configuration with some fields replaced (None values are ignored)."""
    return replace(QUICK, **{k: v for k, v in overrides.items() if v is not None})
