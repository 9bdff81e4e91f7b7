"""`chronotope generate`: every task from one command (see `--help`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from chronotope.errors import UsageError

EPILOG = """tasks:
  --frames 1                      an image (.png/.jpg/.webp); --out .mp4/.gif/.webp for video
                                  (--out .png/.jpg alone implies --frames 1)
  --image FILE                    image-to-video: the image is the first frame
  --last-image FILE               the image is the last frame (with --image: connect two images)
  --video FILE --extend forward   continue the clip after its end (output: clip + new frames)
  --video FILE --extend backward  invent what came before its start (output: new frames + clip)
  --video FILE --strength S       restyle the clip (S in (0,1]; small S keeps more)
  --connect A B                   new frames leading from clip/image A into B (output: A, bridge, B)
                                  (A and B of two scenes: a dissolve, see --transition)
  --loop                          the output loops seamlessly (text-to-video: one period of
                                  N frames for --frames N a multiple of 4, N - 1 for N = 1 + 4k;
                                  with --image: + a bridge back)
  --prompt P1 --prompt P2 --shot-seconds S   a multi-shot video with cuts
With --extend, --frames/--seconds give the new part (any count); with --connect, the bridge
(a multiple of 4 frames; default 2 s)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a video or an image",
        description="Generate a video or an image with a chronotope model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--prompt", action="append", required=True, help="text prompt (repeat for shots)"
    )
    p.add_argument(
        "--out", required=True, type=Path, help="output file: .mp4 .gif .webp (.png .jpg: an image)"
    )
    p.add_argument("--model", type=Path, help="model folder (default: the bundled world model)")
    p.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PATH[:SCALE]",
        help="a LoRA adapter (its file, or the folder `train --lora` wrote) at weight SCALE "
        "(default 1); repeat to combine adapters",
    )
    p.add_argument(
        "--size",
        help="WIDTHxHEIGHT, multiples of 8 (default: the model's native size; with --image, "
        "--video or --connect the condition's own, or the model's scale at its aspect ratio "
        "where it is of another scale)",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--frames",
        type=int,
        help="number of frames, 1 + 4k (1 = an image); with --extend the new frames (any "
        "count), with --connect the bridge (a multiple of 4), with --loop also a multiple of 4 "
        "(the period)",
    )
    length.add_argument("--seconds", type=float, help="duration in seconds")
    p.add_argument("--fps", type=float, help="frames per second (default: the model's)")
    p.add_argument("--steps", type=int, help="solver steps")
    p.add_argument(
        "--guidance",
        type=float,
        help="classifier-free guidance scale (1 = none; default: the model's, and for a restyle "
        "the model's restyle guidance)",
    )
    p.add_argument(
        "--early-guidance",
        type=float,
        metavar="F",
        help="factor on the guidance strength (g - 1) in the noisiest steps, where the motion "
        "is decided (default: the model's; 1 = plain guidance throughout; a --loop always "
        "gets plain guidance)",
    )
    p.add_argument(
        "--candidates",
        type=int,
        metavar="K",
        help="sample each window where a given clip meets new frames (an extension, a connect, "
        "a long video's later windows) and a loop's circle K times and keep the one whose seams "
        "look most like its other frame steps (default: the model's, as many as fit the memory "
        "budget; 1 = once; costs K times those windows; a K that does not fit is refused)",
    )
    p.add_argument("--seed", type=int, help="random seed (default: random, printed with --json)")
    p.add_argument("--solver", choices=["euler", "heun"], help="ODE solver")
    p.add_argument("--image", type=Path, help="image-to-video: the first frame")
    p.add_argument("--last-image", type=Path, help="the last frame")
    p.add_argument("--video", type=Path, help="source clip for --extend or --strength")
    p.add_argument("--extend", choices=["forward", "backward"], help="extend --video")
    p.add_argument("--strength", type=float, help="restyle --video with this strength in (0,1]")
    p.add_argument("--connect", nargs=2, type=Path, metavar=("A", "B"), help="bridge A into B")
    p.add_argument(
        "--transition",
        choices=("auto", "bridge", "dissolve"),
        help="how --connect joins A and B: 'bridge' (new frames between A's end and B's start), "
        "'dissolve' (A continued and B led into, each from its own frames, cross-faded; the "
        "prompt does not steer it) or 'auto' (default: a dissolve where A ends and B starts in "
        "different scenes)",
    )
    p.add_argument("--loop", action="store_true", help="make the output loop seamlessly")
    p.add_argument(
        "--negative-prompt",
        metavar="TEXT",
        help="what the video should not show: guidance steers away from it",
    )
    p.add_argument("--shot-seconds", type=float, help="seconds per shot with several --prompt")
    p.add_argument("--memory-budget", type=float, help="GiB a request may use (default 16)")
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="refuse a request whose estimated time on this machine is longer, before any "
        "weights load (the estimate is printed before any call expected to take over a minute)",
    )
    json_help = "print one JSON object describing the result (output, task, size, frames, ...)"
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    """The CLI's own rules (a --video needs a task flag; shots need --shot-seconds), then the
    request's (`GenerationRequest.check`), all before the model loads."""
    _check_out(args)
    if args.video is not None and args.extend is None and args.strength is None:
        raise UsageError("--video needs --extend forward|backward or --strength S")
    if len(args.prompt) > 1 and args.shot_seconds is None:
        raise UsageError("several --prompt make a multi-shot video: give --shot-seconds S")
    if args.shot_seconds is not None and (args.frames is not None or args.seconds is not None):
        raise UsageError(
            "--shot-seconds sets the length: do not combine it with --frames/--seconds"
        )
    _check_request(args)
    from chronotope.tasks.conditions import check_file

    for name in ("image", "last_image", "video"):
        path = getattr(args, name)
        if path is not None:
            check_file(f"--{name.replace('_', '-')}", path)
    for path in args.connect or ():
        check_file("--connect", path)
    from chronotope.pipeline.lora import adapter_file, parse_adapter

    for text in args.lora:
        adapter_file(parse_adapter(text)[0])  # the file is there before the model loads


