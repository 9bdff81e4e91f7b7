"""`TrainConfig`: every training default in one typed dataclass, with named presets.

The CLI builds its flags from these fields (`chronotope train --preset world-tiny --lr 1e-4`),
so a field is an option and an option is a field; `validate` names the valid range of each.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from chronotope.errors import UsageError
from chronotope.flow.masks import TaskMix
from chronotope.flow.path import ShiftConfig

Size = tuple[int, int]  # (width, height) in pixels


@dataclass(frozen=True)
class TrainConfig:
    # ---- model ----
    model: str = "world-tiny"  # a DIT_PRESETS name
    width: int | None = None  # overrides of the preset (None: the preset's value)
    depth: int | None = None
    heads: int | None = None
    patch: tuple[int, int, int] = (1, 2, 2)  # (pt, ph, pw) over the latent
    # start from these DiT weights instead of a random init (fine-tuning; a fresh optimizer):
    # "bundled", a pipeline folder, a run's final/ folder, or a transformer folder (the same
    # architecture)
    init: str | None = None
    # LoRA rank: train a peft adapter on the `init` DiT's attention and MLP projections, the
    # rest frozen, and write it as final/pytorch_lora_weights.safetensors (0: train every weight)
    lora: int = 0
    # prior preservation under --lora with `--data` clips: this share of the clips trained on
    # are world clips (a pool of `streams.PRESERVE_CLIPS`) whose target is the frozen base
    # model's own prediction, so the adapter learns the new clips without changing what the
    # base already draws (0: off)
    preserve: float = 0.0
    # ---- data ----
    # "world" (the procedural stream), a manifest CSV (`path,text,...`), or a folder of clips
    # each captioned by a `.txt` beside it; real clips are read at `fps`, at the pixel area of
    # the one of `sizes` nearest in aspect (their own aspect kept), at most `seconds[1]` long,
    # and encoded once (data/captioned.py)
    data: str = "world"
    vae: str = "bundled"  # "bundled", a CausalVAE folder, or "none" (pixel space: fs=ft=1)
    sizes: tuple[Size, ...] = ((64, 64), (112, 64), (64, 112))  # world clip sizes (W, H)
    seconds: tuple[float, float] = (1.0, 8.0)  # world clip duration range
    fps: float = 8.0
    image_prob: float = 0.1  # world: fraction of 1-frame images
    world_clips: int = 4000  # world: cycle over this many clips, their latents cached (0: endless)
    # world: scene-family weights, e.g. (("single", 0.4), ("pair", 0.3), ...); families left
    # out are never drawn; () keeps the world's own mix (world.scenes.FAMILY_WEIGHTS)
    world_families: tuple[tuple[str, float], ...] = ()
    caption_dropout: float = 0.1  # fraction of captions replaced by "" (for CFG)
    text_max_length: int = 64
    # ---- packing ----
    token_budget: int = 2048  # tokens per packed sequence (= per step)
    buffer_size: int = 64  # samples the packer chooses from
    # ---- flow ----
    sigma_mean: float = 0.0  # logit-normal noise levels
    sigma_std: float = 1.0
    shift: ShiftConfig = field(default_factory=ShiftConfig)
    tasks: TaskMix = field(default_factory=TaskMix)
    # ---- optimisation ----
    steps: int = 20_000
    # wall-time bound over the whole run, resumes included: a resumed run trains on until its
    # total reaches it (None: run all `steps`); counted from the command's start
    minutes: float | None = None
    # minutes of the run's wall time (as `minutes` counts it) at which the EMA model is also
    # saved as out/at-<M>min/, a folder like final/ that `export` takes (a time-to-quality curve)
    snapshots: tuple[float, ...] = ()
    lr: float = 4e-4
    # after warmup: "cosine" over `steps` (to min_lr_ratio*lr), "constant", or "wsd" (constant,
    # then linear to min_lr_ratio*lr over the last `cooldown` of the run: of `minutes` of wall
    # time where that is set, so a time-bounded run ends cooled down whatever its speed)
    lr_schedule: str = "cosine"
    cooldown: float = 0.3  # wsd: the fraction of the run spent decaying
    warmup_steps: int = 300
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    # ---- parallelism (under torchrun; one process is world size 1, docs/DISTRIBUTED.md) ----
    # processes this command starts on this machine (gloo DDP, one thread each; each fills its
    # share of the world pool's latents first); 1: one process with torch's threads
    ranks: int = 1
    parallel: str = "ddp"  # over several ranks: "ddp" (replicated) or "fsdp" (FSDP2, sharded)
    sequence_parallel: bool = False  # Ulysses: each rank holds a slice of every pack's tokens
    # packs in a step's global batch (None: the resumed run's, else WORLD_SIZE; 1 with
    # sequence_parallel); the same global batch gives the same run on any number of ranks
    packs_per_step: int | None = None
    activation_checkpointing: bool = False  # recompute each block in backward (less memory)
    compile: bool = False  # torch.compile each block
    mixed_precision: str | None = None  # "bf16": with fsdp, bf16 compute, fp32 reduction
    # ---- logs, samples, checkpoints ----
    out: str = "runs/world-tiny"
    log_every: int = 10
    sample_every: int = 1000  # 0: never (a final sample is still written)
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    sample_prompts: tuple[str, ...] = (
        "a red circle moves right on a white background",
        "a blue square falls and bounces",
    )
    sample_size: Size = (64, 64)
    sample_frames: int = 17
    sample_steps: int = 24
    sample_guidance: float = 3.0
    progress: bool = True  # tqdm bar

    def validate(self) -> TrainConfig:
        """Raise `UsageError` naming the valid range of the first bad field; return self."""
        checks = [
            ("token_budget", self.token_budget >= 16, ">= 16"),
            ("buffer_size", self.buffer_size >= 1, ">= 1"),
            ("steps", self.steps >= 1, ">= 1"),
            ("minutes", self.minutes is None or self.minutes > 0, "> 0"),
            ("lora", self.lora >= 0, ">= 0 (0: train every weight)"),
            ("preserve", 0 <= self.preserve < 1, "in [0, 1)"),
            ("lr", 0 < self.lr < 1, "in (0, 1)"),
            (
                "lr_schedule",
                self.lr_schedule in ("cosine", "constant", "wsd"),
                "cosine, constant or wsd",
            ),
            ("cooldown", 0 < self.cooldown <= 1, "in (0, 1]"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "in [0, 1]"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("betas", all(0 <= b < 1 for b in self.betas), "two values in [0, 1)"),
            ("grad_clip", self.grad_clip > 0, "> 0 (use a large value to disable)"),
            ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
            ("caption_dropout", 0 <= self.caption_dropout <= 1, "in [0, 1]"),
            ("sigma_std", self.sigma_std > 0, "> 0"),
            ("fps", self.fps > 0, "> 0"),
            ("world_clips", self.world_clips >= 0, ">= 0 (0: an endless stream)"),
            ("image_prob", 0 <= self.image_prob <= 1, "in [0, 1]"),
            ("seconds", 0 < self.seconds[0] <= self.seconds[1], "0 < min <= max"),
            ("sizes", bool(self.sizes) and all(min(s) >= 1 for s in self.sizes), "W,H >= 1"),
            ("patch", len(self.patch) == 3 and min(self.patch) >= 1, "three integers >= 1"),
            ("parallel", self.parallel in ("ddp", "fsdp"), "ddp or fsdp"),
            ("packs_per_step", self.packs_per_step is None or self.packs_per_step >= 1, ">= 1"),
            ("ranks", self.ranks >= 1, ">= 1 (processes this command starts)"),
            ("snapshots", all(m > 0 for m in self.snapshots), "minutes > 0"),
            ("mixed_precision", self.mixed_precision in (None, "bf16"), "bf16"),
            ("log_every", self.log_every >= 1, ">= 1"),
            ("sample_every", self.sample_every >= 0, ">= 0"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
            ("keep_checkpoints", self.keep_checkpoints >= 1, ">= 1"),
            ("sample_frames", self.sample_frames >= 1, ">= 1"),
            ("sample_steps", self.sample_steps >= 1, ">= 1"),
            ("sample_guidance", self.sample_guidance >= 0, ">= 0"),
            ("text_max_length", self.text_max_length >= 2, ">= 2"),
        ]
        for name, ok, valid in checks:
            if not ok:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be {valid}, got {getattr(self, name)}",
                    param=name,
                )
        if self.lora and self.init is None:
            raise UsageError(
                "--lora trains an adapter on a trained DiT: give --init bundled or a pipeline "
                "folder",
                param="lora",
            )
        if self.preserve and not self.lora:
            raise UsageError(
                "--preserve keeps a LoRA adapter close to its base: it needs --lora RANK",
                param="preserve",
            )
        if self.world_families:
            from chronotope.world import check_family_weights

            try:
                check_family_weights(dict(self.world_families))
            except UsageError as e:
                raise UsageError(f"--world-families: {e}", param="world_families") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["shift"] = ShiftConfig(**d["shift"])
        d["tasks"] = TaskMix(**d["tasks"])
        for name in ("patch", "seconds", "betas", "sample_prompts", "sample_size", "snapshots"):
            d[name] = tuple(d[name])
        d["sizes"] = tuple(tuple(s) for s in d["sizes"])
        d["world_families"] = tuple((str(n), float(w)) for n, w in d["world_families"])
        return cls(**d)

    def override(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


def _lr_at(cfg: TrainConfig, step: int, elapsed_s: float | None = None) -> float:
    """Linear warmup over `warmup_steps`, then constant, cosine or warmup-stable-decay down to
    min_lr_ratio * lr. `elapsed_s`: the run's wall time so far; a wsd run bounded by `minutes`
    decays by whichever of steps and time is further along."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    floor = cfg.min_lr_ratio
    if cfg.lr_schedule == "wsd":
        if cfg.minutes is not None and elapsed_s is not None:
            progress = max(progress, min(1.0, elapsed_s / (60 * cfg.minutes)))
        decay = min(1.0, max(0.0, (progress - (1 - cfg.cooldown)) / cfg.cooldown))
        return cfg.lr * (1 - (1 - floor) * decay)
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


