"""The eval's sections, each a function of a `Runner` that writes metrics, rows and samples.

Every world clip comes from the frozen eval seed range (`world.seeds.eval_seed(seed, offset)`);
the offsets below keep the sections' clips apart.
"""

from __future__ import annotations

import numpy as np

from chronotope.eval import adherence, families, long_video, physics, tasks
from chronotope.eval.crosscheck import crosscheck_motion, disagreements
from chronotope.eval.detect import detect
from chronotope.eval.groundtruth import parse_floor
from chronotope.eval.metrics import flicker
from chronotope.eval.prompts import SETS, prompt_cases
from chronotope.eval.subject import Subject
from chronotope.eval.tracks import counted, motion_direction, track
from chronotope.tasks.seams import steps
from chronotope.world import ACTIONS, generate_clip
from chronotope.world.seeds import eval_seed

# offsets into the eval seed block of one --seed (world/seeds.py: EVAL_BLOCK seeds)
FLOOR, PHYSICS, FALLING, TASKS, VAE, GAME, PAN, COLLISION, OCCLUSION = (1000 * k for k in range(9))
_SAMPLE_SEED = 1_000_003  # sampling seeds: seed * this + the call's number
UNIFORM = ("moves left", "moves right", "moves up", "moves down")


def mean(values) -> float:
    v = [float(x) for x in values if x == x]  # drop NaN
    return float(np.mean(v)) if v else float("nan")


def median(values) -> float:
    v = [float(x) for x in values if x == x]
    return float(np.median(v)) if v else float("nan")


class Runner:
    """The subject, the config, the result being filled, and the count of generate calls."""

    def __init__(self, subject: Subject, cfg, res):
        self.s, self.cfg, self.res = subject, cfg, res
        self.w, self.h, self.fps, self.ft = subject.width, subject.height, subject.fps, subject.ft
        self.calls = 0

    def gen(self, prompt: str, *, candidates: int = 1, **kw) -> np.ndarray:
        """One generate call at the native size, one sample per case unless told otherwise."""
        self.calls += 1
        kw.setdefault("width", self.w)
        kw.setdefault("height", self.h)
        extra = {} if candidates is None else {"candidates": candidates}
        return self.s.generate(
            prompt,
            steps=self.cfg.steps,
            guidance=self.cfg.guidance,
            early_guidance=self.cfg.early_guidance,
            seed=self.cfg.seed * _SAMPLE_SEED + self.calls,
            **extra,
            **kw,
        )

    def frames_for(self, seconds: float) -> int:
        return 1 + self.ft * max(1, round(seconds * self.fps / self.ft))

    def world(self, offset: int, num_frames: int, **kw):
        return generate_clip(
            eval_seed(self.cfg.seed, offset),
            width=self.w,
            height=self.h,
            num_frames=num_frames,
            fps=self.fps,
            **kw,
        )

    def put(self, prefix: str, values: dict, cases: int | None = None) -> None:
        """Metrics `prefix.key`; `cases`: how many cases each stands on (thresholds use it)."""
        for k, v in values.items():
            self.res.metrics[f"{prefix}.{k}"] = float(v)
            if cases is not None:
                self.res.cases[f"{prefix}.{k}"] = int(cases)

    def sample(self, sheet: str, label: str, frames: np.ndarray, limit: int = 8) -> None:
        rows = self.res.samples.setdefault(sheet, [])
        if len(rows) < limit:
            rows.append((label, frames))


def parse_floor_section(r: Runner) -> None:
    clips = [
        r.world(FLOOR + i, 9, family=("single", "pair")[i % 2], include_heldout=True)
        for i in range(r.cfg.floor_clips)
    ]
    r.put("parse_floor", parse_floor(clips))


