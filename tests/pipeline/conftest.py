import pytest

from chronotope.pipeline import ChronotopePipeline


@pytest.fixture(scope="session")
def tiny_pipe():
    """A random-weights pipeline (tiny VAE: ft=4, fs=8; DiT patch (1,2,2): 16 px tokens)."""
    return ChronotopePipeline.from_random(seed=0, steps=3, window_frames=17, context_frames=5)
