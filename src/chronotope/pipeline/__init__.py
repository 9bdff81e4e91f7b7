"""Generation: `ChronotopePipeline` runs every task through one sampler and one decoder."""

from chronotope.pipeline.pipeline import ChronotopePipeline, GenerationOutput

__all__ = ["ChronotopePipeline", "GenerationOutput"]
