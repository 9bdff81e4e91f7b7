"""`chronotope data world|scan|probe`: make a world dataset, scan a folder, probe one file."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from chronotope.errors import UsageError

MAX_SIDE = 4096
MAX_SECONDS = 60.0
MAX_FPS = 120.0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="make, scan and inspect datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    world = sub.add_parser("world", help="write world clips, manifest.csv and ground-truth JSON")
    world.add_argument("--n", type=int, required=True, help="number of clips (>= 1)")
    world.add_argument("--out", type=Path, required=True, help="output folder")
    world.add_argument(
        "--sizes", default="64x64,112x64,64x112", help="WxH list (default %(default)s)"
    )
    world.add_argument("--seconds", default="1,8", help="duration range lo,hi or one value")
    world.add_argument("--fps", type=float, default=8.0)
    world.add_argument("--seed", type=int, default=0)
    world.add_argument("--format", choices=["mp4", "gif", "webp"], default="mp4")
    world.add_argument("--image-prob", type=float, default=0.0, help="share of 1-frame .png")
    world.add_argument("--temporal-factor", type=int, default=4, help="T = 1 + k*factor")
    world.add_argument("--include-heldout", action="store_true", help="allow held-out pairs")
    world.add_argument("--no-progress", action="store_true")
    world.set_defaults(data_func=run_world)

    scan = sub.add_parser("scan", help="probe a folder's videos/images into a manifest")
    scan.add_argument("dir", type=Path)
    scan.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    scan.add_argument("--timeout", type=float, default=30.0, help="seconds per file")
    scan.add_argument("--workers", type=int, default=1, help="probe processes")
    scan.add_argument("--no-progress", action="store_true")
    scan.set_defaults(data_func=run_scan)

    info = sub.add_parser("probe", help="print a file's size, frames, fps and duration as JSON")
    info.add_argument("file", type=Path)
    info.set_defaults(data_func=run_probe)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return args.data_func(args)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'64x64,112x64' -> [(64, 64), (112, 64)] as (W, H)."""
    sizes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise UsageError(f"--sizes: {item!r} is not WxH (e.g. 64x64,112x64)", param="sizes")
        w, h = int(parts[0]), int(parts[1])
        if not (8 <= w <= MAX_SIDE and 8 <= h <= MAX_SIDE):
            raise UsageError(f"--sizes: {item} must have W and H in [8, {MAX_SIDE}]", param="sizes")
        sizes.append((w, h))
    return sizes


def parse_seconds(text: str) -> tuple[float, float]:
    """'2,4' -> (2.0, 4.0); '3' -> (3.0, 3.0)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise UsageError(f"--seconds: {text!r} is not lo,hi (e.g. 2,4)", param="seconds")
    lo, hi = values
    if not (0 < lo <= hi <= MAX_SECONDS):
        raise UsageError(f"--seconds must satisfy 0 < lo <= hi <= {MAX_SECONDS:g}, got {text}")
    return lo, hi


def run_world(args: argparse.Namespace) -> int:
    from chronotope.data.datasets import WorldStream
    from chronotope.data.world_export import export_world

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}", param="n")
    if not (0 < args.fps <= MAX_FPS):
        raise UsageError(f"--fps must be in (0, {MAX_FPS:g}], got {args.fps:g}", param="fps")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}", param="seed")
    if args.temporal_factor < 1:
        raise UsageError(f"--temporal-factor must be >= 1, got {args.temporal_factor}")
    if not 0 <= args.image_prob <= 1:
        raise UsageError(f"--image-prob must be in [0, 1], got {args.image_prob:g}")
    stream = WorldStream(
        args.seed,
        sizes=parse_sizes(args.sizes),
        seconds=parse_seconds(args.seconds),
        fps=args.fps,
        image_prob=args.image_prob,
        temporal_factor=args.temporal_factor,
        include_heldout=args.include_heldout,
    )
    manifest = export_world(
        stream, args.n, args.out, fmt=args.format, progress=not args.no_progress
    )
    print(f"wrote {args.n} clips and {manifest}")
    return 0


def run_scan(args: argparse.Namespace) -> int:
    from chronotope.data.manifest import write_manifest
    from chronotope.data.scan import scan_folder

    if not args.dir.is_dir():
        raise UsageError(f"{args.dir}: not a folder; scan needs a folder of videos/images")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out: folder {args.out.parent} does not exist", param="out")
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout:g}", param="timeout")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}", param="workers")
    result = scan_folder(
        args.dir, timeout=args.timeout, workers=args.workers, progress=not args.no_progress
    )
    write_manifest(args.out, result.rows)
    print(f"scanned {result.num_files} files: {len(result.rows)} ok, {len(result.failures)} failed")
    for failure in result.failures:
        print(f"  skipped {failure.path}: {failure.reason}")
    print(f"wrote {args.out}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from chronotope.data.probing import probe
    from chronotope.errors import CorruptFileError

    try:
        info = probe(args.file)
    except CorruptFileError as e:
        raise UsageError(str(e)) from None  # a bad input file is this command's bad argument
    print(json.dumps(info.to_dict()))
    return 0
