import torch
import torch.nn.functional as F

from chronotope.autoencoder.losses import (
    LossWeights,
    edge_l1,
    kl_divergence,
    temporal_mse,
    vae_loss,
)


def _video(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, 5, 16, 16, generator=g) * 2 - 1


def test_vae_loss_is_the_weighted_sum_of_its_terms():
    target, recon = _video(0), _video(1)
    mean, logvar = torch.randn(2, 4, 2, 2, 2), torch.randn(2, 4, 2, 2, 2) * 0.1
    w = LossWeights(l1=0.3, mse=2.0, edge=0.7, kl=0.01, temporal=1.5)
    total, parts = vae_loss(recon, target, mean, logvar, w)
    expected = (
        0.3 * F.l1_loss(recon, target)
        + 2.0 * F.mse_loss(recon, target)
        + 0.7 * edge_l1(recon, target)
        + 0.01 * kl_divergence(mean, logvar)
        + 1.5 * F.mse_loss(recon.diff(dim=2), target.diff(dim=2))
    )
    torch.testing.assert_close(total, expected)
    assert abs(parts["mse"] - F.mse_loss(recon, target).item()) < 1e-6
    assert abs(parts["l1"] - F.l1_loss(recon, target).item()) < 1e-6


def test_mse_pulls_a_missing_small_object_harder_than_l1():
    # a background reconstructed almost right (error 0.05) and a 2x2 object left out (error 1.5):
    # under L1 the object's pixels get the same gradient as any background pixel; under MSE
    # their gradient is 30x larger, which is why small objects come back
    target = torch.zeros(1, 3, 1, 16, 16)
    target[..., 4:6, 4:6] = 1.5
    recon = torch.full_like(target, 0.05).requires_grad_(True)
    obj = torch.zeros_like(target, dtype=torch.bool)
    obj[..., 4:6, 4:6] = True
    stats = torch.zeros(1, 4, 1, 2, 2)
    ratios = {}
    for name, w in (("l1", LossWeights(1, 0, 0, 0)), ("mse", LossWeights(0, 1, 0, 0))):
        recon.grad = None
        vae_loss(recon, target, stats, stats, w)[0].backward()
        g = recon.grad.abs()
        ratios[name] = (g[obj].mean() / g[~obj].mean()).item()
    assert abs(ratios["l1"] - 1.0) < 1e-6
    assert abs(ratios["mse"] - (1.5 - 0.05) / 0.05) < 1e-3


def test_temporal_term_charges_one_boundary_step_more_than_an_even_drift():
    # the truth is still; two reconstructions drift by the same total over 9 frames: one in 8
    # equal steps of 0.1, one in a single step of 0.8 between frames 4 and 5 (a latent chunk
    # boundary at ft = 4). Squared, the single step costs 8x the even drift
    target = torch.zeros(1, 3, 9, 8, 8)
    even = torch.linspace(0, 0.8, 9).view(1, 1, 9, 1, 1).expand_as(target)
    step = torch.zeros_like(target)
    step[:, :, 5:] = 0.8
    assert temporal_mse(even, target) > 0
    torch.testing.assert_close(
        temporal_mse(step, target) / temporal_mse(even, target), torch.tensor(8.0)
    )
    assert temporal_mse(torch.ones(1, 3, 1, 8, 8), torch.zeros(1, 3, 1, 8, 8)).item() == 0.0
