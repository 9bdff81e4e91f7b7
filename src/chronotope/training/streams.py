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

from chronotope.errors import CorruptFileError, UsageError
from chronotope.tokens import num_tokens
from chronotope.training.batches import StreamFactory
from chronotope.training.config import TrainConfig
from chronotope.training.latents import LatentCodec
from chronotope.utils.checkpoint import atomic_save_safetensors, load_safetensors


def default_stream_factory(cfg: TrainConfig, codec: LatentCodec) -> StreamFactory:
    """`cfg.data == "world"`: `WorldStream`; otherwise `cfg.data` is a manifest CSV."""
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
    if not Path(cfg.data).is_file():
        raise UsageError(
            f"--data must be 'world' or a manifest CSV file, got {cfg.data}", param="data"
        )
    from chronotope.data import ManifestDataset

    dataset = ManifestDataset(
        cfg.data,
        fps=cfg.fps,
        max_seconds=cfg.seconds[1],
        temporal_factor=codec.temporal_factor,
        size_multiple=codec.spatial_factor * max(cfg.patch[1:]),
    )
    if len(dataset) == 0:
        raise UsageError(f"--data {cfg.data}: the manifest has no rows", param="data")
    return lambda position: _epochs(dataset, cfg.seed, position)


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


def _epochs(dataset, seed: int, position: int) -> Iterator:
    """Endless epochs, each in its own seeded order; position p = epoch * len + offset.
    Each sample's `meta["next_position"]` says where to reopen after it (unreadable clips are
    skipped, so positions and yielded samples need not match one to one)."""
    n = len(dataset)
    while True:
        epoch, offset = divmod(position, n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        for j in range(offset, n):
            position = epoch * n + j + 1
            try:
                sample = dataset[int(order[j])]
            except CorruptFileError:
                continue
            sample.meta["next_position"] = position
            yield sample
