"""The large formats fit the default memory budget by the pipeline's own estimate (nothing is
generated here; `benchmarks/bench_large_formats.py` makes them and measures the real peak)."""

import pytest

from chronotope.errors import MemoryBudgetError
from chronotope.pipeline.loading import load_pipeline
from chronotope.pipeline.memory import GIB, check_memory
from chronotope.tasks.sizes import output_frames

LARGE = [  # (width, height, seconds): None is one frame, an image
    (1920, 1080, 2.0),
    (1080, 1920, 2.0),
    (2048, 2048, None),
]


@pytest.fixture(scope="module")
def bundled():
    return load_pipeline()  # the budget it carries is the CLI's default (--memory-budget unset)


@pytest.mark.parametrize(("width", "height", "seconds"), LARGE)
def test_large_formats_are_within_the_default_budget(bundled, width, height, seconds):
    pipe = bundled
    fps = float(pipe.config.fps)
    frames = 1 if seconds is None else output_frames(None, seconds, fps, pipe.ft)
    assert frames == (1 if seconds is None else 17)  # 2 s at the bundled model's 8 fps
    # the worst the call can ask: the model's default seam candidates drawn together
    est = pipe.validate_request(
        width=width, height=height, num_frames=frames, candidates=pipe.sampling.candidates
    )
    assert est.total <= pipe.config.memory_budget_gib * GIB
    small = pipe.validate_request(width=64, height=64, num_frames=frames)
    assert est.transformer > 100 * small.transformer  # the estimate grows with the size
    with pytest.raises(MemoryBudgetError, match="memory budget"):
        check_memory(est, est.total / GIB / 2)  # and is what a smaller budget refuses
