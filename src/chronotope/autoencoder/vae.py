"""`CausalVAE`: a causal 3D convolutional VAE, video (B,3,T,H,W) in [-1,1] <-> latent
(B, C, 1 + (T-1)/ft, H/fs, W/fs).

Frame 0 is encoded on its own (causal convs pad only the past, time is grouped [0] [1..ft] ...),
so an image is a 1-frame video and images and videos share one latent space. Diffusers
conventions: the constructor arguments are the saved config.json; weights are safetensors only
(`from_pretrained` refuses anything else and never unpickles).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from chronotope.autoencoder.layers import CausalConv3d, TemporalDown, TemporalUp
from chronotope.autoencoder.networks import Decoder, Encoder
from chronotope.autoencoder.presets import get_preset
from chronotope.autoencoder.sizes import check_video_size, latent_size
from chronotope.autoencoder.streaming import TileSpec, stream, time_chunks
from chronotope.errors import UsageError
from chronotope.utils.weights import SafetensorsOnly

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


class CausalVAE(SafetensorsOnly, ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        *,
        temporal_factor: int = 4,
        spatial_factor: int = 8,
        latent_channels: int = 16,
        base_channels: int = 32,
        channel_mults: list[int] | tuple[int, ...] = (1, 2, 4, 4),
        num_res_blocks: int = 1,
        temporal_kernel: int = 3,
        patch_size: int = 1,
        decoder_res_blocks: int | None = None,
        latent_stats: Mapping[str, list[float]] | None = None,
    ):
        """`latent_stats`: the per-channel {"mean": [C floats], "std": [C floats]} of the
        latents (`set_latent_stats`), or None before they are measured."""
        super().__init__()
        _check_latent_stats(latent_stats, latent_channels)
        levels = round(math.log2(spatial_factor / patch_size))  # 2x downsampling steps
        num_temporal = round(math.log2(temporal_factor))
        if 2**levels * patch_size != spatial_factor or 2**num_temporal != temporal_factor:
            raise UsageError("spatial_factor / patch_size and temporal_factor must be powers of 2")
        if len(channel_mults) != levels + 1 or num_temporal > levels:
            raise UsageError(
                f"channel_mults needs log2(spatial_factor/patch_size)+1 = {levels + 1} entries "
                f"and temporal_factor <= spatial_factor / patch_size"
            )
        channels = [base_channels * m for m in channel_mults]
        kw = dict(
            channels=channels,
            latent_channels=latent_channels,
            num_res_blocks=num_res_blocks,
            num_temporal=num_temporal,
            kernel=(temporal_kernel, 3, 3),
            patch=patch_size,
        )
        self.encoder = Encoder(**kw)
        # None: one block per level more than the encoder (the decoder-only option, so a deeper
        # decoder can be grown onto a trained encoder without changing its latents)
        kw["num_res_blocks"] = decoder_res_blocks or num_res_blocks + 1
        self.decoder = Decoder(**kw)
        for name, module in self.named_modules():
            if isinstance(module, (CausalConv3d, TemporalDown, TemporalUp)):
                module.cache_key = name  # each causal layer's slot in a chunked-run cache

    @classmethod
    def from_preset(cls, name: str = "world") -> CausalVAE:
        return cls(**get_preset(name).to_kwargs())

    # ---- sizes ----

    def check_size(self, num_frames: int, height: int, width: int) -> None:
        """Raise `UsageError` (naming the nearest valid size) unless the size is encodable."""
        c = self.config
        check_video_size(
            num_frames,
            height,
            width,
            temporal_factor=c.temporal_factor,
            spatial_factor=c.spatial_factor,
        )

    def latent_size(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        c = self.config
        return latent_size(
            num_frames,
            height,
            width,
            temporal_factor=c.temporal_factor,
            spatial_factor=c.spatial_factor,
        )

    def _check_video(self, video: torch.Tensor) -> None:
        if video.ndim != 5 or video.shape[1] != 3:
            raise UsageError(f"video must be (B, 3, T, H, W), got {tuple(video.shape)}")
        self.check_size(*video.shape[2:])

    def _check_latent(self, z: torch.Tensor) -> None:
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels or min(z.shape[2:]) < 1:
            raise UsageError(
                f"latent must be (B, {self.config.latent_channels}, T', H', W'), got {tuple(z.shape)}"
            )

    # ---- whole-clip passes ----

    def _moments(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = h.chunk(2, dim=1)  # (B, C, T', H', W') each
        return mean, logvar.clamp(-30.0, 20.0)

    def encode(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,3,T,H,W) in [-1,1] -> posterior (mean, logvar), each (B,C,1+(T-1)/ft,H/fs,W/fs)."""
        self._check_video(video)
        return self._moments(self.encoder(video))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B,C,T',H',W') -> (B,3,1+(T'-1)*ft,H'*fs,W'*fs), roughly in [-1,1] (not clamped)."""
        self._check_latent(z)
        return self.decoder(z)

    @staticmethod
    def sample(
        mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + torch.exp(0.5 * logvar) * noise

    def forward(
        self, video: torch.Tensor, *, sample_posterior: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, mean, logvar); the posterior noise uses torch's RNG."""
        mean, logvar = self.encode(video)
        z = self.sample(mean, logvar) if sample_posterior else mean
        return self.decoder(z), mean, logvar

    # ---- memory-bounded passes (streaming.py) ----

    def encode_stream(
        self,
        chunks: Iterable[torch.Tensor],
        *,
        chunk_frames: int | None = None,
        tile: TileSpec | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Encode a clip that arrives in time parts (B,3,t,H,W), in any cut: yield the posterior
        (mean, logvar) for latent frame 0, then per `chunk_frames` frames (a multiple of ft;
        default 2*ft). The clip must end on 1 + k*ft frames. Peak memory is one chunk through one
        tile plus the causal state, whatever the clip's length."""
        ft, fs = self.config.temporal_factor, self.config.spatial_factor
        chunk = chunk_frames or 2 * ft
        if chunk % ft:
            raise UsageError(f"chunk_frames must be a multiple of {ft}, got {chunk}")
        for x in stream(
            self.encoder,
            self._checked_parts(time_chunks(chunks, chunk)),
            tile=tile,
            in_scale=fs,
            out_scale=1,
        ):
            yield self._moments(x)

    def _checked_parts(self, parts: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        ft = self.config.temporal_factor
        for i, x in enumerate(parts):
            if x.ndim != 5 or x.shape[1] != 3:
                raise UsageError(f"video must be (B, 3, T, H, W), got {tuple(x.shape)}")
            if i == 0:
                self.check_size(1, *x.shape[3:])
            elif x.shape[2] % ft:
                raise UsageError(
                    f"video must have 1 + k*{ft} frames; it ended {x.shape[2] % ft} frame(s) over"
                )
            yield x

    def encode_chunked(
        self, video: torch.Tensor, *, chunk_frames: int | None = None, tile: TileSpec | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`encode` in time chunks of `chunk_frames` (a multiple of ft; default 2*ft) and optional
        spatial tiles; equals `encode` up to float rounding (exactly without tiles)."""
        self._check_video(video)
        parts = list(self.encode_stream([video], chunk_frames=chunk_frames, tile=tile))
        return tuple(torch.cat(p, dim=2) for p in zip(*parts))  # (mean, logvar)

    def decode_stream(
        self,
        chunks: Iterable[torch.Tensor],
        *,
        chunk_latent_frames: int = 2,
        tile: TileSpec | None = None,
    ) -> Iterator[torch.Tensor]:
        """Decode a latent that arrives in time parts (B,C,t',H',W') (e.g. from `encode_stream`):
        yield (B,3,1,H,W) for frame 0, then (B,3,<=n*ft,H,W) per `chunk_latent_frames` latent
        frames; peak memory is one chunk through one tile plus the causal state."""
        yield from stream(
            self.decoder,
            time_chunks(chunks, chunk_latent_frames),
            tile=tile,
            in_scale=1,
            out_scale=self.config.spatial_factor,
        )

    def decode_iter(
        self, z: torch.Tensor, *, chunk_latent_frames: int = 2, tile: TileSpec | None = None
    ) -> Iterator[torch.Tensor]:
        """Yield the decoded clip in order: (B,3,1,H,W) for frame 0, then (B,3,<=n*ft,H,W) per
        `chunk_latent_frames` latent frames; peak memory is one chunk, whatever the length."""
        self._check_latent(z)
        yield from self.decode_stream([z], chunk_latent_frames=chunk_latent_frames, tile=tile)

    def decode_chunked(
        self, z: torch.Tensor, *, chunk_latent_frames: int = 2, tile: TileSpec | None = None
    ) -> torch.Tensor:
        return torch.cat(
            list(self.decode_iter(z, chunk_latent_frames=chunk_latent_frames, tile=tile)), 2
        )

    # ---- latent statistics (so the DiT sees unit-variance latents) ----

    def _stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.get_latent_stats(dtype=z.dtype, device=z.device)
        if stats is None:
            raise UsageError("this VAE has no latent statistics; run set_latent_stats first")
        shape = (1, -1, 1, 1, 1) if z.ndim == 5 else (-1, 1, 1, 1)
        mean, std = (s.view(shape) for s in stats)  # per channel, shaped for z
        return mean, std

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B,C,T,H,W) or (C,T,H,W) -> per-channel zero mean, unit std."""
        mean, std = self._stats(z)
        return (z - mean) / std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(z)
        return z * std + mean

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        stats = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        _check_latent_stats(stats, self.config.latent_channels)
        self.register_to_config(latent_stats=stats)

    def get_latent_stats(
        self, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The per-channel (mean, std) as (C,) tensors, or None when not measured yet."""
        stats = self.config.latent_stats
        if stats is None:
            return None
        return tuple(torch.tensor(stats[k], dtype=dtype, device=device) for k in ("mean", "std"))

    # ---- storage: safetensors only (`SafetensorsOnly.from_pretrained`) ----

    @classmethod
    def check_folder(cls, folder: Path) -> None:
        _check_config_keys(folder / "config.json")


def _check_latent_stats(stats: Mapping[str, list[float]] | None, channels: int) -> None:
    if stats is None:
        return
    if not isinstance(stats, Mapping) or set(stats) != {"mean", "std"}:
        raise UsageError(f'latent_stats must be {{"mean": [...], "std": [...]}}, got {stats!r}')
    if any(len(stats[k]) != channels for k in ("mean", "std")):
        raise UsageError(f"latent_stats needs {channels} means and stds (one per latent channel)")


def _check_config_keys(path: Path) -> None:
    """A saved config with a key the constructor does not take is refused, never ignored
    (diffusers would drop it with a warning)."""
    known = set(inspect.signature(CausalVAE.__init__).parameters)
    unknown = sorted(
        k for k in json.loads(path.read_text()) if not k.startswith("_") and k not in known
    )
    if unknown:
        old = {"latents_mean", "latents_std"} & set(unknown)
        hint = (
            ' (the old layout: now one latent_stats {"mean": [...], "std": [...]})' if old else ""
        )
        raise UsageError(f"{path}: not a CausalVAE config key: {', '.join(unknown)}{hint}")
