import sys
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from chronotope.errors import UsageError
from chronotope.model import attention, dense_mask_attention
from chronotope.tokens import Segments

H, D = 3, 8


def _qkv(lq, lk, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(lq, H, D, generator=g),
        torch.randn(lk, H, D, generator=g),
        torch.randn(lk, H, D, generator=g),
    )


def _alone(q, k, v, qs: Segments, ks: Segments):
    """Each segment run alone through plain SDPA."""
    outs = []
    for qi, ki, vi in zip(qs.split(q), ks.split(k), ks.split(v)):
        o = F.scaled_dot_product_attention(*(x.transpose(0, 1)[None] for x in (qi, ki, vi)))
        outs.append(o[0].transpose(0, 1))
    return torch.cat(outs)


# mixed lengths: runs of equal lengths, equal lengths apart (gather path), singletons
SELF_CASES = [(5,), (7, 7, 7), (4, 9, 4, 4, 1, 9), (16, 3, 3, 16, 2)]


@pytest.mark.parametrize("backend", ["grouped", "math", "sdpa"])
@pytest.mark.parametrize("seqlens", SELF_CASES)
def test_self_attention_matches_oracles(seqlens, backend):
    s = Segments(seqlens)
    q, k, v = _qkv(s.total, s.total)
    out = attention(q, k, v, s, backend=backend)
    torch.testing.assert_close(out, dense_mask_attention(q, k, v, s), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, _alone(q, k, v, s, s), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "q_lens,kv_lens", [((5, 5, 9), (3, 4, 3)), ((6, 6, 6), (2, 2, 2)), ((4, 8, 4), (3, 2, 3))]
)
def test_cross_attention_pairs_segments(q_lens, kv_lens):
    qs, ks = Segments(q_lens), Segments(kv_lens)
    q, k, v = _qkv(qs.total, ks.total, seed=1)
    out = attention(q, k, v, qs, ks)
    torch.testing.assert_close(out, dense_mask_attention(q, k, v, qs, ks), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, _alone(q, k, v, qs, ks), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("short_kv", [1, 64])  # scores stored (lq, lk) or transposed (lk, lq)
@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_gradients_match_oracle(backend, short_kv, monkeypatch):
    monkeypatch.setattr(sys.modules["chronotope.model.attention"], "SHORT_KV", short_kv)
    s, ks = Segments((4, 9, 4, 2)), Segments((3, 9, 4, 5))
    base = (*_qkv(s.total, ks.total, seed=2)[:1], *_qkv(ks.total, ks.total, seed=3)[1:])
    grads, outs = [], []
    for fn in (partial(attention, backend=backend), dense_mask_attention):
        q, k, v = (x.clone().requires_grad_() for x in base)
        outs.append(fn(q, k, v, s, ks))
        (outs[-1] * torch.arange(H * D).view(1, H, D)).sum().backward()
        grads.append([x.grad for x in (q, k, v)])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_no_information_crosses_segments():
    s = Segments((6, 6, 5))
    q, k, v = _qkv(s.total, s.total, seed=3)
    out = attention(q, k, v, s)
    k2, v2 = k.clone(), v.clone()
    k2[6:12] += 1.0
    v2[6:12] -= 2.0
    out2 = attention(q, k2, v2, s)
    assert torch.equal(out[:6], out2[:6]) and torch.equal(out[12:], out2[12:])
    assert not torch.equal(out[6:12], out2[6:12])


def test_bad_arguments_raise():
    s = Segments((4, 4))
    q, k, v = _qkv(8, 8)
    with pytest.raises(UsageError):
        attention(q, k, v, s, Segments((8,)))
    with pytest.raises(UsageError):
        attention(q[:7], k, v, s)
    with pytest.raises(UsageError, match="valid: grouped, math, sdpa"):
        attention(q, k, v, s, backend="nope")
    for cuda_only in ("flash", "flex"):
        with pytest.raises(UsageError):
            attention(q, k, v, s, backend=cuda_only)


def test_grouped_falls_back_to_sdpa_for_large_segments(monkeypatch):
    # the package exports the function `attention`, which shadows the module's name
    attn = sys.modules["chronotope.model.attention"]
    s = Segments((20, 3, 20))
    q, k, v = _qkv(s.total, s.total, seed=4)
    calls = []
    real = attn.F.scaled_dot_product_attention
    monkeypatch.setattr(attn, "MATH_MAX_SCORES", H * 10 * 10)
    monkeypatch.setattr(
        attn.F, "scaled_dot_product_attention", lambda *a: calls.append(a[0].shape) or real(*a)
    )
    out = attention(q, k, v, s)
    assert calls == [(2, H, 20, D)]  # the two 20-token segments, batched; 3 tokens ran `math`
    monkeypatch.undo()
    torch.testing.assert_close(out, dense_mask_attention(q, k, v, s), rtol=1e-5, atol=1e-5)