def adherence_section(r: Runner) -> None:
    cases = prompt_cases(r.cfg.prompts, seed=r.cfg.seed, width=r.w, height=r.h)
    n = r.frames_for(r.cfg.seconds)
    scores, rows, videos = [], [], []
    for case in cases:
        frames = r.gen(case.text, num_frames=n)
        dets = detect(frames)
        s = adherence.score_video(case, frames, r.fps, dets)
        scores.append(s)
        row = {"set": case.set, "prompt": case.text, **s}
        row.update(_second_opinion(case, frames, dets, r.fps))
        rows.append(row)
        videos.append((case, frames, dets))
        r.sample(f"adherence_{case.set}", case.text, frames)
    r.put("adherence", adherence.summarize(cases, scores), cases=r.cfg.prompts)
    r.res.rows["adherence"] = rows
    _crosscheck_summary(r, rows)
    _video_figures(r, [(f, d) for c, f, d in videos if c.set == "in_distribution"])
    r.res.figures["adherence"] = {
        "sets": list(SETS),
        **{
            a: [r.res.metrics.get(f"adherence.{s}.{a}", float("nan")) for s in SETS]
            for a in adherence.ATTRIBUTES
        },
    }


def _second_opinion(case, frames, dets, fps: float) -> dict:
    """The main detector's direction and the cross-check's, for single uniform/still prompts."""
    color, _, motion = case.objects[0]
    if len(case.objects) != 1 or motion not in (*UNIFORM, "stays still"):
        return {}
    scale, seconds = float(min(frames.shape[1:3])), (len(frames) - 1) / fps
    objects = counted(track(dets, scale=scale), len(frames), scale)
    mine = next((tr for tr in objects if tr.color == color), None)
    main = None if mine is None else motion_direction(mine, scale, fps, seconds)
    return {"main": main, "cross": crosscheck_motion(frames, color, fps)}


def _crosscheck_summary(r: Runner, rows: list[dict]) -> None:
    judged = [row for row in rows if "main" in row]
    if not judged:
        return
    found = disagreements(judged)
    r.put("crosscheck", {"disagreement": found["fraction"], "cases": found["n"]})
    r.res.rows["crosscheck"] = [
        {"prompt": row["prompt"], "main": row["main"], "cross": row["cross"]}
        for row in found["rows"]
    ]


def _video_figures(r: Runner, videos) -> None:
    flick = [flicker(f, d) for f, d in videos]
    motion = [float(steps(f).mean()) for f, _ in videos]
    perm = [physics.permanence(f) for f, _ in videos]
    r.put("video", {"flicker": mean(flick), "motion": mean(motion)})
    r.put(
        "physics",
        {
            "size_permanence": mean([p["size"] for p in perm]),
            "count_permanence": mean([p["count"] for p in perm]),
        },
    )


def physics_section(r: Runner) -> None:
    cfg = r.cfg
    total = cfg.cond_frames + cfg.new_frames
    cases = [
        r.world(PHYSICS + i, total, family="single", motion=UNIFORM[i % 4])
        for i in range(cfg.physics_cases)
    ]
    scores, rows = [], []
    for i, clip in enumerate(cases):
        given = clip.frames[: cfg.cond_frames]
        out = r.gen(clip.caption, video=given, extend="forward", num_frames=cfg.new_frames)
        sc = physics.score_continuation(clip, cfg.cond_frames, out)
        scores.append(sc)
        rows.append({"caption": clip.caption, **sc.velocity, "found": sc.found})
        if i < 2:
            r.sample("physics", f"truth: {clip.caption}", clip.frames)
            r.sample("physics", "model continuation", out[: len(clip.frames)])
    names = ["model", "parse_floor", "linear", "direction_median_speed", "copy_last"]
    vel = {k: mean([s.velocity.get(k, np.nan) for s in scores]) for k in names}
    pos = {k: mean([s.position.get(k, np.nan) for s in scores]) for k in names}
    found = {"found": mean([s.found for s in scores])}
    r.put("physics.velocity_error", {**vel, **found}, cases=cfg.physics_cases)
    r.put("physics.position_error", pos, cases=cfg.physics_cases)
    r.res.rows["physics"] = rows
    r.res.figures["velocity_error"] = {
        "predictor": names,
        "velocity": [vel[k] for k in names],
        "position": [pos[k] for k in names],
    }
    _falling(r)


