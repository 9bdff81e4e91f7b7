"""How tasks lay out and join their windows, checked once; saved nested in `model_index.json`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chronotope.errors import UsageError
from chronotope.flow.settings import Settings, check_unit, check_whole


@dataclass(frozen=True)
class TaskSettings(Settings):
    """The windows of a long task and how they meet (see `tasks.plans`)."""

    group = "task"

    window_frames: int = 65  # the longest window sampled at once (the model's trained length)
    context_frames: int = 9  # frames of the previous window each later window pins
    bridge_seconds: float = 2.0  # a connect's bridge, and a loop's bridge back, by default
    bridge_start: float = 0.6  # noise level a bridge between pinned frames starts from
    seam_feather: int = 8  # frames over which a splice's seam residual fades (Canvas.splice)
    dissolve_above: float = 0.05  # a connect across a larger scene change dissolves
    restyle_guidance: float | None = None  # a restyle's default guidance (None: the model's)

    def __post_init__(self) -> None:
        check_whole("window_frames", self.window_frames, 1)
        check_whole("context_frames", self.context_frames, 1)
        check_whole("seam_feather", self.seam_feather, 0)
        if not (math.isfinite(self.bridge_seconds) and self.bridge_seconds > 0):
            raise UsageError(f"bridge_seconds must be > 0, got {self.bridge_seconds}")
        check_unit("bridge_start", self.bridge_start, open_low=True)
        check_unit("dissolve_above", self.dissolve_above)
        if self.restyle_guidance is not None and not math.isfinite(self.restyle_guidance):
            raise UsageError(
                f"restyle_guidance must be a finite number, got {self.restyle_guidance}",
                param="guidance",
            )