lr_at = _lr_at

# world-tiny: ~9M-param DiT on the world VAE's 16x8x8 latents (64x64 px, 8 fps, <= 8 s: at most
# 17 latent frames x 16 tokens = 272 tokens per clip, an image 16). A 2048-token pack holds
# ~15-100 samples, so one step sees many clips; lr 4e-4 with warmup suits adaLN-zero DiTs at
# this width; EMA 0.999 averages over ~1000 steps, a fraction of a couple of CPU-hours' run.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "world-tiny": TrainConfig(),
    # world-speedrun (issue 36): the world-tiny recipe from scratch for an hour on both cores of
    # this machine, by itself: two ranks (gloo DDP, a thread each, two packs per step), each
    # encoding half the world pool before training: 3,028 tokens/s against 2,392 for one process
    # with two threads and 1,896 with one (experiments/speedrun_layout.py, AVX-512 bf16 EPYC,
    # 2026-12-07); `minutes` counts the whole run from the command's start, resumes included.
    # Levers join it only when their speedrun curve beats it (docs/experiments.md): lever 2, the
    # learning rate cooled down to the wall budget (wsd), a 1,500-clip pool, 1-4 s clips
    "world-speedrun": TrainConfig(
        ranks=2,
        minutes=60.0,
        lr_schedule="wsd",
        world_clips=1500,
        seconds=(1.0, 4.0),
        out="runs/world-speedrun",
    ),
    "world-small": TrainConfig(
        model="world-small", token_budget=4096, lr=2e-4, ema_decay=0.9995, out="runs/world-small"
    ),
    # lora (issue 40): a rank-8 adapter on the bundled DiT from one's own clips (`--data`), what
    # `train --lora` starts from. lr 2e-3: B starts at zero and the adapter is small, so it takes
    # larger steps than the full model's 4e-4 (1e-3 learned the new words less in 14 minutes); a
    # short warmup and an EMA over ~100 steps suit a run of hundreds of steps; wsd cools a
    # `--minutes` run down by its wall time. preserve 0.4: without it the adapter blurred the
    # base's shapes (shape adherence -0.08 to -0.18, held-out world loss +14-31%), with it -0.03
    # and +4% (benchmarks/bench_lora.py, docs/experiments.md)
    "lora": TrainConfig(
        init="bundled",
        lora=8,
        preserve=0.4,
        lr=2e-3,
        warmup_steps=30,
        lr_schedule="wsd",
        ema_decay=0.99,
        steps=3000,
        sample_every=0,
        checkpoint_every=100,
        out="runs/lora",
    ),
    # tests and smoke runs: pixel space, 16x16 px (the world's smallest), a 2-block model
    "test": TrainConfig(
        model="world-tiny",
        width=64,
        depth=2,
        heads=1,
        vae="none",
        sizes=((16, 16),),
        seconds=(0.125, 0.5),
        fps=8.0,
        token_budget=512,
        buffer_size=8,
        steps=20,
        warmup_steps=0,
        lr=1e-3,
        ema_decay=0.9,
        log_every=5,
        sample_every=0,
        checkpoint_every=10,
        sample_size=(16, 16),
        sample_frames=3,
        sample_steps=4,
        sample_guidance=1.0,
        progress=False,
        out="runs/test",
    ),
}


def get_preset(name: str) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise UsageError(
            f"unknown training preset {name!r}; valid: {', '.join(TRAIN_PRESETS)}", param="preset"
        )
    return TRAIN_PRESETS[name]


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]
