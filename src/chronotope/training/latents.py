"""`LatentCodec`: video (3,T,H,W) in [-1,1] <-> normalized latent (C,T',H',W') for training.

Either the causal VAE (encode the posterior mean under no_grad + bf16 autocast, then normalize
with the VAE's latent stats so the DiT sees unit-variance latents) or, with `--vae none`, the
identity "autoencoder" of pixel space (fs = ft = 1, C = 3) used by tests and tiny runs.
The posterior mean, not a sample, keeps encoding deterministic, which exact resume relies on.
"""

from __future__ import annotations

from pathlib import Path

import torch

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
        """(3,T,H,W) in [-1,1] -> normalized latent (C,T',H',W') float32."""
        if self.vae is None:
            return video.float()
        with autocast(video.device.type):
            mean, _ = self.vae.encode(video[None])  # (1,C,T',H',W')
        return self.vae.normalize(mean.float())[0]

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalized latent (C,T',H',W') -> video (3,T,H,W) clamped to [-1,1]."""
        if self.vae is None:
            return latent.float().clamp(-1, 1)
        z = self.vae.denormalize(latent.float()[None])
        with autocast(z.device.type):
            video = self.vae.decode_chunked(z)  # memory flat in length
        return video.float()[0].clamp(-1, 1)
