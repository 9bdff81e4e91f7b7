"""`chronotope train-vae` and `chronotope vae {reconstruct,eval}`: parse, build, run."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from chronotope.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_train(subparsers)
    _register_use(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    from chronotope.autoencoder.losses import LossWeights

    t = subparsers.add_parser("train-vae", help="train the causal video VAE")
    t.add_argument("--data", required=True, help="'world', a manifest .csv, or a video file")
    t.add_argument(
        "--out", required=True, type=Path, help="run folder (checkpoints, samples, final)"
    )
    t.add_argument("--preset", default="world", help="VAE size preset (see VAE_PRESETS)")
    t.add_argument("--steps", type=int, default=20_000, help="total optimizer steps")
    t.add_argument("--minutes", type=float, help="stop after this much wall time, then save")
    t.add_argument("--batch", type=int, default=4, help="clips per step")
    t.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    t.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="learning rate after warmup: constant, or a cosine decay ending at --steps",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    t.add_argument(
        "--freeze-encoder",
        action="store_true",
        help="train the decoder only (latents stay bit-exact: a DiT trained on them stays valid)",
    )
    t.add_argument(
        "--init",
        type=Path,
        help="start from this trained VAE folder (or a model folder's VAE), e.g. to fine-tune "
        "the bundled decoder with --freeze-encoder",
    )
    t.add_argument(
        "--decoder-blocks",
        type=int,
        metavar="N",
        help="blocks per decoder level (default: the preset's, one more than the encoder's); "
        "more than --init's decoder has grows it, each new block starting as the identity",
    )
    t.add_argument(
        "--latent-noise",
        type=float,
        default=0.0,
        metavar="S",
        help="train the decoder to denoise: noise each clip's latent at a level drawn from [0, S] "
        "latent stds (the DiT's units; the bundled decoder: 0.5 with --freeze-encoder), so generated latents' "
        "small errors decode to steady clips (default 0: off)",
    )
    t.add_argument("--sample-every", type=int, default=250, help="steps between contact sheets")
    t.add_argument("--save-every", type=int, default=500, help="steps between checkpoints")
    for name, default in asdict(LossWeights()).items():
        t.add_argument(
            f"--loss-{name}",
            type=float,
            default=default,
            metavar="W",
            help=f"weight of the {name.upper()} loss term (default {default:g})",
        )
    t.add_argument(
        "--crop",
        type=int,
        nargs=2,
        default=(64, 64),
        metavar=("H", "W"),
        help="crop size for video/manifest data (multiples of the spatial factor)",
    )
    t.set_defaults(func=run_train)


def _register_use(subparsers: argparse._SubParsersAction) -> None:
    v = subparsers.add_parser("vae", help="use a trained VAE")
    vs = v.add_subparsers(dest="vae_command", metavar="ACTION", required=True)
    r = vs.add_parser("reconstruct", help="encode + decode a clip, write it, print PSNR/SSIM")
    r.add_argument("--in", dest="src", required=True, type=Path)
    r.add_argument("--out", required=True, type=Path)
    _model_argument(r)
    r.add_argument("--max-frames", type=int, help="read at most this many frames")
    r.set_defaults(func=run_reconstruct)
    e = vs.add_parser("eval", help="PSNR/SSIM on held-out world clips")
    _model_argument(e)
    e.add_argument("--clips", type=int, default=12)
    e.add_argument("--frames", type=int, default=17)
    e.set_defaults(func=run_eval)


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        help="save_pretrained folder or a train-vae checkpoint (default: bundled VAE)",
    )


def load_model(path: Path | None):
    from chronotope.autoencoder import CausalVAE
    from chronotope.autoencoder.train import load_checkpoint_model
    from chronotope.utils.checkpoint import is_checkpoint

    if path is None:
        from chronotope.pipeline.loading import default_model_dir

        path = default_model_dir() / "vae"  # the bundled model's (or $CHRONOTOPE_MODEL's) VAE
        if not path.is_dir():
            raise UsageError(f"no --model given and no VAE at {path}", param="model")
    if is_checkpoint(path):  # a train-vae checkpoint: a run scored while it trains
        return load_checkpoint_model(path).eval()
    if (path / "model_index.json").is_file():  # a whole pipeline folder: take its VAE
        path = path / "vae"
    if not path.is_dir():
        raise UsageError(f"--model {path}: not a folder written by save_pretrained", param="model")
    return CausalVAE.from_pretrained(path).eval()


def run_train(args: argparse.Namespace) -> int:
    from chronotope.autoencoder.losses import LossWeights
    from chronotope.autoencoder.train import VAETrainConfig, train_vae

    cfg = VAETrainConfig(
        data=args.data,
        out=args.out,
        preset=args.preset,
        steps=args.steps,
        minutes=args.minutes,
        batch=args.batch,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        resume=args.resume,
        freeze_encoder=args.freeze_encoder,
        init=args.init,
        decoder_blocks=args.decoder_blocks,
        latent_noise=args.latent_noise,
        sample_every=args.sample_every,
        save_every=args.save_every,
        crop=tuple(args.crop),
        weights=LossWeights(**{k: getattr(args, f"loss_{k}") for k in asdict(LossWeights())}),
    )
    final = train_vae(cfg)
    print(f"saved {final}")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    from chronotope.autoencoder.evaluate import reconstruct_file
    from chronotope.utils.memory import return_freed_memory

    return_freed_memory()  # the clip streams through: memory stays at one chunk's
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError("--max-frames must be >= 1", param="max-frames")
    if not args.src.is_file():
        raise UsageError(f"--in {args.src}: no such file", param="in")
    score = reconstruct_file(load_model(args.model), args.src, args.out, max_frames=args.max_frames)
    print(
        f"wrote {args.out}: {score.num_frames} frames, PSNR {score.psnr:.2f} dB, SSIM {score.ssim:.4f}"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from chronotope.autoencoder.evaluate import evaluate_world
    from chronotope.utils.memory import return_freed_memory

    return_freed_memory()
    if args.clips < 1 or args.frames < 1:
        raise UsageError("--clips and --frames must be >= 1")
    model = load_model(args.model)
    model.check_size(args.frames, 64, 64)
    score = evaluate_world(model, num_clips=args.clips, num_frames=args.frames)
    print(json.dumps(score.to_dict()))
    return 0
