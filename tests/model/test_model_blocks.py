import torch
import torch.nn.functional as F

from chronotope.model import dense_mask_attention
from chronotope.model.blocks import CrossAttention, SelfAttention
from chronotope.model.ops import add_mul, rms_norm
from chronotope.model.rope import apply_rope, rope_cos_sin
from chronotope.tokens import Segments, grid_positions


def test_rms_norm_matches_torch_with_gradients():
    x = torch.randn(5, 3, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(rms_norm(x), F.rms_norm(x, (8,), eps=1e-6))
    assert torch.autograd.gradcheck(lambda t: rms_norm(t), (x,))


def test_rms_norm_in_bf16_is_within_bf16_rounding_of_fp64():
    # the bf16 path reduces in bf16 (fp32 accumulation, the result rounded once): forward and
    # backward must stay within a few bf16 ulps (2^-8 relative) of the fp64 computation
    g = torch.Generator().manual_seed(0)
    x64 = torch.randn(512, 2, 6, 64, generator=g, dtype=torch.float64) * 3
    dy = torch.randn(x64.shape, generator=g, dtype=torch.float64)
    x16 = x64.bfloat16().requires_grad_(True)
    xr = x16.detach().double().requires_grad_(True)  # the same inputs, computed in fp64
    ref = F.rms_norm(xr, (64,), eps=1e-6)
    (ref_grad,) = torch.autograd.grad(ref, xr, dy.bfloat16().double())
    y16 = rms_norm(x16)
    y16.backward(dy.bfloat16())
    assert y16.dtype == torch.bfloat16 and x16.grad.dtype == torch.bfloat16
    torch.testing.assert_close(y16.double(), ref, rtol=2**-7, atol=2**-7)
    err = (x16.grad.double() - ref_grad).abs().mean() / ref_grad.abs().mean()
    assert err < 2**-7


def _randomized(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def test_self_attention_folded_gains_equal_plain_formula():
    h, d = 2, 12
    attn = _randomized(SelfAttention(width=h * d, heads=h), 0).double()
    seg = Segments((12, 6))
    pos = torch.cat([grid_positions((3, 2, 2)), grid_positions((1, 2, 3))])
    x = torch.randn(seg.total, h * d, dtype=torch.float64)
    cos, sin = rope_cos_sin(pos, d, dtype=torch.float64)  # (L, 1, d)
    out = attn(x, cos, sin, seg)
    q, k, v = attn.qkv(x).unflatten(-1, (3, h, d)).unbind(1)  # (L, h, d) each
    g = attn.norm.weight[:, 0]  # (2, d)
    q = apply_rope(F.rms_norm(q, (d,), g[0], eps=1e-6), cos, sin)
    k = apply_rope(F.rms_norm(k, (d,), g[1], eps=1e-6), cos, sin)
    expect = attn.out(dense_mask_attention(q, k, v, seg).flatten(1))
    torch.testing.assert_close(out, expect)


def test_cross_attention_folded_gains_equal_plain_formula():
    h, d = 2, 8
    attn = _randomized(CrossAttention(width=h * d, heads=h), 1).double()
    seg, tseg = Segments((7, 5)), Segments((3, 4))
    x = torch.randn(seg.total, h * d, dtype=torch.float64)
    text = torch.randn(tseg.total, h * d, dtype=torch.float64)
    out = attn(x, text, seg, tseg)
    q = attn.q(x).unflatten(-1, (h, d))
    k, v = attn.kv(text).unflatten(-1, (2, h, d)).unbind(1)
    g = attn.norm.weight[:, 0]
    q, k = F.rms_norm(q, (d,), g[0], eps=1e-6), F.rms_norm(k, (d,), g[1], eps=1e-6)
    expect = attn.out(dense_mask_attention(q, k, v, seg, tseg).flatten(1))
    torch.testing.assert_close(out, expect)


def test_add_mul_matches_addcmul_with_broadcast_gradients():
    a = torch.randn(4, 1, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, 6, dtype=torch.float64, requires_grad=True)
    c = torch.randn(1, 3, 1, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(add_mul(a, b, c), torch.addcmul(a, b, c))
    assert torch.autograd.gradcheck(add_mul, (a, b, c))
