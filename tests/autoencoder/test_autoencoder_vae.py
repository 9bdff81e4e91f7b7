import pytest
import torch

from chronotope.autoencoder import VAE_PRESETS, CausalVAE, nearest_valid_size
from chronotope.errors import UsageError


@pytest.fixture(scope="module")
def vae() -> CausalVAE:
    torch.manual_seed(0)
    return CausalVAE.from_preset("tiny").eval()


@pytest.mark.parametrize(
    "t,h,w", [(1, 16, 16), (1, 24, 40), (5, 16, 32), (9, 32, 16), (13, 8, 8), (5, 40, 24)]
)
def test_shapes_images_and_videos(vae, t, h, w):
    x = torch.rand(2, 3, t, h, w) * 2 - 1
    with torch.no_grad():
        mean, logvar = vae.encode(x)
        assert mean.shape == logvar.shape == (2, 4, 1 + (t - 1) // 4, h // 8, w // 8)
        assert vae.decode(mean).shape == x.shape


@pytest.mark.parametrize(
    "t,h,w,nearest",
    [
        (4, 16, 16, "5 frames x 16x16"),
        (9, 15, 16, "9 frames x 16x16"),
        (1, 16, 70, "1 frames x 16x72"),
        (0, 16, 16, "1 frames x 16x16"),
        (2, 16, 16, "1 frames x 16x16"),
    ],
)
def test_invalid_size_names_nearest_valid(vae, t, h, w, nearest):
    with pytest.raises(UsageError, match=nearest):
        vae.encode(torch.zeros(1, 3, max(t, 1), h, w) if t else torch.zeros(1, 3, 0, h, w))


def test_nearest_valid_size():
    assert nearest_valid_size(18, 63, 101, temporal_factor=4, spatial_factor=8) == (17, 64, 104)
    assert nearest_valid_size(1, 3, 3, temporal_factor=4, spatial_factor=8) == (1, 8, 8)


def test_causality_changing_frame_k_keeps_earlier_latents(vae):
    x = torch.rand(1, 3, 13, 16, 16) * 2 - 1
    for k in (1, 4, 5, 9, 12):
        y = x.clone()
        y[:, :, k] = -y[:, :, k]
        with torch.no_grad():
            a, b = vae.encode(x)[0], vae.encode(y)[0]
        first = (k + 3) // 4  # latent frame holding pixel frame k: [0] [1..4] [5..8] [9..12]
        assert torch.equal(a[:, :, :first], b[:, :, :first])
        assert not torch.allclose(a[:, :, first], b[:, :, first])


def test_image_is_a_one_frame_video(vae):
    x = torch.rand(1, 3, 9, 16, 24) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(vae.encode(x[:, :, :1])[0], vae.encode(x)[0][:, :, :1], atol=1e-6)
        z = vae.encode(x)[0]
        assert torch.allclose(vae.decode(z[:, :, :1]), vae.decode(z)[:, :, :1], atol=1e-5)


def test_decoder_is_causal(vae):
    z = torch.randn(1, 4, 4, 2, 2)
    z2 = z.clone()
    z2[:, :, 2] += 1.0
    with torch.no_grad():
        a, b = vae.decode(z), vae.decode(z2)
    assert torch.equal(a[:, :, :5], b[:, :, :5])  # pixel frames 0..4 come from latents 0..1
    assert not torch.allclose(a[:, :, 5:9], b[:, :, 5:9])


def test_normalize_round_trip_and_unit_stats(vae):
    vae2 = CausalVAE.from_preset("tiny")
    vae2.set_latent_stats(torch.tensor([1.0, -2.0, 0.5, 0.0]), torch.tensor([2.0, 0.5, 1.0, 3.0]))
    z = torch.randn(2, 4, 3, 2, 2)
    assert torch.allclose(vae2.denormalize(vae2.normalize(z)), z, atol=1e-6)
    assert torch.allclose(vae2.normalize(z)[:, 1], (z[:, 1] + 2.0) / 0.5)
    with pytest.raises(UsageError):
        vae.normalize(z)  # no stats yet


def test_presets_param_counts():
    sizes = {n: sum(p.numel() for p in CausalVAE.from_preset(n).parameters()) for n in VAE_PRESETS}
    assert sizes["tiny"] < 200_000
    assert 1_000_000 <= sizes["world"] <= 8_000_000


@pytest.mark.parametrize("name", sorted(VAE_PRESETS))
def test_every_preset_round_trips_its_latent_geometry(name):
    vae = CausalVAE.from_preset(name).eval()
    c = vae.config
    fs, ft = c.spatial_factor, c.temporal_factor
    x = torch.zeros(1, 3, 1 + ft, 2 * fs, 3 * fs)
    with torch.no_grad():
        mean, _ = vae.encode(x)
        assert mean.shape == (1, c.latent_channels, 2, 2, 3)
        assert vae.decode(mean).shape == x.shape


def test_grow_decoder_keeps_the_decoded_video_bit_exact():
    from chronotope.autoencoder.networks import grow_decoder

    torch.manual_seed(0)
    small = CausalVAE.from_preset("tiny").eval()
    with torch.no_grad():  # every block doing something, so a misplaced copy would show
        for p in small.decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    big = CausalVAE(**{**small.config, "decoder_res_blocks": 4}).eval()
    grow_decoder(small.decoder, big.decoder)
    z = torch.randn(1, 4, 3, 2, 3)
    with torch.no_grad():
        assert torch.equal(big.decode(z), small.decode(z))
        chunked = big.decode_chunked(z, chunk_latent_frames=1)  # the new blocks' causal caches
        torch.testing.assert_close(chunked, big.decode(z), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="cannot grow"):
        grow_decoder(big.decoder, small.decoder)
