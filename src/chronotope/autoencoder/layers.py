"""Causal spacetime building blocks of the VAE, each able to run on a video in temporal chunks.

Every layer that looks at more than one frame takes `cache: dict | None`:
- `None`: the whole clip at once (the first frame is the clip's first frame);
- a dict: the clip arrives in chunks, in order; the layer keeps what it needs of the previous
  chunk under its own `cache_key` (set by the model) so chunked == unchunked (up to float noise).
A key missing from the dict means "this is the first chunk".

Causality: a causal conv pads only the past (with copies of frame 0, so a still video and an
image agree); temporal down/upsampling groups frames as [0] [1..2] [3..4]..., so frame 0 is
always encoded on its own and an image is a 1-frame video. Normalisation is per position (RMS
over channels) so that neither time chunks nor spatial tiles change the statistics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

Cache = dict[str, torch.Tensor]


class ChannelRMSNorm(nn.Module):
    """RMS norm over channels at each (t, h, w): local, so chunking and tiling stay exact."""

    def __init__(self, *, channels: int, eps: float = 1e-6):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, T, H, W). In x's dtype: the channel mean accumulates in fp32 internally, and
        # fp32 round trips of full-resolution activations cost more than the convs on CPU.
        rms = x.pow(2).mean(dim=1, keepdim=True).add(self.eps).rsqrt()
        return x * rms * self.scale.to(x.dtype)


class CausalConv3d(nn.Module):
    """Conv3d that pads time only on the past side; spatial padding is 'same' with zeros."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel: tuple[int, int, int]):
        super().__init__()
        kt, kh, kw = kernel
        self.past = kt - 1
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, padding=(0, kh // 2, kw // 2))
        self.cache_key = ""  # set by the model after construction

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        if self.past == 0:
            return self.conv(x)
        prev = None if cache is None else cache.get(self.cache_key)
        if prev is None:
            # first chunk: the past is frame 0 repeated, (B, C, past, H, W)
            prev = x[:, :, :1].expand(-1, -1, self.past, -1, -1)
        x = torch.cat([prev.to(x.dtype), x], dim=2)  # (B, C, past + T, H, W)
        if cache is not None:
            keep = x[:, :, -self.past :].detach()
            if torch.is_autocast_enabled(x.device.type):
                # the conv reads its input in autocast's dtype: the cache holds only that
                # (bitwise the same result, a third less state for fp32 inputs)
                keep = keep.to(torch.get_autocast_dtype(x.device.type))
            cache[self.cache_key] = keep.clone()
        return self.conv(x)


class ResBlock(nn.Module):
    """norm -> SiLU -> causal conv, twice, plus a (1x1x1-projected) skip."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel: tuple[int, int, int]):
        super().__init__()
        self.norm1 = ChannelRMSNorm(channels=in_channels)
        self.conv1 = CausalConv3d(in_channels=in_channels, out_channels=out_channels, kernel=kernel)
        self.norm2 = ChannelRMSNorm(channels=out_channels)
        self.conv2 = CausalConv3d(
            in_channels=out_channels, out_channels=out_channels, kernel=kernel
        )
        self.skip = (
            nn.Conv3d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


def channel_average(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    """(B, C, ...) -> (B, out, ...) by averaging groups of C/out adjacent channels."""
    return rearrange(x, "b (o g) ... -> b o g ...", o=out_channels).mean(2)


def channel_repeat(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    """(B, C, ...) -> (B, out, ...) by repeating each channel out/C times."""
    return x.repeat_interleave(out_channels // x.shape[1], dim=1)


def shortcut_ok(a: int, b: int) -> bool:
    return max(a, b) % min(a, b) == 0


def to_channels(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    """Parameter-free channel count change: average groups down, repeat up."""
    if x.shape[1] >= out_channels:
        return channel_average(x, out_channels)
    return channel_repeat(x, out_channels)


# Resampling layers carry a parameter-free shortcut beside their conv (space-to-channel plus
# channel averaging going down, the reverse going up; DC-AE, Chen et al. 2024): the convs
# then learn a residual, which trains high-compression autoencoders much faster.


class SpatialDown(nn.Module):
    """Stride-2 (1,3,3) conv + shortcut: halves H and W, frame by frame (no temporal state)."""

    def __init__(self, *, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(
            in_channels, out_channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)
        )
        self.shortcut = shortcut_ok(4 * in_channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (B, C, T, H, W) -> (B, C', T, H/2, W/2)
        if self.shortcut:
            s = rearrange(x, "b c t (h p) (w q) -> b (c p q) t h w", p=2, q=2)  # (B,4C,T,H/2,W/2)
            y = y + to_channels(s, self.out_channels)
        return y


class TemporalDown(nn.Module):
    """Causal 2x in time: frames grouped [0,0] [1,2] [3,4] ... then mixed by a 1x1x1 conv.

    T = 1 + 2k frames -> 1 + k. In chunked mode only the first chunk (odd length) gets the
    duplicated frame 0; later chunks must have an even number of frames.
    """

    def __init__(self, *, channels: int):
        super().__init__()
        self.mix = nn.Conv3d(2 * channels, channels, 1)
        self.cache_key = ""

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        first = cache is None or self.cache_key not in cache
        if first:
            x = torch.cat([x[:, :, :1], x], dim=2)  # (B, C, 2 + 2k, H, W)
            if cache is not None:
                cache[self.cache_key] = torch.empty(0)  # marks "first chunk done"
        if x.shape[2] % 2:
            raise ValueError(
                f"TemporalDown got {x.shape[2]} frames in a non-first chunk; need even"
            )
        x = rearrange(x, "b c (t two) h w -> b (c two) t h w", two=2)  # (B, 2C, 1 + k, H, W)
        return self.mix(x) + channel_average(x, x.shape[1] // 2)


class TemporalUp(nn.Module):
    """Causal 2x in time, the inverse grouping of `TemporalDown`: 1 + k frames -> 1 + 2k.

    Each frame becomes two (a 1x1x1 conv to 2C channels, then depth-to-time); the very first
    output frame is dropped, so latent frame 0 decodes to exactly one frame.
    """

    def __init__(self, *, channels: int):
        super().__init__()
        self.expand = nn.Conv3d(channels, 2 * channels, 1)
        self.cache_key = ""

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        x = self.expand(x) + channel_repeat(x, 2 * x.shape[1])  # (B, 2C, T, H, W)
        x = rearrange(x, "b (c two) t h w -> b c (t two) h w", two=2)  # (B, C, 2T, H, W)
        first = cache is None or self.cache_key not in cache
        if first:
            x = x[:, :, 1:]  # (B, C, 2T - 1, H, W)
            if cache is not None:
                cache[self.cache_key] = torch.empty(0)
        return x


class SpatialUp(nn.Module):
    """Nearest 2x in H and W, then a (1,3,3) conv, + shortcut (channels to space)."""

    def __init__(self, *, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, (1, 3, 3), padding=(0, 1, 1))
        self.shortcut = shortcut_ok(in_channels, 4 * out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest"))
        if self.shortcut:  # (B, C, T, H, W) -> (B, 4C', T, H, W) -> (B, C', T, 2H, 2W)
            s = to_channels(x, 4 * self.out_channels)
            y = y + rearrange(s, "b (c p q) t h w -> b c t (h p) (w q)", p=2, q=2)
        return y
