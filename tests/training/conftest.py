from types import SimpleNamespace

import pytest
import torch


def random_clips(position: int):
    """A stand-in stream for the procedural world: clip i depends only on i (resumable)."""
    i = position
    while True:
        g = torch.Generator().manual_seed(i)
        frames = 1 + int(torch.randint(0, 4, (), generator=g))
        video = torch.rand(3, frames, 8, 8, generator=g) * 2 - 1
        yield SimpleNamespace(video=video, text=f"clip number {i % 5}", meta={"index": i})
        i += 1


@pytest.fixture(scope="session")
def text_encoder():
    from chronotope.model import TextEncoder

    return TextEncoder(max_length=16)


@pytest.fixture
def clips():
    return random_clips


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run ~100x faster on one thread when the 2 cores are shared (OpenMP barriers
    spin against other processes); restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
