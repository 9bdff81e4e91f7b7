"""Reconstruction quality: PSNR and SSIM, implemented here (no downloaded network).

SSIM follows Wang et al. 2004 ("Image quality assessment: from error visibility to structural
similarity"): a gaussian window (11 taps, sigma 1.5) gives local means, variances and covariance;
SSIM = ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)) with
C1 = (0.01 L)^2, C2 = (0.03 L)^2, L the data range; averaged over the 'valid' window positions
(no padding, like the reference MATLAB code), over channels and frames. Frames smaller than the
window use a window shrunk to the frame (odd size).
"""

from __future__ import annotations

import torch


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB over all elements (default range: [-1, 1] videos)."""
    mse = (x.double() - y.double()).pow(2).mean().item()
    if mse == 0:
        return float("inf")
    return 10.0 * torch.log10(torch.tensor(data_range**2 / mse)).item()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """(size,) normalised 1D gaussian taps; the 2D window is its outer product."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float = 2.0,
    window: int = 11,
    sigma: float = 1.5,
) -> float:
    """Mean SSIM of two videos/images (..., C, H, W) or (C, T, H, W) treated as frames of
    channel planes: every leading index and channel is one plane. Planes are scored a few at a
    time with a separable window, so memory stays near `PLANE_BATCH_PIXELS` whatever the count
    (a 2D-window conv2d in float64 unfolds 121 copies of its input: 21 GB for 8 HD frames)."""
    h, w = x.shape[-2:]
    size = min(window, h, w)
    size -= 1 - size % 2  # odd
    g = gaussian_window(size, sigma)
    a_all = x.reshape(-1, 1, h, w)  # every plane is one image
    b_all = y.reshape(-1, 1, h, w)
    batch = max(1, PLANE_BATCH_PIXELS // (h * w))
    total, count = 0.0, 0
    for i in range(0, a_all.shape[0], batch):
        values = _ssim_map(
            a_all[i : i + batch].double(), b_all[i : i + batch].double(), g, data_range
        )
        total += values.sum().item()
        count += values.numel()
    return total / count


PLANE_BATCH_PIXELS = 1 << 20


def _blur(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'Valid' separable blur of planes (..., H, W) by the window g x g, as weighted sums of
    shifted slices (float64 conv2d takes a slow path on CPU: 7x slower here)."""
    n = g.numel()
    h, w = t.shape[-2] - n + 1, t.shape[-1] - n + 1
    rows = t[..., :h, :] * g[0]
    for k in range(1, n):
        rows.add_(t[..., k : k + h, :], alpha=float(g[k]))
    out = rows[..., :w] * g[0]
    for k in range(1, n):
        out.add_(rows[..., k : k + w], alpha=float(g[k]))
    return out


def _ssim_map(a: torch.Tensor, b: torch.Tensor, g: torch.Tensor, data_range: float) -> torch.Tensor:
    """SSIM at every 'valid' window position of planes (N, 1, H, W)."""
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    s_aa = _blur(a * a, g) - mu_a**2
    s_bb = _blur(b * b, g) - mu_b**2
    s_ab = _blur(a * b, g) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return num / den
