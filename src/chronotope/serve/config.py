"""`ServeConfig`: every setting of `chronotope serve` in one typed place."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from chronotope.errors import UsageError

# Names OpenAI's Videos API accepted; clients written for it send these, so they are aliases
# of whatever model this server has loaded (the response echoes the name the client sent).
OPENAI_MODEL_ALIASES = (
    "sora-2",
    "sora-2-pro",
    "sora-2-2025-10-06",
    "sora-2-pro-2025-10-06",
    "sora-2-2025-12-08",
)


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("chronotope-data")
    api_key: str | None = None  # None: no authentication (loopback use)
    model_name: str = "chronotope"
    max_queue: int = 16  # queued (not yet running) jobs; one more gets 429
    max_attempts: int = 3  # a job interrupted this many times (server killed) is failed
    retention_s: int = 7 * 24 * 3600  # outputs expire this long after completion; 0 = never
    max_upload_bytes: int = 32 * 1024 * 1024  # a whole request body
    max_upload_pixels: int = 4096 * 4096  # per decoded image / video frame (bomb guard)
    max_upload_frames: int = 2000  # frames of an uploaded video
    default_size: str = "1280x720"
    default_seconds: str = "4"
    remix_strength: float = 0.6  # SDEdit strength of a remix/edit: 0 = copy, 1 = ignore input
    max_prompt_chars: int = 4000
    # a job keeps all its frames in memory and holds a worker: a longer output is refused with
    # 400 at submit time (the pipeline's check covers one sampling window, not the length)
    max_seconds: float = 60.0
    # a request whose estimated time on this machine is longer is refused with 400 at submit
    # time, naming the estimate (`pipeline.timing`); None: no limit
    time_limit_minutes: float | None = 30.0
    # LoRA adapters served as models of their own: name -> (adapter path, weight); a request's
    # `model` field picks one, the base model's name none (`chronotope serve --lora NAME=PATH`)
    lora: dict[str, tuple[Path, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.api_key is None:
            self.api_key = os.environ.get("CHRONOTOPE_API_KEY") or None
        for name in ("max_queue", "max_attempts", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}", param=name)
        if not self.max_seconds > 0:
            raise UsageError("max_seconds must be > 0", param="max_seconds")
        limit = self.time_limit_minutes
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise UsageError(f"time limit must be > 0 minutes, got {limit}", param="time_limit")
        if not 0.0 < self.remix_strength <= 1.0:
            raise UsageError("remix_strength must be in (0, 1]", param="remix_strength")
        for name in self.lora:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
                raise UsageError(f"--lora NAME must be letters, digits, . _ -: got {name!r}")
            if name == self.model_name or name in OPENAI_MODEL_ALIASES:
                raise UsageError(f"--lora {name}: the base model's name; choose another")

    @property
    def models(self) -> tuple[str, ...]:
        """The model names this server lists: the base model, then each adapter."""
        return (self.model_name, *self.lora)

    def accepts_model(self, name: str) -> bool:
        return name in self.models or name in OPENAI_MODEL_ALIASES
