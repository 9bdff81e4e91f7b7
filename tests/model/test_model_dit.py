import pytest
import torch

from chronotope.errors import UsageError
from chronotope.model import DIT_PRESETS, DiT
from chronotope.model.blocks import modulate
from chronotope.model.dit import sigma_embedding
from chronotope.tokens import PackedBatch, frame_to_tokens

TINY = dict(in_channels=4, width=48, depth=2, heads=2, text_dim=16)


def _randomize(model: DiT, seed: int = 0) -> DiT:
    """Non-zero everywhere, so gates are open and every path carries signal."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def _samples(seed=0):
    g = torch.Generator().manual_seed(seed)
    latents = [torch.randn(s, generator=g) for s in [(4, 3, 4, 6), (4, 1, 6, 4), (4, 2, 4, 4)]]
    # per-latent-frame sigma: frame 0 of the video is clean conditioning
    sigmas = [torch.tensor([0.0, 0.7, 0.7]), torch.tensor([0.3]), torch.tensor([0.9, 0.1])]
    texts = [torch.randn(n, 16, generator=g) for n in (5, 2, 3)]
    return latents, sigmas, texts


def _run(model, latents, sigmas, texts, pad_to=None):
    grids = [(z.shape[1], z.shape[2] // 2, z.shape[3] // 2) for z in latents]
    tok_sigma = [frame_to_tokens(s, gr) for s, gr in zip(sigmas, grids)]
    b = PackedBatch.from_latents(latents, sigma=tok_sigma, text=texts, pad_to=pad_to)
    out = model(b.tokens, b.sigma, b.positions, b.segments, b.text, b.text_segments)
    return b.unpack(out)


@torch.no_grad()
def test_fresh_model_outputs_zero_and_blocks_are_identity():
    torch.manual_seed(0)
    model = DiT(**TINY).eval()
    latents, sigmas, texts = _samples()
    assert all(torch.equal(o, torch.zeros_like(o)) for o in _run(model, latents, sigmas, texts))
    # With a random final layer, adaLN-zero still makes every block the identity.
    torch.nn.init.normal_(model.final.weight)
    torch.nn.init.normal_(model.final_modulation)
    b = PackedBatch.from_latents(latents[:1], sigma=[torch.full((18,), 0.5)], text=texts[:1])
    out = model(b.tokens, b.sigma, b.positions, b.segments, b.text, b.text_segments)
    emb = model.sigma_mlp(sigma_embedding(b.sigma))  # (L, W): every token's own embedding
    shift, scale = (emb[:, None] + model.final_modulation).unbind(1)
    expect = model.final(modulate(model.x_embed(b.tokens), shift, 1 + scale))
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-5)
    assert out.abs().mean() > 0.1


@torch.no_grad()
def test_packed_equals_each_sample_alone():
    model = _randomize(DiT(**TINY)).eval()
    latents, sigmas, texts = _samples()
    packed = _run(model, latents, sigmas, texts, pad_to=120)
    for i in range(3):
        alone = _run(model, latents[i : i + 1], sigmas[i : i + 1], texts[i : i + 1])[0]
        torch.testing.assert_close(packed[i], alone, rtol=1e-5, atol=1e-5)
    assert packed[0].abs().mean() > 1e-2


@torch.no_grad()
def test_position_in_pack_does_not_matter():
    model = _randomize(DiT(**TINY), seed=1).eval()
    latents, sigmas, texts = _samples()
    first = _run(model, latents, sigmas, texts)[0]
    order = [1, 2, 0]
    last = _run(model, [latents[i] for i in order], [sigmas[i] for i in order],
                [texts[i] for i in order])[2]  # fmt: skip
    torch.testing.assert_close(first, last, rtol=1e-5, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("what", ["tokens", "text", "sigma"])
def test_perturbing_one_sample_leaves_others_bit_identical(what):
    model = _randomize(DiT(**TINY), seed=2).eval()
    latents, sigmas, texts = _samples()
    base = _run(model, latents, sigmas, texts)
    latents2, sigmas2, texts2 = list(latents), list(sigmas), list(texts)
    if what == "tokens":
        latents2[1] = latents[1] + 1.0
    elif what == "text":
        texts2[1] = texts[1] + 1.0
    else:
        sigmas2[1] = torch.tensor([0.95])
    out = _run(model, latents2, sigmas2, texts2)
    if what == "sigma":
        # A new sigma value changes how many unique sigmas the embedding MLP runs on, and the
        # matmul kernel may then round differently: equal to float precision, not bitwise.
        torch.testing.assert_close(out[0], base[0], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(out[2], base[2], rtol=1e-6, atol=1e-6)
    else:
        assert torch.equal(out[0], base[0]) and torch.equal(out[2], base[2])
    assert not torch.allclose(out[1], base[1])


def test_save_pretrained_round_trip(tmp_path):
    model = _randomize(DiT(**TINY), seed=3).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = DiT.from_pretrained(tmp_path).eval()
    assert tuple(loaded.config.patch) == (1, 2, 2)
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), n
    latents, sigmas, texts = _samples()
    with torch.no_grad():
        for a, b in zip(_run(model, latents, sigmas, texts), _run(loaded, latents, sigmas, texts)):
            assert torch.equal(a, b)


def test_gradient_checkpointing_gives_same_gradients():
    latents, sigmas, texts = _samples()
    grads = []
    for ckpt in (False, True):
        model = _randomize(DiT(**TINY), seed=4)
        if ckpt:
            model.enable_gradient_checkpointing()
        sum(o.square().sum() for o in _run(model, latents, sigmas, texts)).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_presets_and_bad_inputs():
    assert {"world-tiny", "world-small"} <= set(DIT_PRESETS) and len(DIT_PRESETS) >= 4
    with pytest.raises(UsageError, match="valid: world-tiny"):
        DiT.from_preset("huge")
    with pytest.raises(UsageError):
        DiT(**{**TINY, "heads": 5})
    model = DiT(**TINY)
    latents, sigmas, texts = _samples()
    b = PackedBatch.from_latents(latents[:1], text=texts[:1])
    with pytest.raises(UsageError, match=r"x must have shape \(18, 16\)"):
        model(b.tokens[:, :8], torch.zeros(18), b.positions, b.segments, b.text, b.text_segments)


def test_world_tiny_size():
    n = sum(p.numel() for p in DiT.from_preset("world-tiny").parameters())
    assert 5e6 <= n <= 15e6
