"""The video compression network: a causal 3D convolutional VAE with chunked/tiled encode and
decode, and its training loop.

Layout: `layers` (causal conv, norms, resampling with DC-AE shortcuts) -> `networks` (encoder,
decoder) -> `vae` (`CausalVAE`: sizes, encode/decode, chunked `decode_iter`, latent stats,
safetensors-only storage) with `streaming` (time chunks + blended spatial tiles); training in
`train` (`sources`, `losses`, `contact_sheet`, `stats`); scoring in `metrics` and `evaluate`.

Default preset "world" (ft=4, fs=8, C=16, 3.1M parameters, 12 MB fp32): 2x2 pixels are folded
into channels first, since full-resolution convolutions dominated the CPU step time (a
patch-1 design with 32 channels at 64 px took ~2x longer per step); C=16 beat C=8 in a
5-minute pilot on world clips (19.3 vs 18.1 dB train PSNR at step 175, same step time). An
fs=4, C=8 variant (patch 1, 24 base channels) took 1.8 s per step against 0.75 s and was not
ahead at equal wall time (~19.5 dB after 3 minutes), so fs=8 stays. What mattered more was the
loss: with L1 alone small objects faded for thousands of steps (23 dB at step 2365); adding MSE
brought their colors back within ~600 steps (27 dB at step 3800), see `losses`.
"""

from typing import TYPE_CHECKING

from chronotope.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from chronotope.autoencoder.presets import VAE_PRESETS, VAEPreset, get_preset
    from chronotope.autoencoder.sizes import check_video_size, latent_size, nearest_valid_size
    from chronotope.autoencoder.streaming import TileSpec
    from chronotope.autoencoder.vae import CausalVAE

# imported on first use: `vae` pulls in diffusers, which the CLI's flags never need
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "VAE_PRESETS": "presets",
        "VAEPreset": "presets",
        "get_preset": "presets",
        "check_video_size": "sizes",
        "latent_size": "sizes",
        "nearest_valid_size": "sizes",
        "TileSpec": "streaming",
        "CausalVAE": "vae",
    },
)
__all__ = [
    "CausalVAE",
    "TileSpec",
    "VAEPreset",
    "VAE_PRESETS",
    "check_video_size",
    "get_preset",
    "latent_size",
    "nearest_valid_size",
]
