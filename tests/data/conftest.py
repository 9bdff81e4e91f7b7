"""Fixture for the data tests: a folder of good and deliberately broken media files."""

from pathlib import Path

import pytest
from data_media_helpers import clip, png_with_declared_size, truncate, write_mp4_plain

from chronotope.data import write_video


@pytest.fixture
def media_folder(tmp_path) -> Path:
    """Good: two clips, a still, a 1-frame video, a gif (in a subfolder). Bad: the rest."""
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    write_video(root / "good.mp4", clip(12), fps=8)
    (root / "good.txt").write_text("a red circle moves right\n")
    write_video(root / "sub" / "anim.gif", clip(6, seed=1), fps=5)
    (root / "sub" / "captions.csv").write_text("path,text\nanim.gif,a blue square falls\n")
    write_video(root / "still.png", clip(1, seed=2), fps=1)
    write_video(root / "one_frame.mp4", clip(1, seed=3), fps=8)
    (root / "zero.mp4").write_bytes(b"")
    truncate(write_video(root / "cut_faststart.mp4", clip(24, seed=4), fps=8))
    truncate(write_mp4_plain(root / "cut_plain.mp4", clip(24, seed=5), fps=8))
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    png_with_declared_size(root / "huge.png", 100_000, 100_000)
    (root / ".hidden.tmp-1.mp4").write_bytes(b"partial write")  # skipped: a write in progress
    (root / "readme.md").write_text("not media; ignored")
    return root
