"""The server's upload reader: the library's decoder behind limits checked on the header, and
errors that never name the server's temporary file."""

import numpy as np
import pytest
from PIL import Image

from chronotope.data import read_video, write_video
from chronotope.errors import UsageError
from chronotope.serve import media


def _frames(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_an_upload_decodes_as_the_library_reads_it(tmp_path):
    mp4 = write_video(tmp_path / "a.upload.mp4", _frames(9), 12)
    gif = tmp_path / "b.gif"
    images = [Image.fromarray(f) for f in _frames(6)]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=[100, 300] * 3)
    for path in (mp4, gif):
        served, fps = media.read_video(path)
        ours = read_video(path)
        np.testing.assert_array_equal(served, ours.frames)
        assert fps == ours.fps
    # a GIF's frames last 100 / 300 ms: read as the library reads it (frames at its mean rate)
    assert len(media.read_video(gif)[0]) == 6


def test_upload_limits_and_errors(tmp_path):
    mp4 = write_video(tmp_path / "a.mp4", _frames(9), 12)
    with pytest.raises(UsageError, match="48x32; at most 1000 pixels"):
        media.read_video(mp4, max_pixels=1000)
    with pytest.raises(UsageError, match="more than 8 frames"):
        media.read_video(mp4, max_frames=8)
    assert len(media.read_video(mp4, max_frames=9)[0]) == 9
    gif = tmp_path / "b.gif"  # no frame count in its header: counted while decoding
    images = [Image.fromarray(f) for f in _frames(5)]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=100)
    with pytest.raises(UsageError, match="more than 4 frames"):
        media.read_video(gif, max_frames=4)
    bad = tmp_path / "x.upload"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(UsageError, match="cannot decode the video") as e:
        media.read_video(bad)
    assert str(tmp_path) not in str(e.value) and "x.upload" not in str(e.value)
    cut = tmp_path / "cut.upload"
    cut.write_bytes(mp4.read_bytes()[:300])
    with pytest.raises(UsageError, match="cannot decode the video") as e:
        media.read_video(cut)
    assert str(tmp_path) not in str(e.value)
