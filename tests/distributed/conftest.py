import os

import pytest

from chronotope.utils.precision import ENV


@pytest.fixture(autouse=True, scope="module")
def _fp32():
    """These tests compare runs split over ranks with one process to 1e-5, which holds in fp32
    only: on a CPU with fast bf16 autocast would otherwise pick bf16 (and differently chunked
    attention rounds differently). Set before any rank is spawned, so every rank inherits it."""
    before = os.environ.get(ENV)
    os.environ[ENV] = "fp32"
    yield
    if before is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = before
