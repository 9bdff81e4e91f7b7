"""The bundled world model against its thresholds: `chronotope eval --quick --check` runs in
`make test`, so a regression in the weights, the sampler, the VAE or a detector fails CI.

`thresholds.json` was written by `chronotope eval --quick --save-thresholds` on the shipped
weights in fp32 (`CHRONOTOPE_PRECISION=fp32`, which this test sets too, so the figures do not
depend on a CPU's bf16 kernels): each bound sits one margin from the measured figure (a rate's
binomial standard error, at least one case, an error's 15%; never more than 15% of the figure),
so a model 20% worse than the shipped one fails. Figures the model does not reach at all on the
quick run (0: a pan, a connect) are not guarded: a bound of 0 guards nothing. The weights are
part of the package, so their absence is a failure, not a skip.
"""

import json
from pathlib import Path

import pytest

from chronotope.cli.main import main
from chronotope.eval.check import RELATIVE_MARGIN, check, load_thresholds
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
    sets = ("in_distribution", "paraphrase", "heldout")
    guarded = [f"adherence.{s}.{a}" for s in sets for a in ("color", "shape", "motion")]
    guarded += ["physics.velocity_error.model", "physics.velocity_error.found", "physics.falls"]
    guarded += ["tasks.pass_rate", "tasks.extend_forward.pass", "world.game.action", "vae.psnr"]
    for name in guarded:
        assert name in bounds, f"{THRESHOLDS.name} does not guard {name}"


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHRONOTOPE_PRECISION", "fp32")
        code = main(["eval", "--quick", "--out", str(out), "--check", str(THRESHOLDS), "--json"])
    doc = json.loads((out / "results.json").read_text())
    return code, doc, out


@pytest.mark.slow
def test_bundled_model_meets_its_thresholds(measured):
    code, doc, out = measured
    assert doc["checks"] == [], doc["checks"]
    assert code == 0
    assert (out / "report.md").is_file()


@pytest.mark.slow
def test_every_bound_is_tight_and_copying_the_last_frame_fails_physics(measured):
    _, doc, _ = measured
    m, bounds = doc["metrics"], load_thresholds(THRESHOLDS)
    for name, bound in bounds.items():
        for kind, b in bound.items():  # within the margin of the figure measured now
            assert abs(m[name] - b) <= RELATIVE_MARGIN * abs(m[name]) + 1e-5, (name, kind, b)
    # the copy-last baseline, as if it were the model's figure, is refused
    copying = dict(m, **{"physics.velocity_error.model": m["physics.velocity_error.copy_last"]})
    assert check(copying, {"physics.velocity_error.model": bounds["physics.velocity_error.model"]})
