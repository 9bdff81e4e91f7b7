"""Words the model never learned: named on the CLI's stderr, as a Python warning, in the output;
known words, numerals, stop words and plurals of known words give none; the call still runs."""

import json
import warnings

import pytest

from chronotope.cli.main import main
from chronotope.pipeline import ChronotopePipeline
from chronotope.pipeline.export import export_pipeline, training_vocabulary
from chronotope.pipeline.vocabulary import (
    ChronotopeWarning,
    UnknownWordsWarning,
    content_words,
    unknown_words,
    world_vocabulary,
)

WORDS = ["red", "circle", "moves", "left", "square", "player"]


@pytest.fixture(scope="module")
def pipe():
    return ChronotopePipeline.from_random(seed=0, steps=1, text={"vocabulary": WORDS})


@pytest.mark.parametrize(
    "prompt, unknown",
    [
        ("a cat playing the piano", ["cat", "playing", "piano"]),
        ("A red circle moves left!", []),
        ("3 red circles; two squares", ["two"]),  # numerals ignored, plurals known
        ("the player's red circle, moving left", ["moving"]),  # possessive stripped
        ("Red, red, RED piano-piano", ["piano"]),  # once each, lowercase, punctuation gone
    ],
)
def test_unknown_words(pipe, prompt, unknown):
    assert pipe.unknown_words(prompt) == unknown


def test_content_words_and_no_vocabulary():
    assert content_words("It's the 2nd red circle of 3") == ["red", "circle"]
    assert unknown_words("a cat", None) == []  # a model that declares none warns of nothing


def test_library_warns_naming_them_and_still_runs(pipe):
    with pytest.warns(UnknownWordsWarning, match="'cat', 'piano'") as record:
        out = pipe("a red cat with a piano", num_frames=1, seed=0)
    assert out.frames.shape == (1, 64, 112, 3)  # the call ran
    assert issubclass(record[0].category, UserWarning)
    assert record[0].filename == __file__  # attributed to the caller, not the pipeline
    assert out.warnings == [str(record[0].message)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChronotopeWarning)
        assert pipe("a red circle moves left", num_frames=1, seed=0).warnings == []


def test_cli_names_them_on_stderr(pipe, tmp_path, capsys):
    pipe.save_pretrained(tmp_path / "model")
    base = ["generate", "--model", str(tmp_path / "model"), "--frames", "1", "--json"]
    assert main([*base, "--prompt", "a cat", "--out", str(tmp_path / "a.png")]) == 0
    captured = capsys.readouterr()
    (line,) = [x for x in captured.err.splitlines() if "warning" in x]
    assert line.startswith("chronotope generate: warning: the model never learned 'cat'")
    assert json.loads(captured.out)["warnings"] == [line.split("warning: ", 1)[1]]
    assert (tmp_path / "a.png").is_file()  # the call still ran
    assert main([*base, "--prompt", "a red square", "--out", str(tmp_path / "b.png")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_export_keeps_the_vocabulary_and_the_scale(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "src")
    export_pipeline(tmp_path / "src", tmp_path / "dst")
    index = json.loads((tmp_path / "dst" / "model_index.json").read_text())
    assert index["text"]["vocabulary"] == sorted(WORDS) and index["trained_pixels"] is None
    from chronotope.pipeline.loading import load_pipeline

    assert load_pipeline(tmp_path / "dst").vocabulary == frozenset(WORDS)


def test_a_runs_vocabulary_is_its_captions(tmp_path):
    import numpy as np

    from chronotope.data import write_video

    assert training_vocabulary("world") == sorted(world_vocabulary())
    assert "piano" not in world_vocabulary() and "bounces" in world_vocabulary()
    for name, caption in (("a", "A fox jumps."), ("b", "two foxes sleep")):
        write_video(tmp_path / f"{name}.mp4", np.zeros((5, 16, 16, 3), np.uint8), 8.0)
        (tmp_path / f"{name}.txt").write_text(caption)
    assert training_vocabulary(str(tmp_path)) == ["fox", "foxes", "jumps", "sleep", "two"]
    assert training_vocabulary(str(tmp_path / "gone")) is None  # not readable here: none
