"""Weight loaders read safetensors only: a pickle, under any name, is refused with one line that
names the file, before any library (diffusers, transformers) opens it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from chronotope.errors import CorruptFileError, UsageError
from chronotope.model import DiT
from chronotope.model.text import TextEncoder, default_encoder_path
from chronotope.utils.weights import check_safetensors, check_weights_folder

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def dit_folder(tmp_path):
    model = DiT(in_channels=4, width=32, depth=1, heads=2, text_dim=8)
    model.save_pretrained(tmp_path / "dit")
    return model, tmp_path / "dit"


@pytest.fixture
def no_torch_load(monkeypatch):
    def spy(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", spy)


def test_dit_loads_its_safetensors(dit_folder):
    model, folder = dit_folder
    loaded = DiT.from_pretrained(folder)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_dit_refuses_a_bin_only_folder_naming_the_file(dit_folder, no_torch_load):
    model, folder = dit_folder
    (folder / WEIGHTS).unlink()
    torch.save(model.state_dict(), folder / "diffusion_pytorch_model.bin")
    with pytest.raises(CorruptFileError) as err:
        DiT.from_pretrained(folder)
    message = str(err.value)
    assert message.startswith(f"{folder / 'diffusion_pytorch_model.bin'}: pickled weights")
    assert "\n" not in message
    with pytest.raises(UsageError, match="safetensors only"):
        DiT.from_pretrained(folder, use_safetensors=False)


def test_dit_refuses_a_pickle_named_safetensors(dit_folder, no_torch_load):
    model, folder = dit_folder
    torch.save(model.state_dict(), folder / WEIGHTS)  # torch.save's zip, "PK..."
    with pytest.raises(CorruptFileError, match=r"not a safetensors file \(a pickle"):
        DiT.from_pretrained(folder)


def test_dit_weights_that_do_not_fit_the_config_are_one_line(dit_folder):
    _, folder = dit_folder
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "width": 64, "heads": 4}))
    with pytest.raises(CorruptFileError, match="cannot load DiT: .*size mismatch") as err:
        DiT.from_pretrained(folder)
    assert "\n" not in str(err.value)


def test_dit_lora_adapter_from_a_path_is_refused(dit_folder):
    model, folder = dit_folder
    with pytest.raises(UsageError, match="load_lora_weights"):
        model.load_lora_adapter(str(folder))


def test_check_safetensors_says_what_a_file_is(tmp_path):
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.zeros(4)}, str(good))
    assert check_safetensors(good) == good
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-4])
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(b"\x80\x04\x95 a protocol-4 pickle")
    text = tmp_path / "text.safetensors"
    text.write_text("hello, not weights")
    for path, why in (
        (truncated, "corrupt safetensors file"),
        (pickled, "(a pickle; pickled weights are never loaded)"),
        (text, "(unknown format)"),
        (tmp_path / "missing.safetensors", "no such weight file"),
    ):
        with pytest.raises(CorruptFileError) as err:
            check_safetensors(path)
        assert str(err.value).startswith(f"{path}: ") and why in str(err.value)


def test_a_sharded_folder_checks_every_shard(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    for i in (1, 2):
        save_file({f"w{i}": torch.zeros(2)}, str(tmp_path / f"part-{i}.safetensors"))
    index = {"weight_map": {"w1": "part-1.safetensors", "w2": "part-2.safetensors"}}
    (tmp_path / f"{WEIGHTS}.index.json").write_text(json.dumps(index))
    assert [p.name for p in check_weights_folder(tmp_path, what="DiT")] == [
        "part-1.safetensors",
        "part-2.safetensors",
    ]
    torch.save({}, tmp_path / "part-2.safetensors")
    with pytest.raises(CorruptFileError, match="part-2.safetensors: not a safetensors file"):
        check_weights_folder(tmp_path, what="DiT")


def test_text_encoder_refuses_a_pickle_only_folder(tmp_path, no_torch_load):
    folder = tmp_path / "encoder"
    shutil.copytree(default_encoder_path(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save({"w": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(CorruptFileError, match=r"pytorch_model\.bin: pickled weights"):
        TextEncoder(folder)
