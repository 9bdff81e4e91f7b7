"""Write world clips to a folder: one media file, one ground-truth JSON each, and `manifest.csv`.

The folder is an ordinary dataset (`ManifestDataset(out/"manifest.csv")` reads it back) whose
JSON files carry the states the evaluation compares generated videos against. A 1-frame
sample (an image) is written as an exact `.png` whatever the clip format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tqdm import tqdm

from chronotope.data.datasets import WorldStream
from chronotope.data.manifest import ManifestRow, write_manifest
from chronotope.data.video_io import write_video
from chronotope.errors import UsageError

CLIP_FORMATS = ("mp4", "gif", "webp")
MANIFEST_NAME = "manifest.csv"


def export_world(
    stream: WorldStream,
    num_clips: int,
    out_dir: str | os.PathLike,
    *,
    fmt: str = "mp4",
    progress: bool = True,
) -> Path:
    """Render samples 0..num_clips-1 of `stream` into `out_dir`; return the manifest path."""
    if num_clips < 1:
        raise UsageError(f"number of clips must be >= 1, got {num_clips}", param="n")
    if fmt not in CLIP_FORMATS:
        raise UsageError(f"format must be one of {', '.join(CLIP_FORMATS)}, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in tqdm(range(num_clips), desc="world", unit="clip", disable=not progress):
        clip = stream.clip(index)
        name = f"clip_{index:06d}"
        t, h, w, _ = clip.frames.shape
        media = out / f"{name}.{'png' if t == 1 else fmt}"
        write_video(media, clip.frames, clip.fps)
        if media.suffix == ".mp4":  # write_video pads odd sides of an mp4 to even
            h, w = h + h % 2, w + w % 2
        truth = {
            "caption": clip.caption,
            "fps": clip.fps,
            "stream": {"seed": stream.seed, "index": index, **stream.plan(index)},
            "ground_truth": clip.ground_truth(),
        }
        _write_json(out / f"{name}.json", truth)
        extra = {"index": str(index), "world_seed": str(stream.plan(index)["seed"])}
        rows.append(ManifestRow(media.name, clip.caption, t, h, w, float(clip.fps), extra))
    return write_manifest(out / MANIFEST_NAME, rows)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
