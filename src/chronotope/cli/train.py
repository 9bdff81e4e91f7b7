"""`chronotope train`: train the DiT (flags are the fields of `TrainConfig`; a preset first)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path

from chronotope.errors import UsageError
from chronotope.flow.masks import TaskMix
from chronotope.flow.path import ShiftConfig
from chronotope.training.config import TRAIN_PRESETS, TrainConfig, get_preset

# nested dataclass fields become prefixed flags: --shift-max-shift, --task-first
_NESTED = {"shift": ("shift", ShiftConfig), "tasks": ("task", TaskMix)}
# what a flag's preset value alone does not say
_HELP = {
    "world_families": "scene-family weights of world clips, e.g. single=0.4,pair=0.3 (families "
    "left out are never drawn; empty: the world's own mix)",
}


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH like 64x64, got {text!r}") from None


def _tuple_of(kind):
    def parse(text: str):
        try:
            return tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}"
            ) from None

    return parse


def _families(text: str) -> tuple[tuple[str, float], ...]:
    try:
        pairs = [item.split("=") for item in text.split(",")]
        return tuple((name.strip(), float(w)) for name, w in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FAMILY=WEIGHT,... like single=0.4,pair=0.3, got {text!r}"
        ) from None


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N like 0/2, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return i, n


def _flag_kwargs(name: str, hint) -> dict:
    """argparse keyword arguments for a dataclass field of type `hint`."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if name == "sizes":
        return {"type": _size, "nargs": "+", "metavar": "WxH"}
    if name == "sample_size":
        return {"type": _size, "metavar": "WxH"}
    if name == "world_families":
        return {"type": _families, "metavar": "FAMILY=W,..."}
    if name == "sample_prompts":
        return {"nargs": "+", "metavar": "PROMPT"}
    if typing.get_origin(hint) is tuple:
        return {"type": _tuple_of(args[0]), "metavar": ",".join([args[0].__name__] * (len(args)))}
    return {"type": hint}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the video diffusion transformer",
        description="Train the DiT. Start from --preset; every other flag overrides one field of "
        "it. A run resumes from the newest complete checkpoint in --out.",
    )
    p.add_argument("--preset", default="world-tiny", choices=sorted(TRAIN_PRESETS))
    hints = typing.get_type_hints(TrainConfig)
    base = TRAIN_PRESETS["world-tiny"]
    for f in dataclasses.fields(TrainConfig):
        if f.name in _NESTED:
            prefix, cls = _NESTED[f.name]
            sub_hints = typing.get_type_hints(cls)
            for g in dataclasses.fields(cls):
                p.add_argument(
                    f"--{prefix}-{g.name.replace('_', '-')}",
                    dest=f"{f.name}.{g.name}",
                    default=argparse.SUPPRESS,
                    metavar=g.name.upper(),
                    help=f"world-tiny: {getattr(getattr(base, f.name), g.name)}",
                    **_flag_kwargs(g.name, sub_hints[g.name]),
                )
            continue
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            default=argparse.SUPPRESS,
            help=" ".join(
                filter(None, [_HELP.get(f.name), f"world-tiny: {getattr(base, f.name)}"])
            ),
            **_flag_kwargs(f.name, hints[f.name]),
        )
    p.add_argument(
        "--prepare-shard",
        type=_shard,
        metavar="I/N",
        help="encode share I of N of the world pool's latents (--world-clips) into --out, then "
        "exit; N such processes side by side fill the pool before training (docs/MODEL_CARD.md)",
    )
    par = p.add_argument_group(
        "parallel training",
        "Under torchrun (WORLD_SIZE > 1) the ranks split each step's global batch of "
        "--packs-per-step packs; see docs/DISTRIBUTED.md.",
    )
    par.add_argument(
        "--parallel",
        choices=["ddp", "fsdp"],
        default="ddp",
        help="data parallelism: ddp (replicated weights) or fsdp (FSDP2, sharded per block)",
    )
    par.add_argument(
        "--sequence-parallel",
        action="store_true",
        help="Ulysses: every rank holds a slice of every pack's tokens (for very long clips)",
    )
    par.add_argument(
        "--packs-per-step",
        type=int,
        help="packs in a step's global batch (default: the resumed run's, else WORLD_SIZE; "
        "1 with --sequence-parallel)",
    )
    par.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="recompute each block's activations in backward (less memory, ~30%% more compute)",
    )
    par.add_argument("--compile", action="store_true", help="torch.compile each block")
    par.add_argument(
        "--mixed-precision",
        choices=["bf16"],
        help="with --parallel fsdp: bf16 parameters in compute, fp32 gradient reduction",
    )
    p.set_defaults(func=run)


