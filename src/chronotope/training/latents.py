"""`LatentCodec`: video (3,T,H,W) in [-1,1] <-> normalized latent (C,T',H',W') for training.

Either the causal VAE (encode the posterior mean under no_grad + bf16 autocast, then normalize
with the VAE's latent stats so the DiT sees unit-variance latents) or, with `--vae none`, the
identity "autoencoder" of pixel space (fs = ft = 1, C = 3) used by tests and tiny runs.
The posterior mean, not a sample, keeps encoding deterministic, which exact resume relies on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import torch

from chronotope.autoencoder.streaming import auto_tile
from chronotope.errors import UsageError
from chronotope.utils.paths import BUNDLED_MODEL_DIR
from chronotope.utils.precision import autocast


def bundled_vae_dir() -> Path:
    """Where the package ships its trained VAE: the bundled model's (`chronotope/weights/world/vae`)."""
    return BUNDLED_MODEL_DIR / "vae"


class LatentCodec:
    """Wraps a `CausalVAE` (or nothing, for pixel space) behind encode/decode of one clip."""

    def __init__(self, vae=None, *, source: str = "none"):
        self.vae = vae.eval().requires_grad_(False) if vae is not None else None
        self.source = source  # "none" or the VAE folder, recorded in the final model folder

    @classmethod
    def load(cls, spec: str) -> LatentCodec:
        """`spec`: "none" (pixel space), "bundled", or a CausalVAE `save_pretrained` folder."""
        if spec == "none":
            return cls()
        folder = bundled_vae_dir() if spec == "bundled" else Path(spec)
        if not (folder / "config.json").is_file():
            hint = "; pass --vae DIR or --vae none" if spec == "bundled" else ""
            raise UsageError(
                f"--vae: no CausalVAE folder (config.json) at {folder}{hint}", param="vae"
            )
        from chronotope.autoencoder import CausalVAE

        vae = CausalVAE.from_pretrained(folder)
        if vae.config.latent_stats is None:
            raise UsageError(
                f"--vae {folder}: the VAE has no latent statistics (latent_stats)", param="vae"
            )
        return cls(vae, source=str(folder.resolve()))

    @property
    def channels(self) -> int:
        return 3 if self.vae is None else int(self.vae.config.latent_channels)

    @property
    def temporal_factor(self) -> int:
        return 1 if self.vae is None else int(self.vae.config.temporal_factor)

    @property
    def spatial_factor(self) -> int:
        return 1 if self.vae is None else int(self.vae.config.spatial_factor)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        ft, fs = self.temporal_factor, self.spatial_factor
        return 1 + (frames - 1) // ft, height // fs, width // fs

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(3,T,H,W) in [-1,1] -> normalized latent (C,T',H',W') float32, streamed through the
        VAE in time chunks and (on large frames) tiles: memory flat in the clip's length."""
        if self.vae is None:
            return video.float()
        return self.encode_stream([video[None]])

    @torch.no_grad()
    def encode_stream(self, parts: Iterable[torch.Tensor]) -> torch.Tensor:
        """A clip arriving as (1,3,t,H,W) parts in [-1,1] (1 + k*ft frames in all, e.g. decoded
        chunk by chunk from a file) -> normalized latent (C,T',H',W'); only the latent, a
        fraction of the clip, is held whole."""
        parts = iter(parts)
        first = next(parts)
        if self.vae is None:
            return torch.cat([first, *parts], dim=2)[0].float()
        fs = self.spatial_factor
        tile = auto_tile(first.shape[-2] // fs, first.shape[-1] // fs)
        with autocast(first.device.type):
            means = [
                mean.float()
                for mean, _ in self.vae.encode_stream(itertools.chain([first], parts), tile=tile)
            ]
        return self.vae.normalize(torch.cat(means, dim=2))[0]  # (C, T', H', W')

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalized latent (C,T',H',W') -> video (3,T,H,W) clamped to [-1,1]."""
        if self.vae is None:
            return latent.float().clamp(-1, 1)
        z = self.vae.denormalize(latent.float()[None])
        h, w = z.shape[-2:]
        with autocast(z.device.type):
            video = self.vae.decode_chunked(z, tile=auto_tile(h, w))  # memory flat in length
        return video.float()[0].clamp(-1, 1)
