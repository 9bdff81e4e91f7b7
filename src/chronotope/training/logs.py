"""Training logs: one CSV row per logged step plus TensorBoard event files, same numbers."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "loss", "lr", "grad_norm", "tokens_per_s", "samples", "fill", "seconds")


class MetricsLog:
    """Appends to `out/log.csv` (header once, so a resumed run continues the same file) and
    writes `out/tb/` event files."""

    def __init__(self, out: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "log.csv"
        new = not self.path.exists()
        self._file = open(self.path, "a", newline="")  # noqa: SIM115  (kept open for the run)
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self.tb = SummaryWriter(str(out / "tb"))

    def write(self, step: int, metrics: dict[str, float]) -> None:
        self._csv.writerow({"step": step, **{k: f"{v:.6g}" for k, v in metrics.items()}})
        self._file.flush()
        for key, value in metrics.items():
            self.tb.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        self.tb.close()
