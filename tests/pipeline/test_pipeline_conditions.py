"""Condition inputs of a call: every accepted form gives the same uint8 frames, and so the same
video; anything else is a UsageError naming the argument."""

import numpy as np
import pytest
import torch
from PIL import Image

from chronotope.data import read_video, write_video
from chronotope.errors import UsageError
from chronotope.tasks.conditions import as_clip, as_image, as_pair


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 16, 24, 3), dtype=np.uint8)


def test_every_form_of_an_image_gives_the_same_frame(frames, tmp_path):
    img = frames[0]
    path = tmp_path / "a.png"
    write_video(path, img[None], 8.0)
    forms = [
        img,
        img[None],  # a 1-frame clip
        Image.fromarray(img),
        Image.fromarray(img).convert("RGBA"),  # converted to RGB
        torch.from_numpy(img),
        img.astype(np.float32) / 255.0,  # diffusers' output_type="np"
        img.astype(np.int64),
        path,
        str(path),
    ]
    for x in forms:
        out = as_image(x, fps=8.0, name="image")
        assert out.dtype == np.uint8 and out.shape == (16, 24, 3)
        np.testing.assert_array_equal(out, img)


def test_every_form_of_a_clip_gives_the_same_frames(frames, tmp_path):
    forms = [
        frames,
        [Image.fromarray(f) for f in frames],
        list(frames),
        torch.from_numpy(frames),
        frames / 255.0,
    ]
    for x in forms:
        np.testing.assert_array_equal(as_clip(x, fps=8.0, name="video"), frames)
    assert as_clip(frames[0], fps=8.0, name="video").shape == (1, 16, 24, 3)  # an image


def test_a_path_is_read_at_the_calls_fps(tmp_path):
    clip = np.repeat(np.arange(0, 250, 10, dtype=np.uint8)[:, None, None, None], 16, axis=1)
    clip = np.ascontiguousarray(np.broadcast_to(clip, (25, 16, 16, 3)))
    path = write_video(tmp_path / "c.mp4", clip, 16.0)
    got = as_clip(path, fps=8.0, name="video")
    np.testing.assert_array_equal(got, read_video(path, fps=8.0).frames)
    assert len(got) == 13  # 25 frames at 16 fps, resampled to 8 fps
    # a video given as an image is its first frame (as `generate --image clip.mp4`)
    np.testing.assert_array_equal(as_image(path, fps=8.0, name="image"), got[0])


def test_connect_takes_two_clips_or_images(frames):
    a, b = as_pair([frames, Image.fromarray(frames[1])], fps=8.0, name="connect")
    np.testing.assert_array_equal(a, frames)
    assert b.shape == (1, 16, 24, 3)
    for bad in (frames, (frames,), (frames, frames, frames), "a.mp4"):
        with pytest.raises(UsageError, match="two clips") as e:
            as_pair(bad, fps=8.0, name="connect")
        assert e.value.param == "connect"


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((2, 8, 8, 3), np.uint8), "one image, got 2 frames"),
        (np.zeros((3, 8, 8), np.uint8), "got shape"),  # channels first
        (np.zeros((8, 8, 4), np.uint8), "got shape"),  # RGBA array
        (np.full((8, 8, 3), -0.5, np.float32), r"\[0, 1\], got values in \[-0.5, -0.5\]"),
        (np.full((8, 8, 3), np.nan, np.float32), r"\[0, 1\]"),
        (np.full((8, 8, 3), 300, np.int64), "int64"),
        ([], "empty list"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], "different sizes"),
        (3, "got int"),
        ("no/such/file.png", "no such file"),
    ],
)
def test_bad_conditions_are_refused_naming_the_argument(x, match):
    with pytest.raises(UsageError, match=match) as e:
        as_image(x, fps=8.0, name="image")
    assert e.value.param == "image" and str(e.value).startswith("image")


def test_the_pipeline_gives_the_same_video_for_every_form(tiny_pipe, tmp_path):
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    path = write_video(tmp_path / "first.png", clip[:1], 8.0)
    kw = dict(num_frames=9, seed=3, width=32, height=32)
    tiny_pipe.autocast = False
    try:
        ref = tiny_pipe("x", image=clip[0], **kw).frames
        for form in (Image.fromarray(clip[0]), clip[0] / 255.0, path):
            np.testing.assert_array_equal(tiny_pipe("x", image=form, **kw).frames, ref)
        # a connect of two images given as (H,W,3) arrays: A, a bridge, then B
        kw = dict(seed=3, width=32, height=32)  # the size given: 32x32 is not the model's scale
        out = tiny_pipe("x", connect=(clip[0], clip[-1]), num_frames=8, **kw).frames
        np.testing.assert_array_equal(out[0], clip[0])
        np.testing.assert_array_equal(out[-1], clip[-1])
        assert len(out) == 1 + 8 + 1
    finally:
        tiny_pipe.autocast = True


def test_a_condition_file_is_fitted_frame_by_frame_as_it_is_read(tmp_path):
    # with size=, a file's frames come back at that size, as fitting the whole clip gives, and
    # its own size is known before it is read (source_size reads the header)
    from chronotope.data import fit_frames
    from chronotope.tasks.conditions import source_size

    rng = np.random.default_rng(1)
    clip = np.repeat(rng.integers(0, 256, (1, 48, 80, 3), dtype=np.uint8), 9, axis=0)
    path = write_video(tmp_path / "c.mp4", clip, 8.0)
    assert source_size(path, name="video") == (80, 48)
    assert source_size(clip, name="video") == (80, 48)
    assert source_size(None, name="video") is None
    native = as_clip(path, fps=8.0, name="video")
    fitted = as_clip(path, fps=8.0, name="video", size=(32, 24))
    assert fitted.shape == (9, 24, 32, 3)
    np.testing.assert_array_equal(fitted, fit_frames(native, 32, 24))
    np.testing.assert_array_equal(as_image(path, fps=8.0, name="image", size=(32, 24)), fitted[0])
    np.testing.assert_array_equal(
        as_clip(clip, fps=8.0, name="video", size=(32, 24)), fit_frames(clip, 32, 24)
    )
