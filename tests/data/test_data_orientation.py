"""Footage is read as it is shown: a phone's portrait video (landscape frames plus a display
rotation) and a sideways-stored photo (an EXIF orientation) come out upright, in `read_video`,
`probe` and the server's upload reader alike."""

import av
import numpy as np
import pytest
from data_media_helpers import clip, write_mp4_plain
from PIL import Image

from chronotope.data import probe, read_video
from chronotope.serve import media

needs_rotation = pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation")
    or not hasattr(av.VideoFrame, "rotation"),
    reason="this PyAV cannot write or read a display rotation (PyAV >= 14 can)",
)


@needs_rotation
@pytest.mark.parametrize("rotation, turns", [(90, 1), (180, 2), (-90, 3), (270, 3)])
def test_a_rotated_video_is_read_upright(tmp_path, rotation, turns):
    frames = clip(3, height=32, width=48)
    stored = read_video(write_mp4_plain(tmp_path / "plain.mp4", frames, 8)).frames
    path = write_mp4_plain(tmp_path / "rot.mp4", frames, 8, rotation=rotation)
    # the same encoded pixels, turned counterclockwise as ffmpeg's autorotate shows them
    # (checked once against the ffmpeg binary: a display rotation of 90 is np.rot90(frame, 1))
    expected = np.rot90(stored, turns, axes=(1, 2))
    np.testing.assert_array_equal(read_video(path).frames, expected)
    np.testing.assert_array_equal(read_video(path, fps=4.0).frames, expected[::2])
    info = probe(path)
    assert (info.width, info.height) == ((32, 48) if turns % 2 else (48, 32))
    served, _ = media.read_video(path)
    np.testing.assert_array_equal(served, expected)


# EXIF orientation -> counterclockwise quarter turns that show the stored pixels upright
EXIF_TURNS = {1: 0, 3: 2, 6: 3, 8: 1}


@pytest.mark.parametrize("orientation", sorted(EXIF_TURNS))
def test_a_photo_with_an_exif_orientation_is_read_upright(tmp_path, orientation):
    pixels = clip(1, height=16, width=24)[0]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.png"  # PNG: lossless, so the pixels compare exactly
    Image.fromarray(pixels).save(path, exif=exif)
    expected = np.rot90(pixels, EXIF_TURNS[orientation])
    np.testing.assert_array_equal(read_video(path).frames[0], expected)
    info = probe(path)
    assert (info.width, info.height) == (expected.shape[1], expected.shape[0])
    served = media.decode_image(path.read_bytes(), max_pixels=10_000)
    np.testing.assert_array_equal(served, expected)


@pytest.mark.parametrize(
    "angle, turns", [(0, 0), (90, 1), (-90, 3), (180, 2), (-180, 2), (89.6, 1), (45, 0), (None, 0)]
)
def test_quarter_turns_round_near_multiples_of_90_and_ignore_others(angle, turns):
    from types import SimpleNamespace

    from chronotope.data.probing import quarter_turns

    assert quarter_turns(SimpleNamespace(rotation=angle)) == turns
    assert quarter_turns(SimpleNamespace()) == 0  # a PyAV without frame.rotation: as stored
