"""The precision switch: bf16 autocast only where the hardware has a fast path, fp32 elsewhere."""

import os
from pathlib import Path

import pytest
import torch

from chronotope.errors import UsageError
from chronotope.utils import precision


def _matmul_dtype() -> torch.dtype:
    a = torch.randn(4, 4)
    with precision.autocast("cpu"):
        return (a @ a).dtype


def test_env_override_forces_bf16_and_fp32(monkeypatch):
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.use_bf16("cpu") and precision.compute_dtype() is torch.bfloat16
    assert _matmul_dtype() is torch.bfloat16
    monkeypatch.setenv(precision.ENV, "fp32")
    assert not precision.use_bf16("cpu") and precision.compute_dtype() is torch.float32
    assert _matmul_dtype() is torch.float32


def test_disabled_autocast_is_fp32_even_when_bf16_is_chosen(monkeypatch):
    monkeypatch.setenv(precision.ENV, "bf16")
    a = torch.randn(4, 4)
    with precision.autocast("cpu", enabled=False):
        assert (a @ a).dtype is torch.float32


# what ATen's AVX512 kernels and oneDNN's avx512_core bf16 path need (the kernel's flag names)
AVX512_CORE = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags as the kernel reports them (x86 /proc/cpuinfo), else None."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


@pytest.fixture
def fresh_detection(monkeypatch):
    """`auto`, with the cached detection cleared before and after (a test may fake the CPU)."""
    monkeypatch.setenv(precision.ENV, "auto")
    precision.cpu_has_fast_bf16.cache_clear()
    yield
    precision.cpu_has_fast_bf16.cache_clear()


def test_auto_is_bf16_exactly_where_the_cpu_reports_avx512(fresh_detection):
    """The oracle is the hardware's own report, read here from /proc/cpuinfo: bf16 on a CPU
    with AVX-512 (oneDNN's avx512_core bf16 kernels; native with avx512_bf16 or AMX), fp32
    on one without (AVX2: bf16 is emulated there, ~400x slower)."""
    flags = cpu_flags()
    if flags is None or "sse2" not in flags:
        pytest.skip("not an x86 CPU with flags in /proc/cpuinfo")
    if os.environ.get("ATEN_CPU_CAPABILITY"):
        pytest.skip("ATEN_CPU_CAPABILITY caps what torch reports below the hardware")
    avx512 = flags >= AVX512_CORE or "amx_bf16" in flags
    # torch reads the same hardware: the two reports agree before anything is decided on them
    assert torch.backends.cpu.get_cpu_capability().startswith("AVX512") is (flags >= AVX512_CORE)
    assert precision.use_bf16("cpu") is avx512
    assert _matmul_dtype() is (torch.bfloat16 if avx512 else torch.float32)


@pytest.mark.parametrize(
    "capability, onednn_bf16, expected",
    [
        ("AVX2", False, False),  # an AVX2-only x86: emulated bf16, fp32 is chosen
        ("DEFAULT", False, False),
        ("AVX512", True, True),
        ("AVX512", False, True),  # the capability alone is enough (the oneDNN check is private)
        ("DEFAULT", True, True),  # e.g. an Arm CPU with bf16 instructions: oneDNN says so
        ("SVE256", None, False),  # the private check absent from this build: fp32, no crash
    ],
)
def test_auto_rule_over_reported_capabilities(
    monkeypatch, fresh_detection, capability, onednn_bf16, expected
):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)

    def onednn() -> bool:
        if onednn_bf16 is None:
            raise AttributeError("_is_mkldnn_bf16_supported")
        return onednn_bf16

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", onednn, raising=False)
    assert precision.use_bf16("cpu") is expected
    assert precision.compute_dtype("cpu") is (torch.bfloat16 if expected else torch.float32)


def test_unknown_precision_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(precision.ENV, "fp16")
    with pytest.raises(UsageError, match="auto, bf16 or fp32"):
        precision.use_bf16("cpu")
