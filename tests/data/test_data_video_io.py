from fractions import Fraction

import av
import numpy as np
import pytest
import torch

import chronotope.data.video_io as video_io
from chronotope.data import VideoFrames, read_video, to_tensor, to_uint8, write_video
from chronotope.errors import CorruptFileError, UsageError

BITS = 8  # frame index coded as 8 vertical bars, white = 1, survives lossy codecs


def index_clip(n: int, *, height: int = 32, width: int = 128) -> np.ndarray:
    """(n,H,W,3) uint8 whose frame i shows the bits of i as black/white bars."""
    frames = np.zeros((n, height, width, 3), np.uint8)
    bar = width // BITS
    for i in range(n):
        for b in range(BITS):
            if (i >> b) & 1:
                frames[i, :, b * bar : (b + 1) * bar] = 255
    return frames


def frame_indices(frames: np.ndarray) -> list[int]:
    bar = frames.shape[2] // BITS
    means = [frames[:, :, b * bar : (b + 1) * bar].mean(axis=(1, 2, 3)) for b in range(BITS)]
    return [sum(int(means[b][t] > 128) << b for b in range(BITS)) for t in range(len(frames))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def smooth_clip(n: int = 12, height: int = 48, width: int = 64) -> np.ndarray:
    """A moving colour gradient: natural-ish content for the lossy codecs."""
    t, y, x = np.meshgrid(np.arange(n), np.arange(height), np.arange(width), indexing="ij")
    r = 128 + 100 * np.sin((x + 3 * t) / 9)
    g = 128 + 100 * np.cos((y - 2 * t) / 7)
    b = 128 + 60 * np.sin((x + y) / 11)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def test_png_round_trip_is_exact(tmp_path):
    frame = np.random.default_rng(0).integers(0, 256, (1, 21, 35, 3), dtype=np.uint8)
    path = write_video(tmp_path / "a.png", frame, fps=8)
    video = read_video(path)
    assert np.array_equal(video.frames, frame)
    assert video.fps == 0.0  # a still has no time axis


@pytest.mark.parametrize("suffix, min_psnr", [(".mp4", 35.0), (".gif", 28.0), (".webp", 30.0)])
def test_lossy_round_trip_within_psnr(tmp_path, suffix, min_psnr):
    frames = smooth_clip()
    path = write_video(tmp_path / f"a{suffix}", frames, fps=8)
    video = read_video(path)
    assert video.frames.shape == frames.shape
    assert video.fps == pytest.approx(8.0)
    assert psnr(video.frames, frames) > min_psnr


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_holds_one_frame_within_psnr(tmp_path, suffix):
    frame = smooth_clip(n=1, height=33, width=47)
    video = read_video(write_video(tmp_path / f"a{suffix}", frame, fps=8))
    assert video.frames.shape == frame.shape and psnr(video.frames, frame) > 35
    with pytest.raises(UsageError, match="1 frame"):
        write_video(tmp_path / f"b{suffix}", smooth_clip(n=2), fps=8)


def test_mp4_odd_size_is_padded_by_edge_repeat(tmp_path):
    frames = smooth_clip(n=4, height=33, width=47)
    video = read_video(write_video(tmp_path / "odd.mp4", frames, fps=10))
    assert video.frames.shape == (4, 34, 48, 3)
    assert psnr(video.frames[:, :33, :47], frames) > 35
    # the added row repeats the last one (up to codec error)
    assert np.abs(video.frames[:, 33].astype(int) - video.frames[:, 32].astype(int)).mean() < 4


def test_png_refuses_many_frames_and_unknown_formats(tmp_path):
    with pytest.raises(UsageError, match="1 frame"):
        write_video(tmp_path / "a.png", smooth_clip(n=2), fps=8)
    with pytest.raises(UsageError, match=".mp4"):
        write_video(tmp_path / "a.avi", smooth_clip(n=2), fps=8)
    with pytest.raises(UsageError, match="fps"):
        write_video(tmp_path / "a.mp4", smooth_clip(n=2), fps=0)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(path, frames, fps):
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setitem(video_io._WRITERS, ".mp4", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_video(tmp_path / "a.mp4", smooth_clip(n=2), fps=8)
    assert list(tmp_path.iterdir()) == []


def test_index_code_survives_mp4(tmp_path):
    frames = index_clip(40)
    video = read_video(write_video(tmp_path / "i.mp4", frames, fps=16))
    assert frame_indices(video.frames) == list(range(40))


def nearest_oracle(n_src: int, src_fps: float, fps: float, start: float = 0.0) -> list[int]:
    """Index of the nearest source frame (ties to the earlier) for each target timestamp."""
    src, step, out = Fraction(src_fps), 1 / Fraction(fps), []
    end = n_src / src
    j = 0
    while (target := Fraction(start) + j * step) < end:
        i = min(range(n_src), key=lambda k: (abs(k / src - target), k))
        out.append(i)
        j += 1
    return out


@pytest.mark.parametrize("fps, start", [(8, 0.0), (6, 0.0), (32, 0.0), (8, 1.0), (5, 0.3)])
def test_fps_resampling_picks_nearest_frames(tmp_path, fps, start):
    path = write_video(tmp_path / "i.mp4", index_clip(40), fps=16)
    video = read_video(path, fps=fps, start=start)
    assert video.fps == fps
    assert frame_indices(video.frames) == nearest_oracle(40, 16, fps, start)


def test_half_fps_picks_every_other_frame(tmp_path):
    path = write_video(tmp_path / "i.mp4", index_clip(40), fps=16)
    assert frame_indices(read_video(path, fps=8).frames) == list(range(0, 40, 2))


def test_gif_fps_resampling_uses_frame_durations(tmp_path):
    path = write_video(tmp_path / "i.gif", index_clip(20), fps=10)
    assert frame_indices(read_video(path, fps=5).frames) == list(range(0, 20, 2))


def test_seek_near_the_end_decodes_one_gop(tmp_path, monkeypatch):
    path = write_video(tmp_path / "long.mp4", index_clip(200), fps=25)  # keyframe every 50
    decoded = []
    real_frame = video_io._Frame

    def counting_frame(time, source):
        decoded.append(time)
        return real_frame(time, source)

    monkeypatch.setattr(video_io, "_Frame", counting_frame)
    video = read_video(path, start=190 / 25, num_frames=5)
    assert frame_indices(video.frames) == [190, 191, 192, 193, 194]
    assert len(decoded) <= 50  # from the keyframe at 150, not from frame 0
    assert min(decoded) >= 150 / 25


def test_num_frames_and_max_frames(tmp_path):
    path = write_video(tmp_path / "i.mp4", index_clip(20), fps=10)
    assert frame_indices(read_video(path, max_frames=50).frames) == list(range(20))
    assert frame_indices(read_video(path, start=1.0, max_frames=3).frames) == [10, 11, 12]
    with pytest.raises(UsageError, match=r"\[1, 10\]"):
        read_video(path, start=1.0, num_frames=11)
    with pytest.raises(UsageError, match="past the end"):
        read_video(path, start=5.0)
    with pytest.raises(UsageError, match="num_frames"):
        read_video(path, num_frames=0)


def test_video_frames_stream_what_read_video_reads(tmp_path, monkeypatch):
    # frames come one at a time, as decoded: the first arrives after one frame of decoding,
    # and chunks cut the same frames as read_video returns whole
    path = write_video(tmp_path / "i.mp4", index_clip(30), fps=10)
    frames = VideoFrames(path, fps=5.0, start=0.4, max_frames=12)
    assert frames.fps == 5.0  # known before decoding
    decoded = []
    real_frame = video_io._Frame
    monkeypatch.setattr(video_io, "_Frame", lambda t, s: decoded.append(t) or real_frame(t, s))
    first = next(iter(frames))
    assert frame_indices(first[None]) == [4] and len(decoded) <= 6  # not the whole clip
    chunks = list(frames.chunks(4))
    assert [len(c) for c in chunks] == [1, 4, 4, 3]
    whole = read_video(path, fps=5.0, start=0.4, max_frames=12).frames
    assert np.array_equal(np.concatenate(chunks), whole)
    assert frame_indices(whole) == list(range(4, 28, 2))
    with pytest.raises(UsageError, match="past the end"):
        list(VideoFrames(path, start=5.0))


def test_read_refuses_garbage(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(CorruptFileError, match="not a readable video"):
        read_video(bad)


def test_real_clips_decode_at_native_size(real_clips):
    video = read_video(real_clips / "bikes.mp4", start=9.0, num_frames=10)
    assert video.frames.shape == (10, 272, 640, 3) and video.fps == 25.0
    with av.open(str(real_clips / "bikes.mp4")) as c:  # oracle: plain sequential decode
        oracle = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][225:235]
    assert np.array_equal(video.frames, np.stack(oracle))
    small = read_video(real_clips / "carphone_pristine.mp4", fps=29.97002997)
    assert small.frames.shape == (120, 144, 176, 3)


def test_tensor_conversion_round_trip():
    frames = np.random.default_rng(1).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = to_tensor(frames)
    assert x.shape == (3, 3, 5, 7) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x[1, 2, 3, 4] == pytest.approx(frames[2, 3, 4, 1] / 127.5 - 1)
    assert np.array_equal(to_uint8(x), frames)
    assert to_uint8(torch.full((3, 1, 1, 1), 5.0)).tolist() == [[[[255, 255, 255]]]]  # clamped


def test_video_writer_streams_chunks_and_equals_write_video(tmp_path):
    from chronotope.data import VideoWriter

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / "whole.mp4", frames, 8)
    with VideoWriter(tmp_path / "chunks.mp4", 8) as w:
        for i in range(0, 12, 5):
            w.write(frames[i : i + 5])
    a = read_video(tmp_path / "whole.mp4").frames.astype(float)
    b = read_video(tmp_path / "chunks.mp4").frames.astype(float)
    # x264's threaded rate control may pick slightly different quantizers run to run, so the
    # two encodes are compared for closeness, not bit equality
    assert a.shape == b.shape == frames.shape and np.abs(a - b).mean() < 3.0
    with VideoWriter(tmp_path / "chunks.gif", 8) as w:
        w.write(frames[:6])
        w.write(frames[6:])
    write_video(tmp_path / "whole.gif", frames, 8)
    assert np.array_equal(
        read_video(tmp_path / "chunks.gif").frames, read_video(tmp_path / "whole.gif").frames
    )


def test_video_writer_leaves_nothing_on_interrupt(tmp_path):
    from chronotope.data import VideoWriter

    frames = np.zeros((4, 16, 16, 3), np.uint8)
    try:
        with VideoWriter(tmp_path / "x.mp4", 8) as w:
            w.write(frames)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert list(tmp_path.iterdir()) == []


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    levels = np.arange(0, 256, 4, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(levels * 257).save(tmp_path / "deep.png")  # 16-bit gray
    Image.fromarray(np.dstack([levels.astype(np.uint8)] * 3)).save(tmp_path / "rgb.png")
    frames = read_video(tmp_path / "deep.png").frames
    assert frames.shape == (1, 8, 8, 3)
    assert np.array_equal(frames, read_video(tmp_path / "rgb.png").frames)


def test_write_to_an_existing_folder_is_a_usage_error(tmp_path):
    (tmp_path / "out.mp4").mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        write_video(tmp_path / "out.mp4", smooth_clip(n=2), fps=8)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_fit_frames_keeps_the_aspect_ratio_and_centers():
    from chronotope.data import fit_frames

    wide = np.zeros((32, 128, 3), np.uint8)
    wide[:, 48:80] = 255  # a white square band in the middle third-ish
    out = fit_frames(wide, 32, 32)  # the center 32x32 of a 4:1 frame: the band, not squeezed
    assert out.shape == (32, 32, 3) and out[:, 4:28].min() > 200
    clip = np.stack([wide, wide])
    assert fit_frames(clip, 64, 16).shape == (2, 16, 64, 3)
    assert fit_frames(clip, 128, 32) is clip  # already that size: untouched


_ENCODE_AFTER_WORK = """
import hashlib, sys
import numpy as np
import chronotope
from chronotope.data import write_video
pipe = chronotope.load_default()  # a generation first: it leaves the heap used
pipe.set_progress_bar_config(disable=True)
pipe("a blue square falls", num_frames=9, steps=4, seed=42)
rng = np.random.default_rng(0)
frames = np.zeros((9, 64, 64, 3), np.uint8)
for t in range(9):  # a square moving over a gradient: motion for x264's rate control to weigh
    frames[t, :, :, 2] = np.linspace(40, 200, 64, dtype=np.uint8)[:, None]
    frames[t, 20:34, 4 + 5 * t : 18 + 5 * t] = (30, 220, 90)
frames = np.clip(frames + rng.integers(0, 6, frames.shape), 0, 255).astype(np.uint8)
write_video(sys.argv[1], frames, 8.0)
print(hashlib.md5(open(sys.argv[1], "rb").read()).hexdigest())
"""


def test_mp4_bits_depend_on_the_frames_alone(tmp_path):
    """The same frames make the same mp4 in every process, also after other work used the heap
    (x264's macroblock tree read memory it had not written: files differed from run to run)."""
    import subprocess
    import sys

    digests = {
        subprocess.run(
            [sys.executable, "-c", _ENCODE_AFTER_WORK, str(tmp_path / f"{i}.mp4")],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for i in range(3)
    }  # fmt: skip
    assert len(digests) == 1