def _falling(r: Runner) -> None:
    n = r.frames_for(r.cfg.seconds)
    falls, ratios, truth = [], [], []
    for i in range(r.cfg.falling_cases):
        clip = r.world(FALLING + i, n, family="single", motion="falls and bounces")
        color = clip.spec.objects[0].color
        out = r.gen(clip.caption, image=clip.frames[0], num_frames=n)
        ok, ratio = physics.fall_check(out, color, r.fps)
        falls.append(ok)
        ratios.append(ratio)
        truth.append(physics.fall_check(clip.frames, color, r.fps)[0])
    r.put(
        "physics",
        {
            "falls": mean(falls),  # falls near gravity, then bounces (a lost object fails)
            "gravity_ratio": median(ratios),
            "falls.parse_floor": mean(truth),
        },
        cases=r.cfg.falling_cases,
    )


def world_section(r: Runner) -> None:
    """The world-simulation and camera claims: each family from its first frame and caption."""
    n = r.frames_for(r.cfg.world_seconds)
    checks = {  # name: (seed offset, pins of case i, judge, metric)
        "game": (GAME, lambda i: {"action": ACTIONS[i % len(ACTIONS)]}, _game_ok, "action"),
        "pan": (PAN, lambda i: {}, _pan_ok, "direction"),
        "collision": (COLLISION, lambda i: {}, _collision_ok, "bounce"),
    }
    for name, (offset, pins, judge, key) in checks.items():
        ok, truth = [], []
        for i in range(r.cfg.world_cases):
            clip = r.world(offset + i, n, family=name, **pins(i))
            out = r.gen(clip.caption, image=clip.frames[0], num_frames=n)
            ok.append(judge(out, clip, r.fps))
            truth.append(judge(clip.frames, clip, r.fps))
            r.sample("world", f"{name}: {clip.caption}", out, limit=12)
        r.put(f"world.{name}", {key: mean(ok), f"{key}.truth": mean(truth)}, r.cfg.world_cases)
    _occlusion(r)


def _game_ok(frames, clip, fps) -> bool:
    p = clip.spec.objects[0]
    return bool(families.game_action(frames, p.color, p.motion, fps).passed)


def _pan_ok(frames, clip, fps) -> bool:
    return bool(families.pan_direction(frames, fps, clip.spec.direction).passed)


def _collision_ok(frames, clip, fps) -> bool:
    colors = tuple(o.color for o in clip.spec.objects)
    return bool(families.collision_bounce(frames, colors, fps).passed)


def _occlusion(r: Runner) -> None:
    cases = physics.occlusion_cases(
        r.cfg.world_cases,
        seed=eval_seed(r.cfg.seed, OCCLUSION),
        width=r.w,
        height=r.h,
        max_frames=r.frames_for(r.cfg.world_seconds),
        fps=r.fps,
        ft=r.ft,
    )
    ok, truth = [], []
    for clip in cases:
        color = clip.spec.objects[0].color
        out = r.gen(clip.caption, image=clip.frames[0], num_frames=len(clip.frames))
        ok.append(families.occlusion_reappears(out, color, r.fps).passed)
        truth.append(families.occlusion_reappears(clip.frames, color, r.fps).passed)
        r.sample("world", f"occlusion: {clip.caption}", out, limit=12)
    r.put("world.occlusion", {"reappears": mean(ok), "reappears.truth": mean(truth)}, len(ok))


def tasks_section(r: Runner) -> None:
    """Each check on `task_cases` clips, one sample each (`tasks.*`); with
    `default_candidates`, again with the pipeline's default candidates (`tasks_default.*`)."""
    rows = _task_rows(r, candidates=1, prefix="tasks")
    r.res.rows["tasks"] = rows
    if r.cfg.default_candidates:
        r.res.rows["tasks_default"] = _task_rows(r, candidates=None, prefix="tasks_default")


def _task_rows(r: Runner, *, candidates, prefix: str) -> list[dict]:
    cases = [_task_case(r, i, candidates) for i in range(r.cfg.task_cases)]
    rows = []
    for name in r.cfg.tasks:
        per_case = [case[name] for case in cases]
        summary = {}
        for key in per_case[0]:
            values = [case[key] for case in per_case]
            is_flag = isinstance(values[0], (bool, np.bool_))
            summary[key] = mean(values) if is_flag else median(values)
        r.put(f"{prefix}.{name}", summary, cases=len(per_case))
        rows.append({"task": name, "cases": len(per_case), **summary})
    r.put(prefix, {"pass_rate": mean([row["pass"] for row in rows])}, len(rows) * len(cases))
    return rows


