"""Elementwise ops with cheaper backward passes than their PyTorch compositions on CPU.

On a CPU the DiT's step is matmuls plus many full passes over (tokens, width) tensors; these
trim passes where autograd's generic formulas add some (measured in benchmarks/bench_dit.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _reduce_to(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a broadcast gradient back to the shape of the input it belongs to."""
    return grad if grad.shape == like.shape else grad.sum_to_size(like.shape)


class _AddMul(torch.autograd.Function):
    """a + b * c in one pass. `torch.addcmul`'s backward also multiplies by its `value`
    (two more passes over the tensors); this one does grad*c and grad*b only."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(b, c)
        ctx.a_shape = a.shape
        ctx.a_dtype = a.dtype
        return torch.addcmul(a, b, c)

    @staticmethod
    def backward(ctx, grad):
        b, c = ctx.saved_tensors
        da = db = dc = None
        if ctx.needs_input_grad[0]:
            da = grad if grad.shape == ctx.a_shape else grad.sum_to_size(ctx.a_shape)
            da = da.to(ctx.a_dtype)
        if ctx.needs_input_grad[1]:
            db = _reduce_to(grad * c, b)
        if ctx.needs_input_grad[2]:
            dc = _reduce_to(grad * b, c)
        return da, db, dc


def add_mul(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """a + b * c (broadcasting), one pass forward and two backward."""
    if not torch.is_grad_enabled():
        return torch.addcmul(a, b, c)
    return _AddMul.apply(a, b, c)


class _RMSNorm(torch.autograd.Function):
    """x * rsqrt(mean(x^2) + eps) over the last dim, no gain. On CPU, `F.rms_norm` in bf16
    has a composite backward; this one measured ~1.8x faster forward + backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float) -> torch.Tensor:
        acc = torch.promote_types(x.dtype, torch.float32)  # fp32 for bf16, fp64 stays fp64
        # The norm in x's dtype: bf16 reductions accumulate in fp32 on CPU and CUDA, and only
        # the (..., 1) result is rounded. `dtype=acc` would first make an fp32 copy of all of x
        # (measured: 2.5 ms against 0.9 for the (2560, 2, 6, 64) q/k of one block).
        norm = torch.linalg.vector_norm(x, 2, dim=-1, keepdim=True).to(acc)  # (..., 1)
        r = torch.rsqrt(norm.square_().div_(x.shape[-1]).add_(eps))
        y = x * r.to(x.dtype)
        ctx.save_for_backward(y, r)
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        y, r = ctx.saved_tensors
        # products in y's dtype, summed with fp32 accumulation (what bf16 reductions do) and
        # rounded to y's dtype once, as `y * m` below rounds it anyway; `dtype=fp32` would make
        # an fp32 copy of the whole product first (2.9 ms against 0.6 per block, measured)
        m = torch.sum(dy * y, -1, keepdim=True).to(r.dtype).div_(y.shape[-1])  # (..., 1)
        return (dy - y * m.to(y.dtype)) * r.to(y.dtype), None


def rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim without a gain, in x's dtype."""
    return _RMSNorm.apply(x, eps)


def layer_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Affine-free LayerNorm in x's dtype. Autocast would run it in fp32 and hand back an fp32
    tensor (an extra cast of the whole residual stream each time); the bf16 kernel already
    accumulates in fp32."""
    with torch.autocast(x.device.type, enabled=False):
        return F.layer_norm(x, x.shape[-1:], eps=eps)
