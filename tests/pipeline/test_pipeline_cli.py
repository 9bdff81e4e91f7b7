import json

import numpy as np
import pytest

from chronotope.cli.main import main
from chronotope.data import read_video, write_video


@pytest.fixture(scope="module")
def model_dir(tiny_pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    tiny_pipe.save_pretrained(path)
    return path


def gen(model_dir, *args):
    return main(["generate", "--model", str(model_dir), "--steps", "2", "--quiet", *args])


def test_generate_video_and_json(model_dir, tmp_path, capsys):
    out = tmp_path / "a.mp4"
    assert (
        gen(
            model_dir,
            "--prompt",
            "a red circle moves left",
            "--out",
            str(out),
            "--frames",
            "9",
            "--seed",
            "3",
            "--json",
        )
        == 0
    )
    meta = json.loads(capsys.readouterr().out)
    assert meta["output"] == str(out) and meta["frames"] == 9 and meta["size"] == "112x64"
    assert meta["fps"] == 8.0 and meta["seconds"] == 9 / 8 and meta["wall_seconds"] > 0
    assert meta["new_frames"] == 9 and meta["new_seconds"] == 9 / 8  # nothing given
    assert meta["negative_prompt"] is None
    assert read_video(out).frames.shape == (9, 64, 112, 3)


def test_negative_prompt_flag_reaches_the_pipeline(model_dir, tmp_path, capsys):
    args = ["--prompt", "a red circle", "--frames", "5", "--seed", "3", "--json"]
    for name, extra in (("a", []), ("b", ["--negative-prompt", "a blue square"])):
        assert gen(model_dir, *args, "--out", str(tmp_path / f"{name}.mp4"), *extra) == 0
    metas = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["negative_prompt"] for m in metas] == [None, "a blue square"]
    a, b = (read_video(tmp_path / f"{n}.mp4").frames for n in "ab")
    assert not np.array_equal(a, b)  # the same seed, steered by another negative prompt


def test_early_guidance_flag_reaches_the_pipeline(model_dir, tmp_path, capsys):
    args = ["--prompt", "a red circle", "--frames", "5", "--seed", "3", "--json"]
    for name, extra in (("a", []), ("b", ["--early-guidance", "3"])):
        assert gen(model_dir, *args, "--out", str(tmp_path / f"{name}.mp4"), *extra) == 0
    metas = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["early_guidance"] for m in metas] == [1.0, 3.0]  # the model's default, the flag's
    a, b = (read_video(tmp_path / f"{n}.mp4").frames for n in "ab")
    assert not np.array_equal(a, b)


def test_generate_image_png(model_dir, tmp_path):
    out = tmp_path / "a.png"
    assert (
        gen(
            model_dir, "--prompt", "a square", "--out", str(out), "--frames", "1", "--size", "64x64"
        )
        == 0
    )
    assert read_video(out).frames.shape == (1, 64, 64, 3)


def test_extend_cli_output_is_whole_clip(model_dir, tmp_path):
    src = tmp_path / "src.png"
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    write_video(src.with_suffix(".gif"), frames, 8)
    out = tmp_path / "ext.gif"
    assert (
        gen(
            model_dir,
            "--prompt",
            "x",
            "--out",
            str(out),
            "--video",
            str(src.with_suffix(".gif")),
            "--extend",
            "forward",
            "--frames",
            "7",
        )
        == 0
    )
    assert read_video(out).frames.shape[0] == 5 + 7  # --frames: the new part, any count


