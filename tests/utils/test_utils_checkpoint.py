import pickle
import random

import numpy as np
import pytest
import torch

from chronotope.errors import CorruptFileError
from chronotope.utils.checkpoint import (
    MARKER,
    atomic_save_safetensors,
    latest_checkpoint,
    load_checkpoint,
    load_optimizer_state,
    load_safetensors,
    optimizer_state_tensors,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def test_checkpoint_round_trip_and_keep(tmp_path):
    w = {"a": torch.randn(3, 4), "b": torch.arange(5)}
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, {"model": w}, {"note": "x"}, keep=2)
    assert latest_checkpoint(tmp_path).name == "step-00000004"
    assert len(list(tmp_path.glob("step-*"))) == 2
    files, meta = load_checkpoint(latest_checkpoint(tmp_path))
    assert meta["step"] == 4 and meta["note"] == "x"
    assert torch.equal(files["model"]["a"], w["a"]) and torch.equal(files["model"]["b"], w["b"])


def test_incomplete_checkpoint_is_ignored(tmp_path):
    save_checkpoint(tmp_path, 1, {"model": {"a": torch.ones(2)}}, {})
    p = save_checkpoint(tmp_path, 2, {"model": {"a": torch.zeros(2)}}, {})
    (p / MARKER).unlink()  # as if killed before the marker
    assert latest_checkpoint(tmp_path).name == "step-00000001"
    with pytest.raises(CorruptFileError):
        load_checkpoint(p)


def test_pickle_and_garbage_are_refused(tmp_path):
    bad = tmp_path / "w.safetensors"
    torch.save({"a": torch.ones(2)}, bad)
    with pytest.raises(CorruptFileError, match="not a safetensors"):
        load_safetensors(bad)
    bad.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CorruptFileError):
        load_safetensors(bad)
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CorruptFileError):
        load_safetensors(bad)


def test_rng_state_round_trip():
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_optimizer_state_round_trip():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    tensors, skel = optimizer_state_tensors(opt)
    model2 = torch.nn.Linear(4, 3)
    model2.load_state_dict(model.state_dict())
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    load_optimizer_state(opt2, tensors, skel)
    x = torch.randn(8, 4)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    assert torch.equal(model.weight, model2.weight)


def test_header_length_starting_with_0x80_is_not_mistaken_for_a_pickle(tmp_path):
    from safetensors.torch import save_file

    # grow the metadata until the header length's low byte is 0x80 (a pickle's first byte)
    for n in range(400):
        path = tmp_path / "w.safetensors"
        save_file({"a": torch.ones(2)}, str(path), metadata={"pad": "x" * n})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        raise AssertionError("no header length with low byte 0x80 found")
    assert torch.equal(load_safetensors(path)["a"], torch.ones(2))


def test_no_tensors_round_trip(tmp_path):
    """An empty data buffer is saved and read back (safetensors writes an unreadable header for
    no tensors with empty metadata)."""
    from chronotope.utils.checkpoint import atomic_save_safetensors, load_safetensors

    atomic_save_safetensors({}, tmp_path / "empty.safetensors")
    assert load_safetensors(tmp_path / "empty.safetensors") == {}
    atomic_save_safetensors({}, tmp_path / "meta.safetensors", metadata={"a": 1})
    assert load_safetensors(tmp_path / "meta.safetensors") == {}


def test_saved_weights_take_the_umask_like_any_file(tmp_path):
    """safetensors writes 0600; a model folder another user serves must be readable as a plain
    file written here would be."""
    path = tmp_path / "w.safetensors"
    atomic_save_safetensors({"a": torch.zeros(2)}, path)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert load_safetensors(path)["a"].shape == (2,)
