"""Datasets that yield `Sample`s at native size: the procedural world, and real clips.

Samples differ in T, H and W; batching is packing (chronotope.tokens), so a DataLoader over
these needs `collate_fn=list`. With DataLoader workers each worker takes every n-th index, and
the counters (`position`, `skipped`) advance in the workers' copies: a trainer that resumes
should count the samples it consumed and rebuild with `start=` / `from_state`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from chronotope.data.manifest import Manifest, read_manifest
from chronotope.data.probing import probe
from chronotope.data.sizes import native_size, resize_video, valid_num_frames
from chronotope.data.video_io import VideoFrames, to_tensor
from chronotope.errors import CorruptFileError, UsageError
from chronotope.world.seeds import TRAIN_SEEDS

READ_CHUNK_FRAMES = 16  # frames of a real clip decoded and resized at a time


@dataclass
class Sample:
    video: torch.Tensor  # (3,T,H,W) float in [-1, 1]; T = 1 + k*temporal_factor
    text: str
    fps: float
    meta: dict = field(default_factory=dict)


def _shard(indices: Iterator[int]) -> Iterator[int]:
    """Every n-th index for DataLoader worker w of n, so workers never duplicate a sample."""
    info = get_worker_info()
    if info is None:
        yield from indices
        return
    for j, i in enumerate(indices):
        if j % info.num_workers == info.id:
            yield i


class WorldStream(IterableDataset):
    """Infinite, seeded stream of world clips; sample i depends only on (seed, i)."""

    def __init__(
        self,
        seed: int,
        *,
        sizes: Sequence[tuple[int, int]] = ((64, 64), (112, 64), (64, 112)),  # (W, H)
        seconds: tuple[float, float] = (1, 8),
        fps: float = 8,
        image_prob: float = 0.1,
        temporal_factor: int = 4,
        include_heldout: bool = False,
        families: Mapping[str, float] | None = None,
        start: int = 0,
    ) -> None:
        """`families`: scene-family weights (e.g. {"single": 2, "pair": 1}; families left out
        are never drawn); None keeps the world's own mix (`world.scenes.FAMILY_WEIGHTS`) and
        draws exactly the clips a stream without the argument draws."""
        _check_stream_args(seed, sizes, seconds, fps, image_prob, temporal_factor, start)
        from chronotope.world import check_family_weights

        self.families = check_family_weights(families)
        self.seed = seed
        self.sizes = [(int(w), int(h)) for w, h in sizes]
        self.seconds = (float(seconds[0]), float(seconds[1]))
        self.fps = float(fps)
        self.image_prob = float(image_prob)
        self.temporal_factor = temporal_factor
        self.include_heldout = include_heldout
        self.position = start  # index of the next sample __iter__ yields

    def state(self) -> dict:
        """JSON-able; `WorldStream.from_state(state)` continues exactly where this one is."""
        return {
            "seed": self.seed,
            "position": self.position,
            "sizes": [list(s) for s in self.sizes],
            "seconds": list(self.seconds),
            "fps": self.fps,
            "image_prob": self.image_prob,
            "temporal_factor": self.temporal_factor,
            "include_heldout": self.include_heldout,
            "families": self.families,
        }

    @classmethod
    def from_state(cls, state: dict) -> WorldStream:
        kwargs = {k: v for k, v in state.items() if k not in ("seed", "position")}
        kwargs["sizes"] = [tuple(s) for s in kwargs["sizes"]]
        kwargs["seconds"] = tuple(kwargs["seconds"])
        return cls(state["seed"], start=state["position"], **kwargs)

    def plan(self, index: int) -> dict:
        """The draws for sample `index` (size, frames, world seed) without rendering it."""
        rng = np.random.default_rng([self.seed, index])
        width, height = self.sizes[int(rng.integers(len(self.sizes)))]
        is_image = bool(rng.random() < self.image_prob)
        seconds = rng.uniform(*self.seconds)
        # round to the nearest valid length, at least one latent step after the first frame
        k = max(1, round(seconds * self.fps / self.temporal_factor))
        num_frames = 1 if is_image else 1 + k * self.temporal_factor
        world_seed = int(rng.integers(TRAIN_SEEDS))  # never an eval seed (world/seeds.py)
        family = None  # drawn by the world from its own mix
        if self.families is not None:  # one more draw, after the others: they stay the same
            from chronotope.world import draw_family

            family = draw_family(rng, self.families)
        return {
            "width": width,
            "height": height,
            "num_frames": num_frames,
            "seed": world_seed,
            "family": family,
        }

    def clip(self, index: int):
        """The rendered `WorldClip` of sample `index` (uint8 frames, caption, ground truth)."""
        from chronotope.world import generate_clip  # imported late: only the stream needs it

        if index < 0:
            raise UsageError(f"index must be >= 0, got {index}")
        p = self.plan(index)
        return generate_clip(
            p["seed"],
            width=p["width"],
            height=p["height"],
            num_frames=p["num_frames"],
            fps=self.fps,
            family=p["family"],
            include_heldout=self.include_heldout,
        )

    def __getitem__(self, index: int) -> Sample:
        clip = self.clip(index)
        meta = {"index": index, "stream_seed": self.seed, "world_seed": self.plan(index)["seed"]}
        meta["ground_truth"] = clip.ground_truth()
        return Sample(video=to_tensor(clip.frames), text=clip.caption, fps=clip.fps, meta=meta)

    def __iter__(self) -> Iterator[Sample]:
        index = self.position
        for i in _shard(_count(index)):
            sample = self[i]
            self.position = i + 1
            yield sample


def _count(start: int) -> Iterator[int]:
    i = start
    while True:
        yield i
        i += 1


def _check_stream_args(seed, sizes, seconds, fps, image_prob, temporal_factor, start) -> None:
    if not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed}", param="seed")
    if not sizes or any(int(w) < 1 or int(h) < 1 for w, h in sizes):
        raise UsageError(f"sizes must be a non-empty list of (W, H) >= 1, got {sizes}")
    lo, hi = seconds
    if not (0 < lo <= hi):
        raise UsageError(f"seconds must be (lo, hi) with 0 < lo <= hi, got {seconds}")
    if not (math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be > 0, got {fps}", param="fps")
    if not (0 <= image_prob <= 1):
        raise UsageError(f"image_prob must be in [0, 1], got {image_prob}", param="image_prob")
    if temporal_factor < 1:
        raise UsageError(f"temporal_factor must be >= 1, got {temporal_factor}")
    if start < 0:
        raise UsageError(f"start must be >= 0, got {start}", param="start")


class ManifestDataset(IterableDataset):
    """Real clips from a manifest at native size (see `sizes` for the resize rule).

    `__getitem__` raises `CorruptFileError` for a bad clip; iteration skips it, counts it in
    `skipped` and lists it in `failures`, so one bad file never ends an epoch.
    """

    def __init__(
        self,
        manifest: Manifest | str | os.PathLike,
        *,
        fps: float | None = None,
        max_seconds: float | None = None,
        temporal_factor: int = 4,
        size_multiple: int = 16,
        max_pixels: int | None = None,
        shuffle_seed: int | None = None,
    ) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise UsageError(f"fps must be > 0, got {fps}", param="fps")
        if max_seconds is not None and not max_seconds > 0:
            raise UsageError(f"max_seconds must be > 0, got {max_seconds}", param="max_seconds")
        valid_num_frames(1, temporal_factor)  # validates temporal_factor
        native_size(
            size_multiple, size_multiple, size_multiple=size_multiple, max_pixels=max_pixels
        )
        self.fps = fps
        self.max_seconds = max_seconds
        self.temporal_factor = temporal_factor
        self.size_multiple = size_multiple
        self.max_pixels = max_pixels
        self.shuffle_seed = shuffle_seed
        self.epoch = 0
        self.skipped = 0
        self.failures: list[tuple[Path, str]] = []

    def __len__(self) -> int:
        return len(self.manifest)

    def set_epoch(self, epoch: int) -> None:
        """With `shuffle_seed`, each epoch visits the rows in its own fixed order."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> Sample:
        row = self.manifest[index]
        path = self.manifest.resolve(row)
        video = VideoFrames(path, fps=self.fps, max_frames=self._max_frames(row, path))
        parts, source, size = [], None, None
        # decoded and resized a chunk at a time: an HD source is never held whole, as uint8
        # or as float; only the resized clip is
        for chunk in video.chunks(READ_CHUNK_FRAMES):
            x = to_tensor(chunk)  # (3,t,H,W) at the source's size
            if size is None:
                source = tuple(x.shape[-2:])
                size = native_size(
                    *source, size_multiple=self.size_multiple, max_pixels=self.max_pixels
                )
            parts.append(resize_video(x, size))
        x = torch.cat(parts, dim=1)
        x = x[:, : valid_num_frames(x.shape[1], self.temporal_factor)]  # (3,T,h,w)
        meta = {"index": index, "path": str(path), "source_size": source, "extra": row.extra}
        return Sample(video=x, text=row.text, fps=video.fps, meta=meta)

    def _max_frames(self, row, path: Path) -> int | None:
        if self.max_seconds is None:
            return None
        fps = self.fps or row.fps or probe(path).fps
        if not fps:  # a still image
            return None
        return max(1, math.floor(self.max_seconds * fps + 1e-6))

    def __iter__(self) -> Iterator[Sample]:
        order = np.arange(len(self.manifest))
        if self.shuffle_seed is not None:
            order = np.random.default_rng([self.shuffle_seed, self.epoch]).permutation(order)
        for i in _shard(iter(order.tolist())):
            try:
                yield self[i]
            except CorruptFileError as e:
                self.skipped += 1
                self.failures.append((self.manifest.resolve(self.manifest[i]), str(e)))
