"""Where training clips come from: the procedural world (default) or a manifest of real clips,
as infinite streams that reopen at any position (the resume point saved in checkpoints)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from chronotope.errors import UsageError
from chronotope.tokens import num_tokens
from chronotope.training.batches import StreamFactory
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec
from chronotope.utils.checkpoint import (
    atomic_save_safetensors,
    atomic_write_text,
    load_safetensors,
)


def default_stream_factory(cfg: TrainConfig, codec: LatentCodec) -> StreamFactory:
    """`cfg.data == "world"`: `WorldStream`; otherwise a manifest CSV or a folder of captioned
    clips (`ClipPool`)."""
    if cfg.data == "world":
        from chronotope.data import WorldStream

        check_world_budget(cfg, codec)
        if cfg.world_clips:
            return WorldPool(cfg, codec, Path(cfg.out) / "latents")

        def world(position: int) -> Iterator:
            return iter(
                WorldStream(
                    cfg.seed,
                    sizes=cfg.sizes,
                    seconds=cfg.seconds,
                    fps=cfg.fps,
                    image_prob=cfg.image_prob,
                    temporal_factor=codec.temporal_factor,
                    families=dict(cfg.world_families) or None,
                    start=position,
                )
            )

        return world
    clips = ClipPool(cfg, codec, Path(cfg.out) / "latents")
    if cfg.preserve:
        pool = cfg.override(world_clips=PRESERVE_CLIPS)
        world = WorldPool(pool, codec, Path(cfg.out) / "latents")
        return Preserved(clips, world, cfg.preserve)
    return clips


PRESERVE_CLIPS = 400  # the world clips `--preserve` distils the base model's predictions on


class WorldPool:
    """The first `world_clips` clips of the world stream, cycled in order; each clip is rendered
    and VAE-encoded once, then kept in memory and on disk (`folder/<key>/<index>.safetensors`,
    the key hashing everything that determines a latent, so a changed VAE or world is a miss).

    Why: VAE encoding of a 64x64 clip costs far more than a DiT step on it, so an endless
    stream spends most of a CPU hour in the encoder; a pool pays it once per clip.
    """

    def __init__(self, cfg: TrainConfig, codec: LatentCodec, folder: Path):
        from chronotope.data import WorldStream

        self.codec, self.size = codec, cfg.world_clips
        spec = dict(
            seed=cfg.seed,
            sizes=cfg.sizes,
            seconds=cfg.seconds,
            fps=cfg.fps,
            image_prob=cfg.image_prob,
            temporal_factor=codec.temporal_factor,
        )
        if cfg.world_families:  # only when set, so a default pool keeps its cache key
            spec["families"] = dict(cfg.world_families)
        self.world = WorldStream(**spec)
        vae = None if codec.vae is None else [codec.source, codec.vae.config]
        key = json.dumps([spec, vae], sort_keys=True, default=str)
        self.folder = folder / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.memory: dict[int, tuple[torch.Tensor, str]] = {}

    def latent(self, index: int) -> tuple[torch.Tensor, str]:
        """(latent (C,T',H',W'), caption) of clip `index`, encoded at most once."""
        if index in self.memory:
            return self.memory[index]
        file = self.folder / f"{index:08d}.safetensors"
        if file.is_file():
            t = load_safetensors(file)
            found = t["latent"], bytes(t["text"].tolist()).decode()
        else:
            sample = self.world[index]
            found = self.codec.encode(sample.video), sample.text
            self.folder.mkdir(parents=True, exist_ok=True)
            text = torch.tensor(list(found[1].encode()), dtype=torch.uint8)
            atomic_save_safetensors({"latent": found[0], "text": text}, file)
        self.memory[index] = found
        return found

    def encode_shard(self, shard: int = 0, shards: int = 1, *, progress: bool = True) -> int:
        """Write the cache files of clips `shard, shard + shards, ...` that are not on disk yet
        and keep nothing in memory; returns how many were encoded. `shards` processes side by
        side (one per core) fill the pool before training, so no training step waits on the
        encoder and the ranks of a torchrun job do not each encode every clip."""
        from tqdm.auto import tqdm

        if not 0 <= shard < shards:
            raise UsageError(f"shard must be in [0, {shards}), got {shard}", param="prepare_shard")
        encoded = 0
        for index in tqdm(range(shard, self.size, shards), disable=not progress, unit="clip"):
            if not (self.folder / f"{index:08d}.safetensors").is_file():
                self.latent(index)
                del self.memory[index]
                encoded += 1
        return encoded

    def __call__(self, position: int) -> Iterator:
        while True:
            latent, text = self.latent(position % self.size)
            position += 1
            yield SimpleNamespace(latent=latent, text=text, meta={"next_position": position})


def check_world_budget(cfg: TrainConfig, codec: LatentCodec) -> None:
    """Refuse up front a token budget that the longest world clip would not fit in."""
    ft = codec.temporal_factor
    frames = 1 + max(1, round(cfg.seconds[1] * cfg.fps / ft)) * ft  # as `WorldStream.plan`
    for width, height in cfg.sizes:
        latent = codec.latent_shape(frames, height, width)
        n = num_tokens(latent, tuple(cfg.patch))
        if n > cfg.token_budget:
            raise UsageError(
                f"--token-budget must be >= {n}: a {cfg.seconds[1]:g} s {width}x{height} clip "
                f"makes {n} tokens (or lower --seconds / --sizes)",
                param="token_budget",
            )


class ClipPool:
    """Real clips (`cfg.data`: a manifest CSV or a folder of captioned clips), each read at the
    model's fps and scale (`data.captioned.ClipReader`) and VAE-encoded once, in endless epochs
    of a seeded order. Latents live on disk (`folder/<key>/<index>.safetensors`, the key hashing
    the clips, their captions, sizes and dates, the reader and the VAE); a clip that cannot
    train leaves `<index>.skip` naming why, so it is read once too and every rank agrees.
    `prepare()` encodes what is missing and counts the clips (`report`)."""

    def __init__(self, cfg: TrainConfig, codec: LatentCodec, folder: Path):
        from chronotope.data.captioned import ClipReader, clip_entries

        self.codec, self.seed = codec, cfg.seed
        self.entries, self.skips = clip_entries(cfg.data)
        self.reader = ClipReader(
            fps=cfg.fps,
            max_seconds=cfg.seconds[1],
            temporal_factor=codec.temporal_factor,
            size_multiple=codec.spatial_factor * max(cfg.patch[1:]),
            sizes=tuple(tuple(s) for s in cfg.sizes),
        )
        files = [[str(e.path), e.text, *_stamp(e.path)] for e in self.entries]
        vae = None if codec.vae is None else [codec.source, codec.vae.config]
        key = json.dumps([files, repr(self.reader), vae], sort_keys=True, default=str)
        self.folder = folder / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.good: list[int] | None = None  # indices of clips that train, once prepared

    def _file(self, index: int, suffix: str) -> Path:
        return self.folder / f"{index:08d}.{suffix}"

    def encode_shard(self, shard: int = 0, shards: int = 1, *, progress: bool = True) -> int:
        """Read and encode clips `shard, shard + shards, ...` not yet on disk; returns how many
        were read (as `WorldPool.encode_shard`: processes side by side fill the pool)."""
        from tqdm.auto import tqdm

        from chronotope.data.captioned import SkippedClip

        self.folder.mkdir(parents=True, exist_ok=True)
        done = 0
        for index in tqdm(range(shard, len(self.entries), shards), disable=not progress):
            if self._file(index, "safetensors").is_file() or self._file(index, "skip").is_file():
                continue
            try:
                latent = self.codec.encode(self.reader.read(self.entries[index]).video)
            except SkippedClip as e:
                atomic_write_text(self._file(index, "skip"), json.dumps([e.reason, str(e)]))
            else:
                atomic_save_safetensors({"latent": latent}, self._file(index, "safetensors"))
            done += 1
        return done

    def prepare(self, *, progress: bool = True) -> list[int]:
        """Encode every clip not on disk yet; the indices of those that train."""
        if self.good is not None:
            return self.good
        self.encode_shard(progress=progress)
        self.good = []
        for index, entry in enumerate(self.entries):
            skip = self._file(index, "skip")
            if skip.is_file():
                self.skips.add(json.loads(skip.read_text())[0], entry.path)
            else:
                self.good.append(index)
        if not self.good:
            raise UsageError(f"--data {self.report()}: no clip to train on", param="data")
        return self.good

    def captions(self) -> list[str]:
        """The captions of the clips that train."""
        return [self.entries[i].text for i in self.prepare(progress=False)]

    def report(self) -> str:
        """One line: clips found, ok, and skipped by reason (as `data scan` counts them)."""
        from chronotope.data.captioned import NO_CAPTION

        return self.skips.line(len(self.entries) + self.skips.counts[NO_CAPTION])

    def __call__(self, position: int) -> Iterator:
        """Endless epochs, each in its own seeded order; position p = epoch * len + offset."""
        good = self.good if self.good is not None else self.prepare(progress=False)
        n = len(good)
        while True:
            epoch, offset = divmod(position, n)
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
            for j in range(offset, n):
                index = good[int(order[j])]
                position = epoch * n + j + 1
                latent = load_safetensors(self._file(index, "safetensors"))["latent"]
                meta = {"next_position": position}
                yield SimpleNamespace(latent=latent, text=self.entries[index].text, meta=meta)


def _stamp(path: Path) -> tuple[int, int]:
    """(size, mtime) of a file, (-1, -1) if it is gone (then it is skipped as unreadable)."""
    try:
        st = path.stat()
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


class Preserved:
    """`clips` with world clips mixed in (a `share` of the stream, evenly spaced) that are
    marked `teacher`: their target is the frozen base model's prediction (the trainer runs it
    with the adapter disabled), so an adapter is trained to leave the base vocabulary as it was
    (prior preservation by self-distillation). Position p is world clip floor(p * share) when
    that count steps at p, else user clip p - floor(p * share)."""

    distils = True  # the trainer runs the base model for the marked clips' targets

    def __init__(self, clips: ClipPool, world: WorldPool, share: float):
        self.clips, self.world, self.share = clips, world, share

    def _worlds(self, position: int) -> int:
        return int(np.floor(position * self.share))

    def encode_shard(self, shard: int = 0, shards: int = 1, *, progress: bool = True) -> int:
        done = self.clips.encode_shard(shard, shards, progress=progress)
        return done + self.world.encode_shard(shard, shards, progress=progress)

    def prepare(self, *, progress: bool = True) -> list[int]:
        self.world.encode_shard(progress=progress)
        return self.clips.prepare(progress=progress)

    def captions(self) -> list[str]:
        return self.clips.captions()

    def report(self) -> str:
        return self.clips.report() + f"; {self.share:.0%} world clips keep the base's predictions"

    def __call__(self, position: int) -> Iterator:
        users = self.clips(position - self._worlds(position))
        while True:
            k = self._worlds(position)
            if self._worlds(position + 1) > k:
                latent, text = self.world.latent(k % self.world.size)
                sample = SimpleNamespace(latent=latent, text=text, teacher=True)
            else:
                sample = next(users)
            position += 1
            sample.meta = {"next_position": position}
            yield sample
