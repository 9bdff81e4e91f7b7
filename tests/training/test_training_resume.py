import json

import pytest
import torch

from chronotope.distributed.checkpoint import latest_complete
from chronotope.errors import UsageError
from chronotope.training import Trainer, get_preset


def _cfg(out):
    return get_preset("test").override(
        out=str(out), steps=4, checkpoint_every=100, log_every=1, depth=1, token_budget=128
    )


def _state(trainer):
    return {
        **{f"model.{k}": v for k, v in trainer.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in trainer.ema.state_dict().items()},
    }


def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, clips, text_encoder):
    full = Trainer(_cfg(tmp_path / "a"), stream_factory=clips, text_encoder=text_encoder)
    full.run()

    first = Trainer(_cfg(tmp_path / "b"), stream_factory=clips, text_encoder=text_encoder)
    first.run(max_steps=2)  # "killed" after step 2: only the checkpoint survives
    assert latest_complete(tmp_path / "b" / "checkpoints").name == "step-00000002"
    del first
    torch.manual_seed(1234)  # a fresh process would start from different global RNG state
    second = Trainer(_cfg(tmp_path / "b"), stream_factory=clips, text_encoder=text_encoder)
    assert second.step == 2 and second.resumed_from is not None
    result = second.run()
    assert result.step == 4

    a, b = _state(full), _state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    opt_a, opt_b = full.opt.state_dict()["state"], second.opt.state_dict()["state"]
    assert opt_a.keys() == opt_b.keys()
    for i in opt_a:
        for k in opt_a[i]:
            assert torch.equal(opt_a[i][k], opt_b[i][k]), (i, k)
    # the weights changed at all (the comparison is not vacuous)
    init = Trainer(_cfg(tmp_path / "c"), stream_factory=clips, text_encoder=text_encoder)
    assert any(
        not torch.equal(v, init.model.state_dict()[k]) for k, v in full.model.state_dict().items()
    )
    # the logs of both runs hold the same losses
    rows_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows_a] == [r.split(",")[1] for r in rows_b]


def test_final_folder_loads_back_as_the_ema_model(tmp_path, clips, text_encoder):
    from chronotope.model import DiT

    trainer = Trainer(_cfg(tmp_path), stream_factory=clips, text_encoder=text_encoder)
    final = trainer.run().final_dir
    loaded = DiT.from_pretrained(final / "transformer")
    for k, v in trainer.ema.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    info = json.loads((final / "training.json").read_text())
    assert info["vae"] == "none" and info["shift"]["max_shift"] == trainer.cfg.shift.max_shift
    assert list((tmp_path / "samples" / "final").glob("sample*"))


def test_resume_refuses_a_different_model(tmp_path, clips, text_encoder):
    Trainer(_cfg(tmp_path), stream_factory=clips, text_encoder=text_encoder).run(max_steps=1)
    with pytest.raises(UsageError, match="width"):
        Trainer(_cfg(tmp_path).override(width=32), stream_factory=clips, text_encoder=text_encoder)


def test_init_starts_from_a_final_model_with_a_fresh_optimizer(tmp_path, clips, text_encoder):
    first = Trainer(_cfg(tmp_path / "a"), stream_factory=clips, text_encoder=text_encoder)
    final = first.run().final_dir
    cfg = _cfg(tmp_path / "b").override(init=str(final))
    tuned = Trainer(cfg, stream_factory=clips, text_encoder=text_encoder)
    trained = first.ema.state_dict()  # final/ holds the EMA weights
    for k, v in tuned.model.state_dict().items():
        assert torch.equal(v, trained[k]), k
    assert tuned.step == 0 and not tuned.opt.state  # a new run, not a resume
    with pytest.raises(UsageError, match="--init .*width"):
        Trainer(cfg.override(width=32), stream_factory=clips, text_encoder=text_encoder)
    with pytest.raises(UsageError, match="no DiT folder"):
        Trainer(cfg.override(init=str(tmp_path)), stream_factory=clips, text_encoder=text_encoder)
