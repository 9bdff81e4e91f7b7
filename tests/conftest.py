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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests run tiny models: one intra-op thread is faster than two (no sync overhead) and is
    immune to oversubscription when the machine is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