def test_candidates_flag_reaches_the_pipeline(model_dir, tmp_path, capsys):
    clip = tmp_path / "c.mp4"
    assert gen(model_dir, "--prompt", "x", "--out", str(clip), "--frames", "5", "--seed", "1") == 0
    base = ["--prompt", "x", "--video", str(clip), "--extend", "forward", "--frames", "4"]
    for name, extra in (("a", []), ("b", ["--candidates", "3"])):
        out = str(tmp_path / f"{name}.mp4")
        assert gen(model_dir, *base, "--seed", "3", "--out", out, "--json", *extra) == 0
    metas = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["candidates"] for m in metas] == [1, 3]  # the model's default, the flag's


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "100x64"], "nearest valid"),
        (["--frames", "0"], "frames"),
        (["--out-of-range"], None),
        (["--strength", "0.5"], "--strength: strength restyles a video"),
        (["--extend", "forward"], "--extend: extend continues a video"),
        (["--video", "missing.mp4", "--extend", "forward"], "no such file"),
    ],
)
def test_bad_arguments_exit_2(model_dir, tmp_path, capsys, args, message):
    argv = ["--prompt", "x", "--out", str(tmp_path / "o.mp4"), *args]
    try:
        code = gen(model_dir, *argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    if message:
        assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_long_video_streams_to_the_file(model_dir, tmp_path):
    out = tmp_path / "long.mp4"
    assert gen(model_dir, "--prompt", "x", "--out", str(out), "--seconds", "6") == 0
    assert read_video(out).frames.shape[0] == 49  # windowed (window 17), streamed chunk by chunk


@pytest.mark.parametrize(
    "name, args, why",
    [
        ("v.png", ["--frames", "5"], "use --frames 1"),
        ("v.jpg", ["--seconds", "2"], "use --frames 1"),
        # --frames 1 cannot help here: the error names the flag that makes a video instead
        ("v.png", ["--loop", "--frames", "1"], "but --loop makes a video"),
        ("v.jpeg", ["--prompt", "y", "--shot-seconds", "1"], "but several --prompt makes a video"),
    ],
)
def test_a_still_cannot_hold_a_video_said_before_the_model_loads(
    model_dir, tmp_path, capsys, monkeypatch, name, args, why
):
    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the request was refused")

    monkeypatch.setattr("chronotope.pipeline.loading.load_pipeline", no_model)
    out = tmp_path / name
    assert gen(model_dir, "--prompt", "x", "--out", str(out), *args) == 2
    err = capsys.readouterr().err
    assert "holds one image" in err and why in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file either


def test_a_restyle_into_a_still_needs_a_one_frame_source(model_dir, tmp_path, capsys, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "clip.mp4", np.zeros((5, 64, 64, 3), np.uint8), fps=8)
    write_video(src / "one.png", np.zeros((1, 64, 64, 3), np.uint8), fps=8)
    restyle = ["--prompt", "x", "--strength", "0.5", "--out"]
    assert gen(model_dir, *restyle, str(tmp_path / "one.png"), "--video", str(src / "one.png")) == 0
    assert read_video(tmp_path / "one.png").frames.shape == (1, 64, 64, 3)

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the request was refused")

    monkeypatch.setattr("chronotope.pipeline.loading.load_pipeline", no_model)
    out = tmp_path / "r.png"
    assert gen(model_dir, *restyle, str(out), "--video", str(src / "clip.mp4")) == 2
    err = capsys.readouterr().err
    assert "holds one image" in err and "(5 frames)" in err and not out.exists()


@pytest.mark.parametrize("name", ["a.jpg", "a.png"])
def test_a_still_with_no_length_is_an_image(model_dir, tmp_path, capsys, name):
    out = tmp_path / name
    assert gen(model_dir, "--prompt", "a square", "--out", str(out), "--json") == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 1
    assert read_video(out).frames.shape == (1, 64, 112, 3)  # the model's native size


def test_unreadable_condition_file_is_one_line_exit_2(model_dir, tmp_path, capsys):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"this is not a video")
    out = tmp_path / "a.mp4"
    rc = gen(
        model_dir, "--prompt", "x", "--video", str(bad), "--strength", "0.5", "--out", str(out)
    )
    err = capsys.readouterr().err
    assert rc == 2 and "not_a_video.mp4" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_restyle_cli_keeps_an_unaligned_clip_length(model_dir, tmp_path):
    src = tmp_path / "src.mp4"
    frames = np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
    write_video(src, frames, fps=8)
    out = tmp_path / "b.mp4"
    assert gen(model_dir, "--prompt", "x", "--video", str(src), "--strength", "0.5",
               "--out", str(out)) == 0  # fmt: skip
    assert read_video(out).frames.shape == (10, 64, 64, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        # values the pipeline would silently replace by its defaults (0) or turn into NaN
        (["--steps", "0"], "--steps"),
        (["--fps", "0"], "--fps"),
        (["--seconds", "0"], "--seconds"),
        (["--seconds", "inf"], "--seconds"),
        # lengths no call should run for (an hour at most): refused, not run for ever
        (["--seconds", "1e9"], "--seconds: seconds must be <= 3600"),
        (["--frames", "100000001"], "one call makes at most 3,600 s"),
        (["--prompt", "y", "--shot-seconds", "3000"], "one call makes at most 3,600 s"),
        (["--guidance", "nan"], "--guidance"),
        (["--early-guidance", "-1"], "--early-guidance"),
        (["--candidates", "0"], "--candidates"),
        (["--video", "IMG", "--strength", "0"], "--strength: strength must be in (0, 1]"),
        (["--candidates", "17"], "--candidates"),
        (["--memory-budget", "-1"], "--memory-budget"),
        (["--seed", str(2**70)], "--seed"),
        (["--size", "0x0"], "width"),
        # flags the chosen task would not use
        (["--video", "IMG", "--strength", "0.5", "--image", "IMG"], "--image"),
        (["--video", "IMG", "--extend", "backward", "--last-image", "IMG"], "--last-image"),
        (["--connect", "IMG", "IMG", "--last-image", "IMG"], "--last-image"),
        (["--video", "IMG", "--strength", "0.5", "--frames", "5"], "--frames"),
        (["--prompt", "y", "--shot-seconds", "1", "--image", "IMG"], "--image"),
        (
            ["--prompt", "y", "--shot-seconds", "1", "--video", "IMG", "--extend", "forward"],
            "--video",
        ),  # fmt: skip
        (["--prompt", "y", "--shot-seconds", "1", "--loop"], "--loop"),
        (["--loop", "--frames", "1"], "--loop"),
        (["--transition", "dissolve"], "--transition: transition is how a connect joins"),
        (["--image", "FOLDER"], "is a folder"),
    ],
)
def test_ignored_or_defaulted_values_are_refused(model_dir, tmp_path, capsys, args, message):
    image = tmp_path / "i.png"
    write_video(image, np.zeros((1, 64, 64, 3), np.uint8), fps=8)
    (tmp_path / "folder").mkdir()
    args = [{"IMG": str(image), "FOLDER": str(tmp_path / "folder")}.get(a, a) for a in args]
    out = tmp_path / "o.mp4"
    assert gen(model_dir, "--prompt", "x", "--out", str(out), *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_out_naming_a_folder_is_one_line_exit_2(model_dir, tmp_path, capsys):
    folder = tmp_path / "taken.png"
    folder.mkdir()
    rc = gen(model_dir, "--prompt", "x", "--out", str(folder), "--frames", "1", "--size", "64x64")
    err = capsys.readouterr().err
    assert rc == 2 and "is a folder" in err and "Traceback" not in err
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_16_bit_image_condition_keeps_its_gray_levels(model_dir, tmp_path):
    from PIL import Image

    gray = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (64, 1))  # (64, 64)
    src = tmp_path / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(src)  # a 16-bit grayscale PNG
    assert Image.open(src).mode.startswith("I")
    out = tmp_path / "a.png"
    assert gen(model_dir, "--prompt", "x", "--image", str(src), "--frames", "1",
               "--out", str(out)) == 0  # fmt: skip
    assert np.array_equal(read_video(out).frames[0], np.repeat(gray[..., None], 3, axis=-1))


def test_connect_transition_flag_reaches_the_pipeline(model_dir, tmp_path, capsys):
    a, b = tmp_path / "a.gif", tmp_path / "b.gif"
    gray, black = np.full((5, 64, 112, 3), 128, np.uint8), np.zeros((5, 64, 112, 3), np.uint8)
    for t in range(5):  # a white square moving right (GIF merges identical frames)
        gray[t, 20:30, 10 + 8 * t : 20 + 8 * t] = black[t, 20:30, 10 + 8 * t : 20 + 8 * t] = 255
    write_video(a, gray, 8)
    write_video(b, black, 8)  # another scene: a black one
    base = ["--prompt", "x", "--connect", str(a), str(b), "--frames", "8", "--seed", "1"]
    for name, extra in (("auto", []), ("bridge", ["--transition", "bridge"])):
        out = tmp_path / f"{name}.mp4"
        assert gen(model_dir, *base, "--out", str(out), "--json", *extra) == 0
        assert read_video(out).frames.shape[0] == 5 + 8 + 5
    metas = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["transition"] for m in metas] == ["dissolve", "bridge"]