def _check_out(args: argparse.Namespace) -> None:
    """--out's format, and for a still format (.png/.jpg) that the output is one frame: said
    before anything is generated. A still with no length given is an image (--frames 1)."""
    from chronotope.data.video_io import STILL_SUFFIXES, WRITE_SUFFIXES

    suffix = args.out.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise UsageError(f"--out must end in {', '.join(WRITE_SUFFIXES)}, got {args.out.name!r}")
    restyle = args.video is not None and args.strength is not None  # keeps its source's length
    if suffix not in STILL_SUFFIXES:
        return
    if restyle:
        _check_restyle_still(args, suffix)
        return
    # the flags that make the output a video, named in the error (a still cannot hold one)
    makes_video = [
        flag
        for flag, given in (
            ("--video", args.video is not None),
            ("--connect", args.connect is not None),
            ("--loop", args.loop),
            ("several --prompt", len(args.prompt) > 1),
            ("--image with --last-image", args.image is not None and args.last_image is not None),
        )
        if given
    ]
    if not makes_video and args.frames is None and args.seconds is None:
        args.frames = 1
    elif makes_video:
        raise UsageError(
            f"--out {args.out.name}: a {suffix} holds one image, but {makes_video[0]} makes a "
            "video; use .mp4/.gif/.webp"
        )
    elif args.frames != 1:
        raise UsageError(
            f"--out {args.out.name}: a {suffix} holds one image; use --frames 1, or "
            ".mp4/.gif/.webp for a video"
        )


def _check_restyle_still(args: argparse.Namespace, suffix: str) -> None:
    """A restyle is as long as its source: into a still only a one-frame source fits (a file
    that cannot be read is left to the pipeline's own error)."""
    from chronotope.data.probing import probe
    from chronotope.errors import CorruptFileError

    try:
        frames = probe(args.video).num_frames
    except CorruptFileError:
        return
    if frames > 1:
        raise UsageError(
            f"--out {args.out.name}: a {suffix} holds one image, but a restyle is as long as "
            f"--video ({frames} frames); use .mp4/.gif/.webp"
        )


def request_from_args(args: argparse.Namespace):
    """The `GenerationRequest` of the command line; condition files are read by the pipeline
    at the call's fps (`tasks/conditions.py`), --size is parsed (not checked) here."""
    from chronotope.tasks.request import GenerationRequest
    from chronotope.tasks.sizes import parse_size

    width, height = parse_size(args.size) if args.size else (None, None)
    return GenerationRequest(
        prompt=args.prompt if len(args.prompt) > 1 else args.prompt[0],
        negative_prompt=args.negative_prompt,
        image=args.image,
        last_image=args.last_image,
        video=args.video,
        extend=args.extend,
        strength=args.strength,
        connect=tuple(args.connect) if args.connect else None,
        transition=args.transition,
        loop=args.loop,
        num_frames=args.frames,
        seconds=args.seconds,
        shot_seconds=args.shot_seconds,
        fps=args.fps,
        width=width,
        height=height,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        solver=args.solver,
        early_guidance=args.early_guidance,
        candidates=args.candidates,
    )


