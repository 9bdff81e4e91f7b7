"""One's own training clips: an Open-Sora CSV manifest (`path,text,...`, what `chronotope data
scan` writes) or a folder of clips each captioned by the `.txt` of the same name beside it
(`clip.mp4` + `clip.txt`, the layout video LoRA trainers use).

`clip_entries(data)` lists the captioned clips; `ClipReader.read` reads one at a model's fps and
scale: resampled to its fps (nearest frames, `read_video`), at most `max_seconds` long and cut to
`1 + k*ft` frames, and resized to the pixel area of the model's training size nearest in aspect
at the clip's own aspect ratio (sides multiples of the token grid). A clip without a caption,
unreadable, or too short (a video under one latent step, `1 + ft` frames, at that fps) is skipped
and counted by reason in `Skips`, whose `line()` says it in one line.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chronotope.data.datasets import Sample
from chronotope.data.manifest import read_manifest
from chronotope.data.probing import IMAGE_SUFFIXES
from chronotope.data.scan import find_media
from chronotope.data.sizes import resize_video, size_at_area, valid_num_frames
from chronotope.data.video_io import read_video, to_tensor
from chronotope.errors import ChronotopeError, UsageError

NO_CAPTION, UNREADABLE, TOO_SHORT = "without a caption", "unreadable", "too short"


@dataclass(frozen=True)
class ClipEntry:
    path: Path
    text: str


class SkippedClip(ChronotopeError):
    """A clip that cannot train: `reason` is UNREADABLE or TOO_SHORT."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Skips:
    """Skipped clips counted by reason (and the first of each, to name in the report)."""

    counts: Counter = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, path: str | os.PathLike) -> None:
        self.counts[reason] += 1
        self.first.setdefault(reason, Path(path).name)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self, clips: int) -> str:
        """'20 clips: 17 ok, 3 skipped (1 without a caption: a.mp4; 2 unreadable: b.mp4)'."""
        ok = f"{clips} clips: {clips - self.total} ok"
        if not self.total:
            return ok
        parts = [f"{n} {r}: {self.first[r]}" for r, n in sorted(self.counts.items())]
        return f"{ok}, {self.total} skipped ({'; '.join(parts)})"


def clip_entries(data: str | os.PathLike) -> tuple[list[ClipEntry], Skips]:
    """The captioned clips of a manifest CSV or a folder, and the entries skipped for want of
    a caption."""
    path = Path(data)
    if path.is_dir():
        return _folder(path)
    if path.is_file():
        return _manifest(path)
    raise UsageError(
        f"--data must be 'world', a manifest CSV or a folder of captioned clips; {path} is "
        "neither a file nor a folder",
        param="data",
    )


def _folder(root: Path) -> tuple[list[ClipEntry], Skips]:
    entries, skips = [], Skips()
    for media in find_media(root):
        sidecar = media.with_suffix(".txt")
        text = sidecar.read_text("utf-8", errors="replace").strip() if sidecar.is_file() else ""
        if text:
            entries.append(ClipEntry(media, text))
        else:
            skips.add(NO_CAPTION, media)
    return entries, skips


def _manifest(csv: Path) -> tuple[list[ClipEntry], Skips]:
    manifest = read_manifest(csv)
    entries, skips = [], Skips()
    for row in manifest:
        path = manifest.resolve(row)
        if row.text.strip():
            entries.append(ClipEntry(path, row.text.strip()))
        else:
            skips.add(NO_CAPTION, path)
    return entries, skips


@dataclass(frozen=True)
class ClipReader:
    """Reads clips at a model's fps and scale (module docstring)."""

    fps: float
    max_seconds: float
    temporal_factor: int
    size_multiple: int  # pixels per token side: the VAE's factor times the patch
    sizes: tuple[tuple[int, int], ...]  # the model's training sizes (W, H)

    def area(self, height: int, width: int) -> int:
        """Pixel area of the training size whose aspect ratio is nearest the clip's."""
        aspect = math.log(width / height)
        w, h = min(self.sizes, key=lambda s: abs(math.log(s[0] / s[1]) - aspect))
        return w * h

    def read(self, entry: ClipEntry) -> Sample:
        """The clip as a training `Sample`; `SkippedClip` if unreadable or too short."""
        ft = self.temporal_factor
        max_frames = 1 + math.floor(self.max_seconds * self.fps + 1e-6)  # as the world's
        try:
            video = read_video(entry.path, fps=self.fps, max_frames=max_frames)
        except ChronotopeError as e:  # CorruptFileError, or a UsageError naming the file
            raise SkippedClip(UNREADABLE, str(e)) from None
        n = video.num_frames
        still = n == 1 and entry.path.suffix.lower() in IMAGE_SUFFIXES
        if n < 1 + ft and not still:
            raise SkippedClip(
                TOO_SHORT, f"{entry.path}: {n} frames at {self.fps:g} fps, fewer than {1 + ft}"
            )
        x = to_tensor(video.frames[: valid_num_frames(n, ft)])  # (3,T,H,W)
        h, w = x.shape[-2:]
        size = size_at_area(h, w, area=self.area(h, w), size_multiple=self.size_multiple)
        meta = {"path": str(entry.path), "source_size": (h, w)}
        return Sample(video=resize_video(x, size), text=entry.text, fps=self.fps, meta=meta)
