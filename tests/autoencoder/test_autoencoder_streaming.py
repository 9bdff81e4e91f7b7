import numpy as np
import pytest
import torch

from chronotope.autoencoder import CausalVAE, TileSpec
from chronotope.autoencoder.streaming import (
    ramp,
    tile_spans,
    tile_starts,
    tiled_length,
    time_chunks,
)
from chronotope.errors import UsageError


@pytest.fixture(scope="module")
def vae() -> CausalVAE:
    torch.manual_seed(0)
    return CausalVAE.from_preset("tiny").eval()


@pytest.mark.parametrize("chunk", [4, 8])
def test_chunked_encode_equals_unchunked(vae, chunk):
    x = torch.rand(1, 3, 17, 16, 24) * 2 - 1
    with torch.no_grad():
        m, lv = vae.encode(x)
        mc, lvc = vae.encode_chunked(x, chunk_frames=chunk)
    assert (m - mc).abs().max() < 1e-4 and (lv - lvc).abs().max() < 1e-4


@pytest.mark.parametrize("chunk", [1, 3])
def test_chunked_decode_equals_unchunked(vae, chunk):
    z = torch.randn(1, 4, 6, 2, 3)
    with torch.no_grad():
        full = vae.decode(z)
        parts = list(vae.decode_iter(z, chunk_latent_frames=chunk))
    assert [p.shape[2] for p in parts][:2] == [1, 4 * chunk]
    assert (torch.cat(parts, 2) - full).abs().max() < 1e-4


def test_tile_plan_covers_axis():
    spec = TileSpec(size=8, overlap=2)
    assert tile_starts(8, spec) == [0]
    assert tile_starts(20, spec) == [0, 6, 12]
    w = ramp(16, 0, 16, 64, 4)
    assert w[0] == 1 and w[-1] < 0.2 and (w > 0).all()


def test_tiled_decode_close_to_untiled():
    # A tile's own border sees zero padding where the whole frame sees its neighbour; measured
    # on this decoder the error falls ~2.5x per latent pixel from the border (0.17, 0.08, 0.04,
    # 0.014, 0.005, 0.001 ...) and is 0 after 8. With a halo of h latent pixels the worst seam
    # error is the error at distance h: halo 8 -> float noise, halo 4 -> about 5% of the output
    # std at worst (mean far lower, since only seam pixels are affected).
    torch.manual_seed(1)
    vae = CausalVAE.from_preset("tiny").eval()
    z = torch.randn(2, 4, 2, 12, 16)  # batch 2: fp32 batch-1 convs take a slow path
    with torch.no_grad():
        full = vae.decode(z)
        exact = vae.decode_chunked(z, tile=TileSpec(size=6, overlap=2, halo=8))
        tiled = vae.decode_chunked(z, tile=TileSpec(size=6, overlap=2, halo=4))
        no_halo = vae.decode_chunked(z, tile=TileSpec(size=6, overlap=2, halo=0))
    assert tiled.shape == full.shape
    assert (exact - full).abs().max() < 1e-4
    err = (tiled - full).abs()
    assert err.max() < 0.1 * full.std()
    assert err.mean() < 0.005 * full.std()
    assert err.mean() < 0.2 * (no_halo - full).abs().mean()  # the halo is what makes it work


def test_tiled_encode_close_to_untiled(vae):
    x = torch.rand(2, 3, 5, 96, 64) * 2 - 1
    x = torch.nn.functional.avg_pool3d(x, (1, 9, 9), 1, (0, 4, 4))  # smooth content
    with torch.no_grad():
        m = vae.encode(x)[0]
        mt = vae.encode_chunked(x, tile=TileSpec(size=6, overlap=2))[0]
    assert (mt - m).abs().max() < 1e-4  # halo 6 covers this encoder's receptive radius
    with torch.no_grad():
        err2 = (vae.encode_chunked(x, tile=TileSpec(size=6, overlap=2, halo=2))[0] - m).abs()
        err0 = (vae.encode_chunked(x, tile=TileSpec(size=6, overlap=2, halo=0))[0] - m).abs()
    assert 0 < err2.mean() < 0.5 * err0.mean()


