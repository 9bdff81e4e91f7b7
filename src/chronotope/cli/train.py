"""`chronotope train`: train the DiT (flags are the fields of `TrainConfig`; a preset first)."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from chronotope.errors import UsageError
from chronotope.flow.masks import TaskMix
from chronotope.flow.path import ShiftConfig
from chronotope.training.config import TRAIN_PRESETS, TrainConfig, get_preset

# nested dataclass fields become prefixed flags: --shift-max-shift, --task-first
_NESTED = {"shift": ("shift", ShiftConfig), "tasks": ("task", TaskMix)}


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
            help=f"world-tiny: {getattr(base, f.name)}",
            **_flag_kwargs(f.name, hints[f.name]),
        )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every flag given on the command line applied (nothing else)."""
    cfg = get_preset(args.preset)
    given = {k: v for k, v in vars(args).items() if k not in ("preset", "func", "command")}
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
    from chronotope.distributed.launch import world_size_from_env
    from chronotope.training import Trainer

    if world_size_from_env() > 1:  # every rank would train the same model into the same --out
        raise UsageError(
            "`chronotope train` runs one process and is not torchrun-aware yet "
            "(WORLD_SIZE > 1); see docs/DISTRIBUTED.md for multi-process training"
        )
    cfg = config_from_args(args)
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
