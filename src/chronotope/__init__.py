"""chronotope: a diffusion transformer over spacetime patches of a compressed video latent."""

from chronotope.errors import ChronotopeError, UsageError

__version__ = "0.1.0"
__all__ = ["ChronotopeError", "UsageError", "__version__", "load_default"]


def load_default():
    """The `ChronotopePipeline` of the bundled world model (offline)."""
    from chronotope.pipeline.loading import load_pipeline

    return load_pipeline(None)
