"""The precision switch: bf16 autocast only where the hardware has a fast path, fp32 elsewhere."""

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


def test_auto_follows_the_cpu_capability(monkeypatch):
    monkeypatch.setenv(precision.ENV, "auto")
    expected = precision.cpu_has_fast_bf16()
    assert precision.use_bf16("cpu") is expected
    assert _matmul_dtype() is (torch.bfloat16 if expected else torch.float32)
    # an AVX2-only build reports it; bf16 must then be off (it is emulated, ~400x slower)
    if torch.backends.cpu.get_cpu_capability() == "AVX2":
        try:
            mkldnn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            mkldnn_bf16 = False
        assert expected is mkldnn_bf16


def test_unknown_precision_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(precision.ENV, "fp16")
    with pytest.raises(UsageError, match="auto, bf16 or fp32"):
        precision.use_bf16("cpu")
