"""`chronotope train`: train the DiT (flags are the fields of `TrainConfig`; a preset first)."""

from __future__ import annotations

import argparse
import dataclasses
import time
import types
import typing

from chronotope.errors import UsageError
from chronotope.flow.masks import TaskMix
from chronotope.flow.path import ShiftConfig
from chronotope.training.config import TRAIN_PRESETS, TrainConfig, get_preset

# nested dataclass fields become prefixed flags: --shift-max-shift, --task-first
_NESTED = {"shift": ("shift", ShiftConfig), "tasks": ("task", TaskMix)}
# what a flag's preset value alone does not say
_HELP = {
    "lora": "train a LoRA adapter of this rank on the --init DiT's attention and MLP "
    "projections, the rest frozen; writes OUT/final/pytorch_lora_weights.safetensors "
    "(generate --lora takes it)",
    "preserve": "with --lora and --data clips: this share of what the adapter trains on is world "
    "clips whose target is the frozen base model's own prediction, so the adapter keeps what the "
    "base already draws (the lora preset: 0.4; 0: off)",
    "data": "world, a manifest CSV (path,text,...) or a folder of clips each with its caption "
    "in a .txt of the same name; real clips are read at --fps and the pixel area of --sizes "
    "(the size nearest in aspect), "
    "encoded once, and a clip without a caption, unreadable or too short is skipped and counted",
    "ranks": "processes this command starts on this machine (gloo DDP, one thread each; each "
    "first encodes its share of the world pool); 1: one process",
    "minutes": "wall-time bound of the whole run from the command's start, resumes included "
    "(a longer run: the same command with a larger --minutes)",
    "snapshots": "minutes of the run's wall time at which the EMA model is also saved as "
    "OUT/at-<M>min/ (export takes it), e.g. 15,30,45,60",
    "world_families": "scene-family weights of world clips, e.g. single=0.4,pair=0.3 (families "
    "left out are never drawn; empty: the world's own mix)",
    "parallel": "data parallelism over torchrun's ranks: ddp (replicated weights) or fsdp "
    "(FSDP2, sharded per block)",
    "sequence_parallel": "Ulysses: every rank holds a slice of every pack's tokens (for very "
    "long clips)",
    "packs_per_step": "packs in a step's global batch (default: the resumed run's, else "
    "WORLD_SIZE; 1 with --sequence-parallel)",
    "activation_checkpointing": "recompute each block's activations in backward (less memory, "
    "~30%% more compute)",
    "compile": "torch.compile each block",
    "mixed_precision": "bf16: with --parallel fsdp, bf16 parameters in compute, fp32 gradient "
    "reduction",
}
# fields of how to run over ranks: their own group in --help
_PARALLEL = (
    "parallel",
    "sequence_parallel",
    "packs_per_step",
    "activation_checkpointing",
    "compile",
    "mixed_precision",
)


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
    if name == "snapshots":
        return {"type": _tuple_of(float), "metavar": "MIN,MIN,..."}
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
    p.add_argument(
        "--preset",
        choices=sorted(TRAIN_PRESETS),
        help="the settings every other flag overrides (default: world-tiny, or lora with --lora)",
    )
    par = p.add_argument_group(
        "parallel training",
        "Under torchrun (WORLD_SIZE > 1) the ranks split each step's global batch of "
        "--packs-per-step packs; see docs/DISTRIBUTED.md.",
    )
    hints = typing.get_type_hints(TrainConfig)
    base = TRAIN_PRESETS["world-tiny"]
    for f in dataclasses.fields(TrainConfig):
        if f.name in _NESTED:
            _add_nested(p, f.name, getattr(base, f.name))
            continue
        (par if f.name in _PARALLEL else p).add_argument(
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
        "exit; N such processes side by side fill the pool before training",
    )
    p.set_defaults(func=run)


def _add_nested(p: argparse.ArgumentParser, name: str, base) -> None:
    """A nested dataclass field's fields as prefixed flags: --shift-max-shift, --task-first."""
    prefix, cls = _NESTED[name]
    sub_hints = typing.get_type_hints(cls)
    for g in dataclasses.fields(cls):
        p.add_argument(
            f"--{prefix}-{g.name.replace('_', '-')}",
            dest=f"{name}.{g.name}",
            default=argparse.SUPPRESS,
            metavar=g.name.upper(),
            help=f"world-tiny: {getattr(base, g.name)}",
            **_flag_kwargs(g.name, sub_hints[g.name]),
        )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every flag given on the command line applied (nothing else)."""
    skip = ("preset", "func", "command", "prepare_shard")
    given = {k: v for k, v in vars(args).items() if k not in skip}
    cfg = get_preset(args.preset or ("lora" if given.get("lora") else "world-tiny"))
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


def run(args: argparse.Namespace) -> int:
    """One process, every rank under torchrun, or `--ranks N` processes this command starts:
    the same trainer (world size 1 or N). The wall clock (`--minutes`) starts here."""
    from chronotope.distributed.launch import process_group, spawn, world_size_from_env

    start = time.monotonic()
    cfg = config_from_args(args)
    if args.prepare_shard is not None:
        return _prepare(cfg, *args.prepare_shard)
    if cfg.ranks > 1:
        if world_size_from_env() > 1:
            raise UsageError(
                "--ranks starts its own processes; under torchrun leave it at 1", param="ranks"
            )
        spawn(_train_rank, cfg.ranks, cfg, start)
        return 0
    with process_group() as (rank, _):
        _train(cfg, rank, start)
    return 0


def _train_rank(rank: int, world: int, cfg: TrainConfig, start: float) -> None:
    """One of `--ranks N` processes: fill this rank's share of the latent pool (world clips or
    real ones), then train."""
    import torch.distributed as dist

    if cfg.data != "world" or cfg.world_clips:  # a pool of latents: each rank fills its share
        from chronotope.training.latents import LatentCodec
        from chronotope.training.streams import default_stream_factory

        default_stream_factory(cfg, LatentCodec.load(cfg.vae)).encode_shard(
            rank, world, progress=cfg.progress and rank == 0
        )
        dist.barrier()  # every clip is on disk before any rank reads the pool
    _train(cfg, rank, start)


def _train(cfg: TrainConfig, rank: int, start: float) -> None:
    from chronotope.training import Trainer

    trainer = Trainer(cfg)
    say = print if rank == 0 else (lambda *a, **k: None)
    if trainer.resumed_from is not None:
        say(f"resuming from {trainer.resumed_from} (step {trainer.step})")
    say(trainer.summary())
    result = trainer.run(start=start)
    if result.final_dir is None:
        raise UsageError("training stopped before the final model was written")
    say(f"step {result.step}: loss {result.loss:.4f}; final model in {result.final_dir}")


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
