import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "testdata" / "real"


@pytest.fixture
def real_clips() -> Path:
    """../shared/testdata/real, or skip: the real footage lives beside the repo, not in it."""
    if not (SHARED_REAL / "bikes.mp4").exists():
        pytest.skip(f"real footage not found at {SHARED_REAL} (needs ../shared beside the repo)")
    return SHARED_REAL
