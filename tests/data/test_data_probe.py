import os

import pytest
from data_media_helpers import clip, png_with_declared_size, truncate, write_mp4_plain

from chronotope.data import MAX_PIXELS, probe, write_video
from chronotope.errors import CorruptFileError


def test_real_clips_probe(real_clips):
    bikes = probe(real_clips / "bikes.mp4")
    assert (bikes.width, bikes.height, bikes.num_frames) == (640, 272, 250)
    assert bikes.fps == 25.0 and bikes.duration == pytest.approx(10.0)
    assert not bikes.is_image
    phone = probe(real_clips / "carphone_pristine.mp4")
    assert (phone.width, phone.height, phone.num_frames) == (176, 144, 120)
    assert phone.fps == pytest.approx(30000 / 1001)
    assert phone.duration == pytest.approx(120 * 1001 / 30000)


def test_written_files_probe_to_what_was_written(tmp_path):
    info = probe(write_video(tmp_path / "a.mp4", clip(13), fps=12))
    assert (info.width, info.height, info.num_frames, info.fps) == (48, 32, 13, 12.0)
    assert info.duration == pytest.approx(13 / 12)
    gif = probe(write_video(tmp_path / "a.gif", clip(8), fps=8))  # 1 s: exact in centiseconds
    assert (gif.num_frames, gif.fps, gif.duration) == (8, 8.0, 1.0)
    still = probe(write_video(tmp_path / "a.png", clip(1), fps=8))
    assert still.is_image and (still.num_frames, still.fps, still.duration) == (1, 0.0, 0.0)


def test_one_frame_video_is_a_video(tmp_path):
    info = probe(write_video(tmp_path / "one.mp4", clip(1), fps=8))
    assert info.num_frames == 1 and not info.is_image
    assert info.fps == 8.0


def test_frame_count_falls_back_to_counting_packets(tmp_path):
    # Matroska stores no frame count: probe demuxes packets to count them
    info = probe(write_mp4_plain(tmp_path / "a.mkv", clip(11), fps=10))
    assert info.num_frames == 11 and info.fps == 10.0


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p: (p.write_text("hello\n" * 100), p)[1], "not a readable video"),
        (lambda p: truncate(write_mp4_plain(p, clip(24), 8)), "not a readable video"),
        (lambda p: truncate(write_video(p, clip(24), 8)), "truncated"),
        (lambda p: truncate(write_video(p, clip(24), 8), keep=0.9), "truncated"),
    ],
    ids=["zero-byte", "text", "truncated-plain", "truncated-faststart", "truncated-tail"],
)
def test_broken_videos_raise_with_reason(tmp_path, make, reason):
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(CorruptFileError, match=reason):
        probe(path)


def test_huge_declared_png_is_refused_before_decoding(tmp_path):
    with pytest.raises(CorruptFileError, match="too large"):
        probe(png_with_declared_size(tmp_path / "bomb.png", 100_000, 100_000))
    # above our limit, below Pillow's own bomb check: our check names the limit
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(CorruptFileError, match=f"{side}x{side} exceeds the limit"):
        probe(png_with_declared_size(tmp_path / "big.png", side, side))


def test_fifo_and_missing_files_do_not_block(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(CorruptFileError, match="not a regular file"):
        probe(fifo)
    with pytest.raises(CorruptFileError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "x.png").write_text("text")
    with pytest.raises(CorruptFileError, match="not a readable image"):
        probe(tmp_path / "x.png")
