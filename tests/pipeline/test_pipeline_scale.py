"""A model knows its scale: a condition far from it gives the model's scale at the condition's
aspect ratio (said in one line), a condition near it keeps its own size, a size given wins."""

import json
import warnings

import numpy as np
import pytest

from chronotope.cli.main import main
from chronotope.data import fit_frames, read_video, write_video
from chronotope.pipeline.vocabulary import ScaleWarning
from chronotope.tasks.sizes import at_scale, condition_size


@pytest.mark.parametrize(
    "source, size",
    [
        ((1280, 720), (112, 64)),  # the bundled model's 16:9 size
        ((1920, 1080), (112, 64)),
        ((720, 1280), (64, 112)),
        ((640, 480), (96, 80)),  # 4:3 at 7680 px, the nearest on the token grid
        ((32, 32), (80, 80)),  # smaller than the scale: up to it
    ],
)
def test_a_condition_of_another_scale_takes_the_models(source, size):
    assert condition_size(*source, multiple=8, grid=16, pixels=112 * 64) == (*size, True)
    assert at_scale(*source, 112 * 64, 16) == size


@pytest.mark.parametrize("source", [(64, 64), (101, 70), (160, 64)])
def test_a_condition_near_the_scale_keeps_its_own_size(source):
    own = tuple(v - v % 8 for v in source)
    assert condition_size(*source, multiple=8, grid=16, pixels=112 * 64) == (*own, False)


def test_the_library_scales_the_condition_and_says_so(tiny_pipe):
    image = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    with pytest.warns(ScaleWarning, match="size 112x64 chosen: the image is 320x180"):
        out = tiny_pipe("x", image=image, num_frames=5, seed=0)
    assert out.frames.shape == (5, 64, 112, 3)
    assert np.array_equal(out.frames[0], fit_frames(image, 112, 64))  # the image, scaled
    assert out.warnings == [w for w in out.warnings if "112x64 chosen" in w] != []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScaleWarning)  # a size given: nothing to tell
        given = tiny_pipe("x", image=image, num_frames=5, seed=0, width=320, height=176)
    assert given.frames.shape == (5, 176, 320, 3) and given.warnings == []


def test_cli_extends_a_clip_of_another_scale_at_the_models(tiny_pipe, tmp_path, capsys):
    model = tmp_path / "model"
    tiny_pipe.save_pretrained(model)
    clip = np.random.default_rng(1).integers(0, 255, (5, 180, 320, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", clip, 8.0)
    base = ["generate", "--model", str(model), "--steps", "1", "--quiet", "--prompt", "x"]
    args = [*base, "--video", str(tmp_path / "clip.mp4"), "--extend", "forward", "--frames", "4"]
    assert main([*args, "--out", str(tmp_path / "a.mp4"), "--json"]) == 0
    captured = capsys.readouterr()
    (line,) = [x for x in captured.err.splitlines() if "chosen" in x]
    assert line.startswith("chronotope generate: warning: size 112x64 chosen")
    assert json.loads(captured.out)["size"] == "112x64"
    assert read_video(tmp_path / "a.mp4").frames.shape == (9, 64, 112, 3)
    assert main([*args, "--out", str(tmp_path / "b.mp4"), "--size", "320x176"]) == 0
    assert "chosen" not in capsys.readouterr().err  # --size still sets any valid size
    assert read_video(tmp_path / "b.mp4").frames.shape == (9, 176, 320, 3)


def test_the_bundled_folder_declares_its_scale_and_vocabulary():
    from chronotope.pipeline.meta import load_without_weights
    from chronotope.pipeline.vocabulary import world_vocabulary

    pipe = load_without_weights()  # configs only: no weight is read
    assert pipe.config.trained_pixels == 112 * 64  # trained at 64x64, 112x64 and 64x112
    assert pipe.vocabulary == world_vocabulary() and {"circle", "bounces"} <= pipe.vocabulary
    assert pipe.unknown_words("a cat playing the piano") == ["cat", "playing", "piano"]


def test_a_file_is_read_at_the_chosen_size(tiny_pipe, tmp_path):
    """Resolving reads the file fitted to the output size frame by frame: the clip is never
    held at its own size (before fitting, not only after)."""
    from chronotope.tasks.request import GenerationRequest, resolve

    clip = np.random.default_rng(2).integers(0, 255, (9, 360, 640, 3), dtype=np.uint8)
    path = write_video(tmp_path / "clip.mp4", clip, 8.0)
    request = GenerationRequest("x", video=path, extend="forward", num_frames=4)
    r = resolve(request, tiny_pipe.defaults)
    assert (r.width, r.height) == (112, 64) and r.video.shape == (9, 64, 112, 3)
    assert np.array_equal(r.video, fit_frames(read_video(path).frames, 112, 64))
