"""Named VAE sizes. A preset is the constructor config of `CausalVAE` (its saved config.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class VAEPreset:
    temporal_factor: int = 4  # ft: T = 1 + k*ft frames -> 1 + k latent frames
    spatial_factor: int = 8  # fs: H, W -> H/fs, W/fs
    latent_channels: int = 16  # C
    base_channels: int = 32  # channels of the full-resolution level
    channel_mults: tuple[int, ...] = (1, 2, 4)  # one per level, log2(fs / patch) + 1 entries
    num_res_blocks: int = 1  # per encoder level
    decoder_res_blocks: int | None = None  # per decoder level; None: num_res_blocks + 1
    temporal_kernel: int = 3  # causal kernel length in time (1 = frame-by-frame convs)
    patch_size: int = 2  # pixels folded into channels before the first conv

    def to_kwargs(self) -> dict:
        d = asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d


VAE_PRESETS: dict[str, VAEPreset] = {
    # default: for the bundled world (~64 px flat-colored shapes); chosen by a pilot comparison,
    # see docs in chronotope/autoencoder/__init__.py
    "world": VAEPreset(),
    "world-c8": VAEPreset(latent_channels=8),
    # 4x in space (a 12-px object is 3 latent pixels, not 1.5): the candidate for shape; same
    # convolution FLOPs per step as "world" (patch 1 at half the channels), twice the latent
    "world-fs4": VAEPreset(
        spatial_factor=4, latent_channels=8, base_channels=16, channel_mults=(1, 2, 4), patch_size=1
    ),
    # tests only: a few thousand parameters, runs in milliseconds
    "tiny": VAEPreset(latent_channels=4, base_channels=8, channel_mults=(1, 1, 2, 2), patch_size=1),
}


def get_preset(name: str) -> VAEPreset:
    from chronotope.errors import UsageError

    if name not in VAE_PRESETS:
        raise UsageError(
            f"unknown VAE preset {name!r}; valid: {', '.join(VAE_PRESETS)}", param="preset"
        )
    return VAE_PRESETS[name]
