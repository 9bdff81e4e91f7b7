"""Where the package keeps its bundled world model (below every stage that reads it: training
starts from it with `--init bundled`, the pipeline loads it by default)."""

from __future__ import annotations

from pathlib import Path

BUNDLED_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "world"
