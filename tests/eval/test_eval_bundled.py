"""The bundled world model against its thresholds: `chronotope eval --quick --check` runs in
`make test`, so a regression in the weights, the sampler, the VAE or a detector fails CI.

`thresholds.json` sits a little below what `chronotope eval --quick` measured on the shipped
weights (docs/MODEL_CARD.md): one prompt's worth below for the accuracies of the quick run's few
prompts (a single flipped prompt on another CPU must not fail CI), 20-30% for continuous
figures, and exactly at the invariants every model must keep (the given frames of an extension
bit-exact, the image of image-to-video as frame 0). Figures the young model does not reach at
all yet on the quick run's few clips (falls accelerating, a velocity error below copying the last
frame) are not guarded: a bound of 0 guards nothing. The weights are part of the package, so
their absence is a failure, not a skip.
"""

import json
from pathlib import Path

import pytest

from chronotope.cli.main import main
from chronotope.eval.check import load_thresholds
from chronotope.pipeline.loading import DEFAULT_MODEL_DIR

THRESHOLDS = Path(__file__).parent / "thresholds.json"


def _weight_files() -> list[Path]:
    return sorted(DEFAULT_MODEL_DIR.rglob("*.safetensors"))


def test_the_bundled_model_ships_small_and_safetensors_only():
    assert (DEFAULT_MODEL_DIR / "model_index.json").is_file(), (
        f"no bundled model at {DEFAULT_MODEL_DIR}"
    )
    files = _weight_files()
    assert {f.parent.name for f in files} == {"transformer", "vae"}
    assert sum(f.stat().st_size for f in files) <= 40 * 2**20  # the budget: 40 MB
    assert not [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.suffix in (".bin", ".pt", ".pth")]


def test_thresholds_guard_what_matters():
    bounds = load_thresholds(THRESHOLDS)
    guarded = (
        "adherence.color",
        "adherence.shape",
        "adherence.motion",
        "physics.velocity_error.model",
    )
    for name in (*guarded, "tasks.extend_forward.given_exact", "video.motion", "vae.psnr"):
        assert name in bounds, f"{THRESHOLDS.name} does not guard {name}"


@pytest.mark.slow
def test_bundled_model_meets_its_thresholds(tmp_path, capsys):
    code = main(["eval", "--quick", "--out", str(tmp_path), "--check", str(THRESHOLDS), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["checks"] == [], doc["checks"]
    assert code == 0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "results.json").is_file()
