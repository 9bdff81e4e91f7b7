"""A model folder holding only pickled weights is refused by every command with one line and
exit status 2, and nothing in it is unpickled: its .bin files are pickles whose loading would
create a marker file, and torch.load is watched. Other errors reach the user as one line too."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch

from chronotope.cli.main import main
from chronotope.data.video_io import write_video


class _Trap:
    """Unpickling this creates the file at `path` (what a malicious pickle could do)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def pickled(tiny_pipe, tmp_path_factory):
    """(pipeline folder with only diffusion_pytorch_model.bin per component, marker path)."""
    root = tmp_path_factory.mktemp("pickled")
    folder, marker = root / "model", root / "UNPICKLED"
    tiny_pipe.save_pretrained(folder)
    for name in ("transformer", "vae"):
        (folder / name / "diffusion_pytorch_model.safetensors").unlink()
        state = {**getattr(tiny_pipe, name).state_dict(), "trap": _Trap(str(marker))}
        torch.save(state, folder / name / "diffusion_pytorch_model.bin")
    return folder, marker


@pytest.fixture
def no_torch_load(monkeypatch):
    """torch.load and pickle.load(s) record any call and fail loudly."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        raise AssertionError("something unpickled")

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setattr(pickle, "load", spy)
    monkeypatch.setattr(pickle, "loads", spy)
    return calls


def test_the_trap_works(tmp_path):
    """The check below is not vacuous: unpickling such a file does create the marker."""
    marker, path = tmp_path / "marker", tmp_path / "trap.bin"
    torch.save({"w": torch.zeros(2), "trap": _Trap(str(marker))}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def _commands(folder, tmp_path):
    clip = write_video(tmp_path / "in.mp4", np.zeros((5, 64, 64, 3), np.uint8), fps=8)
    return {
        "generate": ["generate", "--model", str(folder), "--prompt", "x", "--out",
                     str(tmp_path / "g.mp4")],
        "export": ["export", str(folder), "--out", str(tmp_path / "exported")],
        "serve": ["serve", "--model", str(folder), "--port", "0"],
        "vae reconstruct": ["vae", "reconstruct", "--in", str(clip), "--out",
                            str(tmp_path / "r.mp4"), "--model", str(folder / "vae")],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["generate", "export", "serve", "vae reconstruct"])
def test_pickle_only_folder_is_one_line_exit_2(
    command, pickled, tmp_path, capsys, monkeypatch, no_torch_load
):
    folder, marker = pickled
    monkeypatch.setattr("chronotope.serve.run_server", lambda *a: pytest.fail("served"))
    rc = main(_commands(folder, tmp_path)[command])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"chronotope {command}: error: ")
    component = "vae" if command == "vae reconstruct" else "transformer"
    assert f"{folder / component / 'diffusion_pytorch_model.bin'}: pickled weights" in err
    assert not marker.exists() and no_torch_load == []
    assert not (tmp_path / "exported").exists()


def test_a_pipeline_folder_naming_another_class_is_refused(pickled, tmp_path, capsys):
    """diffusers imports whatever module model_index.json names: only ours are accepted."""
    folder = tmp_path / "model"
    shutil.copytree(pickled[0], folder)
    index = folder / "model_index.json"
    index.write_text(index.read_text().replace('"chronotope.autoencoder.vae"', '"os"'))
    assert main(["generate", "--model", str(folder), "--prompt", "x", "--out", "x.mp4"]) == 2
    err = capsys.readouterr().err
    assert f"{index}: " in err and "CausalVAE" in err and len(err.strip().splitlines()) == 1


def test_library_and_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    """OS errors name their file; an unexpected exception is a bug said in one line with the
    debug hint, and CHRONOTOPE_DEBUG=1 lets it through with its traceback."""
    import chronotope.cli.export as export

    def raise_(e):
        def run(args):
            raise e

        return run

    cases = {
        PermissionError(13, "Permission denied", "/x/w.safetensors"): (
            "/x/w.safetensors: Permission denied"
        ),
        OSError("Error no file named x.safetensors"): "error: Error no file named x.safetensors",
        KeyError("oops"): "internal error, a bug: KeyError: 'oops' (rerun with CHRONOTOPE_DEBUG=1",
        RuntimeError("line one\nline two"): "RuntimeError: line one line two",
    }
    for error, message in cases.items():
        monkeypatch.setattr(export, "run", raise_(error))
        assert main(["export", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    monkeypatch.setenv("CHRONOTOPE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="line one"):
        main(["export", str(tmp_path), "--out", str(tmp_path / "o")])