# task-check cases: the clip's motion and the motion of the clip it is connected to
_TASK_MOTIONS = (
    ("moves right", "moves left"),
    ("moves left", "moves right"),
    ("moves down", "moves up"),
    ("moves up", "moves down"),
)


def _task_case(r: Runner, i: int, candidates) -> dict[str, dict]:
    """Every task check once, on case i's clips; returns name -> that check's figures."""
    cfg = r.cfg
    n = r.frames_for(cfg.seconds)
    length = max(n, cfg.cond_frames + 1)
    motion, other_motion = _TASK_MOTIONS[i % len(_TASK_MOTIONS)]
    clip = r.world(TASKS + 3 * i, length, family="single", motion=motion)
    pins = {"color": clip.spec.objects[0].color, "shape": clip.spec.objects[0].shape}
    other = r.world(TASKS + 3 * i + 1, length, family="single", motion=other_motion, **pins)
    c = cfg.cond_frames
    ctx = r.s.context_frames // r.ft * r.ft + 1  # frames each extension keeps
    long_n = cfg.long_frames or r.s.window_frames + 2 * (r.s.window_frames - ctx)

    def gen(prompt, **kw):
        return r.gen(prompt, candidates=candidates, **kw)

    checks = {
        "extend_forward": lambda: tasks.extend_forward(gen, clip, c, cfg.new_frames),
        # 1 + k*ft: a whole backward window, nothing made and dropped
        "extend_backward": lambda: tasks.extend_backward(gen, clip, c, cfg.new_frames + 1),
        "loop": lambda: tasks.loop(gen, clip, n),
        # the same object in both clips, moving apart: the prompt names both clips
        "connect": lambda: tasks.connect(
            gen, clip, other, c, f"{clip.caption} and {other.caption}", cfg.new_frames
        ),
        "image_to_video": lambda: tasks.image_to_video(gen, clip, n),
        "restyle": lambda: tasks.restyle(gen, clip, cfg.restyle_strength),
        # its object stays in view: in the world a moving one leaves the frame in seconds
        "long_video": lambda: tasks.long_video(
            gen, r.world(TASKS + 3 * i + 2, long_n, family="single", motion="stays still")
        ),
    }
    found = {}
    for name in cfg.tasks:
        out = checks[name]()
        frames = out.pop("frames")
        if i == 0 and candidates == 1:
            r.sample("tasks", name, frames)
        out.pop("prompt", None)
        found[name] = out
    return found


def vae_section(r: Runner) -> None:
    """Reconstruction of held-out world clips, and adherence of the world's own clips of the
    in-distribution prompts through the VAE: the most the DiT can reach through this decoder."""
    import torch

    from chronotope.data import to_tensor, to_uint8
    from chronotope.eval.metrics import frame_psnr, video_ssim
    from chronotope.world.clip import render_clip

    vae, n = r.s.vae, r.frames_for(r.cfg.seconds)

    def roundtrip(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean_, _ = vae.encode_chunked(to_tensor(frames)[None])
            return to_uint8(vae.decode_chunked(mean_)[0])

    ps, ss = [], []
    for i in range(r.cfg.vae_clips):
        clip = r.world(VAE + i, n, include_heldout=True)
        y = roundtrip(clip.frames)
        ps.append(frame_psnr(y, clip.frames))
        ss.append(video_ssim(y, clip.frames))
    r.put("vae", {"psnr": mean(ps), "ssim": mean(ss)})
    cases = prompt_cases(r.cfg.prompts, seed=r.cfg.seed, width=r.w, height=r.h)
    cases = [c for c in cases if c.set == "in_distribution"]
    truth = [render_clip(c.spec, num_frames=n, fps=r.fps, caption=c.text) for c in cases]
    scores = [adherence.score_video(c, roundtrip(t.frames), r.fps) for c, t in zip(cases, truth)]
    r.put("vae.ceiling", {a: mean([s[a] for s in scores]) for a in adherence.ATTRIBUTES})


SECTIONS = (
    ("parse_floor", parse_floor_section),
    ("adherence", adherence_section),
    ("physics", physics_section),
    ("world", world_section),
    ("tasks", tasks_section),
    ("vae", vae_section),
    ("long_video", long_video.section),  # minute-long videos: drift, presence, joins
)