# flags of how to run, not fields of TrainConfig
_RUN_FLAGS = (
    "prepare_shard",
    "parallel",
    "sequence_parallel",
    "packs_per_step",
    "activation_checkpointing",
    "compile",
    "mixed_precision",
)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every flag given on the command line applied (nothing else)."""
    cfg = get_preset(args.preset)
    skip = ("preset", "func", "command", *_RUN_FLAGS)
    given = {k: v for k, v in vars(args).items() if k not in skip}
    top = {k: v for k, v in given.items() if "." not in k}
    for field in _NESTED:
        sub = {k.split(".", 1)[1]: v for k, v in given.items() if k.startswith(f"{field}.")}
        if sub:
            top[field] = dataclasses.replace(getattr(cfg, field), **sub)
    if "sizes" in top:
        top["sizes"] = tuple(top["sizes"])
    if "sample_prompts" in top:
        top["sample_prompts"] = tuple(top["sample_prompts"])
    return cfg.override(**top).validate()


def _parallel_requested(args: argparse.Namespace) -> bool:
    return (
        args.parallel != "ddp"
        or args.sequence_parallel
        or args.packs_per_step is not None
        or args.activation_checkpointing
        or args.compile
        or args.mixed_precision is not None
    )


def _saved_packs_per_step(cfg: TrainConfig) -> int | None:
    """The global batch of the sharded checkpoint a run would resume, if any."""
    from chronotope.distributed.checkpoint import is_sharded, latest_complete

    path = latest_complete(Path(cfg.out) / "checkpoints")
    if path is None or not is_sharded(path):
        return None
    return int(json.loads((path / "meta.json").read_text())["packs_per_step"])


def run(args: argparse.Namespace) -> int:
    from chronotope.distributed.launch import world_size_from_env

    cfg = config_from_args(args)
    if args.prepare_shard is not None:
        return _prepare(cfg, *args.prepare_shard)
    world = world_size_from_env()
    saved = _saved_packs_per_step(cfg)
    if world == 1 and saved is None and not _parallel_requested(args):
        return _run_single(cfg)  # the plain single-process trainer, unchanged
    return _run_distributed(args, cfg, world, saved)


def _prepare(cfg: TrainConfig, shard: int, shards: int) -> int:
    """--prepare-shard: fill this share of the world pool's latent cache, train nothing."""
    from chronotope.training.latents import LatentCodec
    from chronotope.training.streams import default_stream_factory

    if cfg.data != "world" or not cfg.world_clips:
        raise UsageError(
            "--prepare-shard fills the world pool: it needs --data world and --world-clips N > 0",
            param="prepare_shard",
        )
    pool = default_stream_factory(cfg, LatentCodec.load(cfg.vae))  # the pool training reads
    encoded = pool.encode_shard(shard, shards, progress=cfg.progress)
    print(
        f"share {shard}/{shards} of {cfg.world_clips} clips: encoded {encoded} into {pool.folder}"
    )
    return 0


def _run_single(cfg: TrainConfig) -> int:
    from chronotope.training import Trainer

    trainer = Trainer(cfg)
    if trainer.resumed_from is not None:
        print(f"resuming from {trainer.resumed_from} (step {trainer.step})")
    n_params = sum(p.numel() for p in trainer.model.parameters())
    print(f"model {cfg.model}: {n_params / 1e6:.2f}M parameters; writing to {cfg.out}")
    result = trainer.run()
    if result.final_dir is None:
        raise UsageError("training stopped before the final model was written")
    print(f"step {result.step}: loss {result.loss:.4f}; final model in {result.final_dir}")
    return 0


def _run_distributed(
    args: argparse.Namespace, cfg: TrainConfig, world: int, saved: int | None
) -> int:
    """torchrun: every rank runs this; one process resuming a sharded run runs it alone."""
    import torch
    import torch.distributed as dist

    from chronotope.distributed.launch import init_from_env
    from chronotope.distributed.trainer import DistributedTrainer

    if world == 1 and (args.parallel != "ddp" or args.mixed_precision is not None):
        raise UsageError(
            "--parallel fsdp / --mixed-precision need several processes: launch with "
            "`torchrun --nproc-per-node N -m chronotope.cli.main train ...` (docs/DISTRIBUTED.md)"
        )
    rank = init_from_env()[0] if world > 1 else 0
    try:
        trainer = DistributedTrainer(
            cfg,
            parallel=args.parallel,
            sequence_parallel=args.sequence_parallel,
            packs_per_step=args.packs_per_step or saved,
            activation_checkpointing=args.activation_checkpointing,
            compile=args.compile,
            mixed_precision=torch.bfloat16 if args.mixed_precision == "bf16" else None,
        )
        say = print if rank == 0 else (lambda *a, **k: None)
        if trainer.resumed_from is not None:
            say(f"resuming from {trainer.resumed_from} (step {trainer.step})")
        n_params = sum(p.numel() for p in trainer.inner.parameters())  # DTensors: global
        kind = "sequence parallel" if args.sequence_parallel else trainer.mode
        say(
            f"model {cfg.model}: {n_params / 1e6:.2f}M parameters; {world} rank(s), {kind}, "
            f"{trainer.packs_per_step} packs per step; writing to {cfg.out}"
        )
        result = trainer.run()
        if result.final_dir is None:
            raise UsageError("training stopped before the final model was written")
        say(f"step {result.step}: loss {result.loss:.4f}; final model in {result.final_dir}")
        return 0
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