def test_tile_spans_are_even_and_cover_the_axis():
    spec = TileSpec(size=64, overlap=8, halo=6)
    for length in (64, 65, 90, 135, 160, 240, 1000):
        spans = tile_spans(length, spec)
        sizes = {e - s for s, e in spans}
        assert len(sizes) == 1 and max(sizes) <= spec.size  # one length, within the spec
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(b[0] <= a[1] - spec.overlap for a, b in zip(spans, spans[1:]))
        # the fewest tiles: one fewer could not cover the axis with the overlaps
        n = len(spans)
        assert n == 1 or (n - 1) * spec.size - (n - 2) * spec.overlap < length
    # 1920x1080 (135x240 latent): even tiles read less than fixed 64-tiles with a shifted last
    assert tiled_length(135, spec) * tiled_length(240, spec) < 1.8 * 135 * 240
    assert tiled_length(135, TileSpec()) * tiled_length(240, TileSpec()) < 1.4 * 135 * 240


def test_time_chunks_recut_any_parts():
    x = torch.arange(16.0).view(1, 1, 16, 1, 1)
    parts = [x[:, :, :3], x[:, :, 3:8], x[:, :, 8:9], x[:, :, 9:]]
    chunks = list(time_chunks(parts, 4))
    assert [c.shape[2] for c in chunks] == [1, 4, 4, 4, 3]
    assert torch.equal(torch.cat(chunks, 2), x)


def test_stream_from_parts_equals_whole_clip(vae):
    # a clip arriving in parts of any cut, encoded in time chunks and tiles and decoded from the
    # encoder's chunks as they come, equals the whole-clip oracle (halo 8: the tiny VAE's radius)
    torch.manual_seed(2)
    x = torch.rand(2, 3, 9, 96, 64) * 2 - 1
    x = torch.nn.functional.avg_pool3d(x, (1, 9, 9), 1, (0, 4, 4))  # smooth content
    tile = TileSpec(size=6, overlap=2, halo=8)
    with torch.no_grad():
        mean, logvar = vae.encode(x)
        full = vae.decode(mean)
        parts = [x[:, :, :2], x[:, :, 2:3], x[:, :, 3:8], x[:, :, 8:]]
        encoded = list(vae.encode_stream(parts, chunk_frames=4, tile=tile))
        assert [m.shape[2] for m, _ in encoded] == [1, 1, 1]
        decoded = list(vae.decode_stream((m for m, _ in encoded), chunk_latent_frames=1, tile=tile))
    assert [d.shape[2] for d in decoded] == [1, 4, 4]
    assert (torch.cat([m for m, _ in encoded], 2) - mean).abs().max() < 1e-4
    assert (torch.cat([v for _, v in encoded], 2) - logvar).abs().max() < 1e-4
    assert (torch.cat(decoded, 2) - full).abs().max() < 1e-4


def test_stream_under_bf16_autocast_matches_whole_clip(vae):
    # the causal cache keeps autocast's dtype; the chunked pass still matches the whole clip's
    # to bf16 precision
    torch.manual_seed(3)
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mean = vae.encode(x)[0].float()
        full = vae.decode(mean).float()
        chunked = vae.encode_chunked(x, chunk_frames=4)[0].float()
        parts = list(vae.decode_iter(mean, chunk_latent_frames=1))
    assert (chunked - mean).abs().max() < 0.02 * mean.abs().max()
    assert (torch.cat(parts, 2).float() - full).abs().max() < 0.02 * full.abs().max()


def test_stream_refuses_a_clip_off_the_frame_grid(vae):
    with torch.no_grad(), pytest.raises(UsageError, match="1 \\+ k\\*4"):
        list(vae.encode_stream([torch.zeros(1, 3, 7, 16, 16)]))
    with torch.no_grad(), pytest.raises(UsageError, match="nearest valid size"):
        list(vae.encode_stream([torch.zeros(1, 3, 5, 20, 16)]))


def test_reconstruct_iter_streams_like_the_whole_clip(monkeypatch):
    # the reconstruct path (uint8 parts in, encode and decode streamed) equals the whole-clip
    # oracle, and pairs every output frame with its own input frame
    from chronotope.autoencoder.evaluate import reconstruct_iter, to_uint8_frames
    from chronotope.autoencoder.sources import frames_to_tensor

    monkeypatch.setenv("CHRONOTOPE_PRECISION", "fp32")
    torch.manual_seed(4)
    vae = CausalVAE.from_preset("tiny").eval()
    frames = np.random.default_rng(0).integers(0, 256, (13, 24, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        video = frames_to_tensor(frames)[None]
        oracle = to_uint8_frames(vae.decode(vae.encode(video)[0])[0])
    pairs = list(reconstruct_iter(vae, [frames[:3], frames[3:4], frames[4:]]))
    assert [len(out) for _, out in pairs] == [1, 4, 4, 4]
    refs, outs = (np.concatenate(p) for p in zip(*pairs))
    assert np.array_equal(refs, frames)
    assert np.abs(outs.astype(int) - oracle).max() <= 1  # float rounding at a .5 level
