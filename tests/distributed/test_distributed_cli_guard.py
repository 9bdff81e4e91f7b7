"""`chronotope train` under torchrun refuses (it would train WORLD_SIZE copies into one --out)."""

from __future__ import annotations

from chronotope.cli.main import main


def test_train_refuses_world_size_above_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--out", str(tmp_path)]) == 2
    assert "WORLD_SIZE" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before writing anything
