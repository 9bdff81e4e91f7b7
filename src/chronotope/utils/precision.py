"""Which float type the heavy math runs in: bf16 autocast where the hardware has a fast path.

bf16 is fast on CPUs with AVX-512 (oneDNN's bf16 kernels, native with avx512_bf16 or AMX) and on
CUDA GPUs that support it. On an AVX2-only CPU there is no bf16 kernel at all: a bf16 matmul is
emulated and ran about 400x slower than fp32 on such a machine (0.0003 vs 0.13 TFLOP/s for a
2048^2 matmul), so there everything runs in fp32. `CHRONOTOPE_PRECISION=bf16|fp32` overrides the
detection (`auto`, the default, detects).

Every autocast region in the package goes through `autocast()`, so one switch decides.
"""

from __future__ import annotations

import contextlib
import functools
import os

import torch

from chronotope.errors import UsageError

ENV = "CHRONOTOPE_PRECISION"


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when this CPU has an AVX-512 (or newer) vector unit that oneDNN's bf16 kernels use."""
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", ...
    if capability.startswith("AVX512") or "AMX" in capability:
        return True
    try:  # oneDNN's own check (private; absent in some builds)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(device_type: str = "cpu") -> bool:
    """Whether autocast regions on `device_type` run in bf16 (else they run in fp32)."""
    choice = os.environ.get(ENV, "auto").lower()
    if choice not in ("auto", "bf16", "fp32"):
        raise UsageError(f"{ENV}={choice!r}: use auto, bf16 or fp32")
    if choice != "auto":
        return choice == "bf16"
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return cpu_has_fast_bf16()
    return False


def autocast(device_type: str = "cpu", *, enabled: bool = True):
    """`torch.autocast(device_type, bfloat16)` where bf16 is fast, else a no-op (fp32)."""
    if enabled and use_bf16(device_type):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compute_dtype(device_type: str = "cpu") -> torch.dtype:
    """The dtype matmuls run in under `autocast()` on `device_type`."""
    return torch.bfloat16 if use_bf16(device_type) else torch.float32
