"""Encoder and decoder stacks of the causal VAE (pure modules; no chunking or tiling here).

The encoder first folds `patch` x `patch` pixels into channels (and the decoder unfolds them
last): on this CPU full-resolution convolutions and their elementwise neighbours dominate the
step time, and flat-colored frames lose little by it. Level i then works at `channels[i]`;
going down a level halves H and W (and T on the deepest `log2(ft)` levels, so the
high-resolution levels still see every frame).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from chronotope.autoencoder.layers import (
    Cache,
    CausalConv3d,
    ChannelRMSNorm,
    ResBlock,
    SpatialDown,
    SpatialUp,
    TemporalDown,
    TemporalUp,
    shortcut_ok,
    to_channels,
)


def temporal_levels(num_levels: int, num_temporal: int) -> list[bool]:
    """Which of the `num_levels` downsampling steps also halve time: the deepest ones."""
    return [i >= num_levels - num_temporal for i in range(num_levels)]


def _run(layers: nn.ModuleList, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
    for layer in layers:
        if isinstance(layer, (ResBlock, TemporalDown, TemporalUp, CausalConv3d)):
            x = layer(x, cache)
        else:
            x = layer(x)
    return x


class Encoder(nn.Module):
    """(B, 3, T, H, W) -> (B, 2C, 1 + (T-1)/ft, H/fs, W/fs): posterior mean and logvar."""

    def __init__(
        self,
        *,
        channels: list[int],
        latent_channels: int,
        num_res_blocks: int,
        num_temporal: int,
        kernel: tuple[int, int, int],
        patch: int = 1,
    ):
        super().__init__()
        levels = len(channels) - 1
        self.patch = patch
        self.conv_in = CausalConv3d(
            in_channels=3 * patch**2, out_channels=channels[0], kernel=kernel
        )
        layers: list[nn.Module] = []
        for i, halve_time in enumerate(temporal_levels(levels, num_temporal)):
            c = channels[i]
            layers += [
                ResBlock(in_channels=c, out_channels=c, kernel=kernel)
                for _ in range(num_res_blocks)
            ]
            layers.append(SpatialDown(in_channels=c, out_channels=channels[i + 1]))
            if halve_time:
                layers.append(TemporalDown(channels=channels[i + 1]))
        c = channels[-1]
        layers.append(ResBlock(in_channels=c, out_channels=c, kernel=kernel))
        self.layers = nn.ModuleList(layers)
        self.norm_out = ChannelRMSNorm(channels=c)
        self.conv_out = CausalConv3d(in_channels=c, out_channels=2 * latent_channels, kernel=kernel)
        with torch.no_grad():  # start with a small posterior std (e^-3): early decoder inputs
            self.conv_out.conv.bias[latent_channels:] = -6.0  # are not drowned in noise

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        p = self.patch
        x = rearrange(x, "b c t (h p) (w q) -> b (c p q) t h w", p=p, q=p)  # (B, 3p^2, T, H/p, W/p)
        h = self.conv_in(x, cache)  # (B, c0, T, H/p, W/p)
        h = _run(self.layers, h, cache)  # (B, cL, T', H/fs, W/fs)
        out = self.conv_out(F.silu(self.norm_out(h)), cache)  # (B, 2C, T', H', W')
        c = out.shape[1] // 2
        if shortcut_ok(h.shape[1], c):  # DC-AE shortcut (see layers.py), onto the mean only;
            # it reads the un-normalised stream, so latents are large (|z| ~ 25): the stored
            # latent statistics bring them to unit scale for the DiT
            out = torch.cat([out[:, :c] + to_channels(h, c), out[:, c:]], dim=1)
        return out


class Decoder(nn.Module):
    """(B, C, T', H', W') -> (B, 3, 1 + (T'-1)*ft, H'*fs, W'*fs), unbounded (no tanh).

    `num_res_blocks` blocks per level (the VAE gives it one more than the encoder's by default:
    decoding is the harder direction).
    """

    def __init__(
        self,
        *,
        channels: list[int],
        latent_channels: int,
        num_res_blocks: int,
        num_temporal: int,
        kernel: tuple[int, int, int],
        patch: int = 1,
    ):
        super().__init__()
        levels = len(channels) - 1
        self.patch = patch
        self.blocks_per_level = num_res_blocks
        c = channels[-1]
        self.conv_in = CausalConv3d(in_channels=latent_channels, out_channels=c, kernel=kernel)
        layers: list[nn.Module] = [ResBlock(in_channels=c, out_channels=c, kernel=kernel)]
        halves = temporal_levels(levels, num_temporal)
        for i in reversed(range(levels)):
            if halves[i]:
                layers.append(TemporalUp(channels=channels[i + 1]))
            layers.append(SpatialUp(in_channels=channels[i + 1], out_channels=channels[i]))
            c = channels[i]
            layers += [
                ResBlock(in_channels=c, out_channels=c, kernel=kernel)
                for _ in range(num_res_blocks)
            ]
        self.layers = nn.ModuleList(layers)
        self.norm_out = ChannelRMSNorm(channels=channels[0])
        self.conv_out = CausalConv3d(
            in_channels=channels[0], out_channels=3 * patch**2, kernel=kernel
        )

    def forward(self, z: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.conv_in(z, cache)  # (B, cL, T', H', W')
        if shortcut_ok(z.shape[1], h.shape[1]):
            h = h + to_channels(z, h.shape[1])
        h = _run(self.layers, h, cache)  # (B, c0, T, H/p, W/p)
        h = self.conv_out(F.silu(self.norm_out(h)), cache)  # (B, 3p^2, T, H/p, W/p)
        p = self.patch
        return rearrange(h, "b (c p q) t h w -> b c t (h p) (w q)", p=p, q=p)  # (B, 3, T, H, W)


@torch.no_grad()
def grow_decoder(source: Decoder, target: Decoder) -> None:
    """Load `source` into `target`, a decoder of the same shape but more blocks per level, so
    that `target` computes exactly what `source` does: each level's blocks of `source` fill the
    first places of that level, and every extra block starts as the identity (its last conv is
    zero, so only its skip path is left). Capacity added this way keeps a trained decoder's
    output; a decoder-only fine-tune (`train-vae --freeze-encoder --decoder-blocks N`) then
    learns to use it."""
    old = list(source.layers)
    j = 0
    for layer in target.layers:
        if j < len(old) and type(old[j]) is type(layer):
            layer.load_state_dict(old[j].state_dict())
            j += 1
        elif isinstance(layer, ResBlock):
            layer.conv2.conv.weight.zero_()
            layer.conv2.conv.bias.zero_()
        else:
            raise ValueError(f"cannot grow a decoder into this one: no place for {layer}")
    if j != len(old):
        raise ValueError("cannot grow a decoder into this one: it has fewer blocks")
    for name in ("conv_in", "norm_out", "conv_out"):
        getattr(target, name).load_state_dict(getattr(source, name).state_dict())
