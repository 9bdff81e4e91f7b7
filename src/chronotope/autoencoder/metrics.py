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
import torch.nn.functional as F


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
    channel planes: every leading index and channel is one plane."""
    h, w = x.shape[-2:]
    size = min(window, h, w)
    size -= 1 - size % 2  # odd
    g = gaussian_window(size, sigma)
    k = (g[:, None] * g[None, :])[None, None]  # (1, 1, size, size)
    a = x.double().reshape(-1, 1, h, w)  # every plane is one image
    b = y.double().reshape(-1, 1, h, w)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, k)  # 'valid': no padding

    mu_a, mu_b = blur(a), blur(b)
    s_aa = blur(a * a) - mu_a**2
    s_bb = blur(b * b) - mu_b**2
    s_ab = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return (num / den).mean().item()