def _check_request(args: argparse.Namespace) -> None:
    """The request's own checks, before the model loads; errors name the flag."""
    try:
        request_from_args(args).check()
    except UsageError as e:
        flag = f"--{e.param.replace('_', '-')}" if e.param else None
        raise UsageError(f"{flag}: {e}" if flag else str(e), param=e.param) from None
    for flag, budget in (
        ("--memory-budget", args.memory_budget),
        ("--time-budget", args.time_budget),
    ):
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise UsageError(f"{flag} must be a number > 0, got {budget}")


def run(args: argparse.Namespace) -> int:
    """Under torchrun (WORLD_SIZE > 1) every rank runs this: the video's tokens are split over
    the ranks (sequence parallelism) and rank 0 alone writes --out and prints."""
    from chronotope.distributed.launch import world_size_from_env

    _check(args)
    if world_size_from_env() == 1:
        return _generate(args, rank=0)
    import torch.distributed as dist

    from chronotope.distributed.launch import init_from_env
    from chronotope.distributed.sampling import shared_seed

    rank, _ = init_from_env()
    try:
        args.seed = shared_seed(args.seed)  # every rank must draw the same noise
        return _generate(args, rank=rank)
    finally:
        dist.destroy_process_group()


def _generate(args: argparse.Namespace, *, rank: int) -> int:
    import contextlib

    from chronotope.data import VideoWriter
    from chronotope.distributed.launch import world_size_from_env
    from chronotope.pipeline.loading import load_pipeline

    call = _prepare(args, rank=rank)  # checked, estimated and told before any weight loads
    pipe = load_pipeline(args.model)
    _load_adapters(pipe, args.lora)
    _to_rank_device(pipe)
    if world_size_from_env() > 1:  # the video's tokens split over the ranks
        from chronotope.distributed.sampling import parallelize_sampling

        parallelize_sampling(pipe)
    if args.quiet or rank != 0:
        pipe.set_progress_bar_config(disable=True)

    # frames stream into the writer window by window (memory flat in length); the file
    # appears under --out only when generation finished (Ctrl-C leaves nothing there)
    fps = call.resolved.fps
    writer_cm = VideoWriter(args.out, fps) if rank == 0 else contextlib.nullcontext()
    with writer_cm as writer:
        out = pipe.run(call, sink=writer.write if rank == 0 else (lambda frames: None))
    if rank != 0:
        return 0
    path = args.out
    meta = {"output": str(path), **out.metadata}
    meta["size"] = f"{meta.pop('width')}x{meta.pop('height')}"
    meta.update(warnings=out.warnings, estimated_seconds=round(out.estimate.total, 1))
    if args.json:
        print(json.dumps(meta))
    else:
        print(
            f"wrote {path} ({meta['frames']} frames, {meta['size']}, {meta['wall_seconds']:.1f} s)",
            file=sys.stderr,
        )
    return 0


def _prepare(args: argparse.Namespace, *, rank: int):
    """The call prepared by the model folder without its weights (`pipeline.meta`): resolved,
    refused over the memory or time budget, and told on stderr (a size it chose, words the
    model never learned, the estimate of a call expected to take over a minute)."""
    from chronotope.pipeline.meta import load_without_weights
    from chronotope.tasks.sizes import check_size

    pipe = load_without_weights(args.model)
    if args.memory_budget is not None:
        pipe.register_to_config(memory_budget_gib=args.memory_budget)
    if args.time_budget is not None:
        pipe.time_budget_s = args.time_budget * 60
    request = dataclasses.replace(request_from_args(args), fps=args.fps or pipe.config.fps)
    if args.size:  # a 0 would silently become the default size
        check_size(request.width, request.height, pipe.fs)
    call = pipe.prepare(request, streamed=True)
    if rank == 0:
        for warning in call.warnings:
            print(f"chronotope generate: warning: {warning}", file=sys.stderr)
        if call.long:
            print(f"chronotope generate: {call.time_message}", file=sys.stderr)
    return call


def _load_adapters(pipe, specs: list[str]) -> None:
    """--lora PATH[:SCALE] ...: every adapter loaded and active at its scale."""
    from chronotope.pipeline.lora import load_adapters, parse_adapter

    load_adapters(pipe, {f"lora{i}": parse_adapter(text) for i, text in enumerate(specs)})


def _to_rank_device(pipe) -> None:
    """Under NCCL the transformer runs on this rank's GPU (the sampler's tokens follow it)."""
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_backend() == "nccl":
        from chronotope.distributed.parallelize import comm_device

        pipe.transformer.to(comm_device())
