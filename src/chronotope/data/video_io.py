"""Decode and encode videos at native size (PyAV for video containers, Pillow for images).

`read_video` seeks to the keyframe before `start`, decodes forward and stops as soon as it has
the frames asked for, so a few frames from the end of a long file cost one GOP, not the file.
Resampling to another fps picks, for each target timestamp `start + j / fps`, the source frame
whose timestamp is nearest (ties go to the earlier frame); nothing is interpolated.

`write_video` writes to a temporary name in the target folder and renames it into place, so an
interrupted write never leaves a partial file under the final name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from einops import rearrange
from PIL import Image

from chronotope.data.probing import (
    IMAGE_SUFFIXES,
    check_pixels,
    check_regular_file,
    frame_to_rgb,
    image_durations,
    open_container,
    open_image,
    stream_fps,
    to_rgb,
)
from chronotope.errors import CorruptFileError, UsageError

WRITE_SUFFIXES = (".mp4", ".gif", ".webp", ".png", ".jpg", ".jpeg")
STILL_SUFFIXES = (".png", ".jpg", ".jpeg")  # one frame each
MP4_CRF = 18  # visually near-lossless H.264; the default 23 smears the toy world's thin edges
GIF_MAX_FPS = 50  # GIF delays are centiseconds and players clamp delays below 2 cs


@dataclass
class Video:
    """Decoded frames at native size: `frames` uint8 (T,H,W,3); a still image has `fps == 0`."""

    frames: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]


class _Frame:
    """A decoded frame converted to RGB only if it is picked (most skipped frames never are)."""

    def __init__(self, time: Fraction, source) -> None:
        self.time = time
        self._source = source
        self._array: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self._array is None:
            src = self._source
            self._array = src if isinstance(src, np.ndarray) else frame_to_rgb(src)
        return self._array


# ---------------------------------------------------------------- reading


def read_video(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    start: float = 0.0,
    num_frames: int | None = None,
    max_frames: int | None = None,
) -> Video:
    """Read frames from `start` seconds: exactly `num_frames` (error if the clip is shorter),
    at most `max_frames`, or all that remain; at native fps or resampled to `fps`. All of them
    at once: to hold one at a time, iterate `VideoFrames`."""
    frames = VideoFrames(path, fps=fps, start=start, num_frames=num_frames, max_frames=max_frames)
    return Video(frames=np.stack(list(frames)), fps=frames.fps)


class VideoFrames:
    """A clip decoded as it is iterated: uint8 (H,W,3) frames one at a time (memory: one frame
    and the decoder's own few, whatever the clip's length), with `read_video`'s arguments and
    checks. `fps` (0 for a still image) is known before anything is decoded; an error found
    while decoding (no frame at all, fewer than `num_frames`) is raised when iteration ends."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float | None = None,
        start: float = 0.0,
        num_frames: int | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.limit = _check_read_args(fps, start, num_frames, max_frames)
        check_regular_file(self.path)
        self.start, self.num_frames, self.target_fps = start, num_frames, fps
        self.is_image = self.path.suffix.lower() in IMAGE_SUFFIXES
        self.native_fps = (
            _native_fps_pillow(self.path) if self.is_image else _native_fps_av(self.path)
        )
        self.fps = float(fps) if fps is not None else float(self.native_fps)

    def __iter__(self) -> Iterator[np.ndarray]:
        args = dict(fps=self.target_fps, start=self.start, limit=self.limit)
        frames = _iter_pillow(self.path, **args) if self.is_image else _iter_av(self.path, **args)
        count = 0
        for frame in frames:
            count += 1
            yield frame
        self._check_count(count)

    def chunks(self, size: int, *, first: int = 1) -> Iterator[np.ndarray]:
        """uint8 (t,H,W,3) groups of frames: `first` frames, then `size` at a time (the last
        group as long as what is left), e.g. the time chunks a causal VAE takes."""
        group: list[np.ndarray] = []
        want = first
        for frame in self:
            group.append(frame)
            if len(group) == want:
                yield np.stack(group)
                group, want = [], size
        if group:
            yield np.stack(group)

    def _check_count(self, count: int) -> None:
        path, start = self.path, self.start
        if count == 0 and start == 0:
            raise CorruptFileError(f"{path}: no decodable frames")
        if count == 0:
            raise UsageError(f"{path}: start={start}s is past the end of the clip", param="start")
        if self.num_frames is not None and count < self.num_frames:
            raise UsageError(
                f"{path}: only {count} frames from start={start}s; num_frames must be in "
                f"[1, {count}]",
                param="num_frames",
            )


def _check_read_args(fps, start, num_frames, max_frames) -> int | None:
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be > 0, got {fps}", param="fps")
    if not (math.isfinite(start) and start >= 0):
        raise UsageError(f"start must be >= 0 seconds, got {start}", param="start")
    for name, value in (("num_frames", num_frames), ("max_frames", max_frames)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be >= 1, got {value}", param=name)
    if num_frames is not None and max_frames is not None and num_frames > max_frames:
        raise UsageError(f"num_frames must be in [1, max_frames={max_frames}], got {num_frames}")
    return num_frames if num_frames is not None else max_frames


def _native_fps_av(path: Path) -> Fraction:
    with open_container(path) as container:
        stream = container.streams.video[0]
        check_pixels(stream.codec_context.width, stream.codec_context.height, path)
        native = stream_fps(stream)
    if native is None:
        raise CorruptFileError(f"{path}: no frame rate")
    return native


def _iter_av(path: Path, *, fps, start, limit) -> Iterator[np.ndarray]:
    native = _native_fps_av(path)
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads
        try:
            yield from _select(
                _decode_from(container, stream, start, native), fps, start, limit, 1 / native
            )
        except av.FFmpegError as e:
            raise CorruptFileError(f"{path}: decode failed ({e})") from None


def _decode_from(container, stream, start: float, native: Fraction) -> Iterator[_Frame]:
    """Frames with their time (seconds from the first frame), from the keyframe before `start`."""
    origin = stream.start_time or 0
    tb = stream.time_base
    if start > 0 and tb:
        # backward=True lands on the keyframe at or before the target; decode forward from it
        container.seek(origin + int(Fraction(start) / tb), stream=stream, backward=True)
    for i, frame in enumerate(container.decode(stream)):
        # streams without timestamps (raw H.264) fall back to the frame index
        time = (frame.pts - origin) * tb if frame.pts is not None and tb else i / native
        yield _Frame(Fraction(time), frame)


def _native_fps_pillow(path: Path) -> Fraction:
    with open_image(path) as image:
        if getattr(image, "n_frames", 1) <= 1:
            return Fraction(0)
        durations = image_durations(image, path)
    return len(durations) / sum(durations)


def _iter_pillow(path: Path, *, fps, start, limit) -> Iterator[np.ndarray]:
    with open_image(path) as image:
        n = getattr(image, "n_frames", 1)
        if n <= 1:
            try:
                frame = to_rgb(image)
            except (OSError, SyntaxError, ValueError) as e:
                raise CorruptFileError(
                    f"{path}: image data is truncated or corrupt ({e})"
                ) from None
            if start == 0:
                yield frame
            return
        durations = image_durations(image, path)
        native = len(durations) / sum(durations)
        yield from _select(_pillow_frames(image, durations, path), fps, start, limit, 1 / native)


def _pillow_frames(image: Image.Image, durations: list[float], path: Path) -> Iterator[_Frame]:
    time = Fraction(0)
    for i, duration in enumerate(durations):
        image.seek(i)
        try:
            yield _Frame(time, to_rgb(image))
        except (OSError, SyntaxError, ValueError) as e:
            raise CorruptFileError(f"{path}: frame {i} is corrupt ({e})") from None
        time += duration


def _select(
    frames: Iterable[_Frame], fps, start: float, limit: int | None, frame_time: Fraction
) -> Iterator[np.ndarray]:
    """Pick frames from a time-ordered stream; stop pulling frames once `limit` are picked."""
    start = Fraction(start)
    count = 0
    if fps is None:
        # native rate: every frame from the one nearest `start` on
        for frame in frames:
            if frame.time >= start - frame_time / 2:
                yield frame.array()
                count += 1
                if count == limit:
                    return
        return
    step = 1 / Fraction(fps).limit_denominator(1_000_000)
    target, prev = start, None
    for frame in frames:
        while target <= frame.time:  # `frame` is the first at/after target: it or prev is nearest
            near_prev = prev is not None and target - prev.time <= frame.time - target
            yield (prev if near_prev else frame).array()
            count += 1
            if count == limit:
                return
            target = start + count * step
        prev = frame
    # the last frame covers [its time, its time + one frame): targets inside it still pick it
    while prev is not None and target < prev.time + frame_time:
        yield prev.array()
        count += 1
        if count == limit:
            return
        target = start + count * step


# ---------------------------------------------------------------- writing


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 (T,H,W,3) frames as `.mp4` (H.264 yuv420p), `.gif`, `.webp`, or one frame as
    `.png` / `.jpg`.

    H.264 4:2:0 needs even sizes (the SPS can only crop whole chroma samples): an odd width or
    height is padded by repeating the last column/row, so the mp4 is up to 1 px larger than
    `frames`. GIF and WebP encoders merge identical consecutive frames into one longer frame
    (timing is kept: read them back with `fps=` to get the frame count back).
    """
    path = Path(path)
    frames = _check_write_args(path, frames, fps)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        _WRITERS[path.suffix.lower()](tmp, frames, fps)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:  # also on KeyboardInterrupt: no partial file is left behind
        tmp.unlink(missing_ok=True)
    return path


def _check_write_args(path: Path, frames, fps) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise UsageError(f"{path}: output format must be one of {', '.join(WRITE_SUFFIXES)}")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: output folder {path.parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name to write")
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise UsageError(f"frames must be uint8 (T,H,W,3), got {frames.dtype} {frames.shape}")
    if min(frames.shape[:3]) < 1:
        raise UsageError(f"frames must have T,H,W >= 1, got {frames.shape}")
    if not (math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be > 0, got {fps}", param="fps")
    if suffix in STILL_SUFFIXES and len(frames) > 1:
        raise UsageError(
            f"{path}: a {suffix} holds 1 frame, got {len(frames)}; use .mp4/.gif/.webp"
        )
    if suffix == ".gif" and fps > GIF_MAX_FPS:
        raise UsageError(f"{path}: gif fps must be in (0, {GIF_MAX_FPS}], got {fps}", param="fps")
    return np.ascontiguousarray(frames)


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    with _Mp4Stream(path, fps) as out:
        out.write(frames)


class _Mp4Stream:
    """H.264 encoder fed chunk by chunk: memory holds one chunk, whatever the clip's length."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        self.rate = Fraction(fps).limit_denominator(1001)  # 29.97002997 -> 30000/1001
        self.container = av.open(str(path), "w", options={"movflags": "+faststart"})
        self.stream = None
        self.count = 0

    def _open_stream(self, h: int, w: int) -> None:
        self.stream = self.container.add_stream("libx264", rate=self.rate)
        self.stream.width, self.stream.height = w + w % 2, h + h % 2
        self.stream.pix_fmt = "yuv420p"
        # a keyframe every 2 s bounds what a seek decodes (x264's default is every 250 frames)
        self.stream.codec_context.gop_size = max(1, round(2 * self.fps))
        # x264's macroblock tree (its rate control's look at future frames) reads memory it did
        # not write on the first encode of a process whose heap was used before (by the
        # model): the same frames became different files, 22 levels apart after decoding.
        # Without it the bits depend on the frames alone; files are larger at the same CRF (100
        # frames: bikes.mp4 392 kB against 317, carphone 93 against 92)
        self.stream.options = {"crf": str(MP4_CRF), "preset": "fast", "x264-params": "mbtree=0"}

    def write(self, frames: np.ndarray) -> None:
        # (T,H,W,3) -> even H,W by repeating the last row/column (see write_video)
        _, h, w, _ = frames.shape
        if self.stream is None:
            self._open_stream(h, w)
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = self.count
            frame.time_base = 1 / self.rate
            self.container.mux(self.stream.encode(frame))
            self.count += 1

    def close(self) -> None:
        if self.stream is not None:
            self.container.mux(self.stream.encode())
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoWriter:
    """Write a video chunk by chunk: `with VideoWriter(path, fps) as w: w.write(frames)`.

    mp4 is encoded as it arrives (memory flat in length); gif/webp/png are collected and
    written at the end. The file appears under `path` only when the block exits normally: an
    exception or Ctrl-C leaves no partial file under the final name.
    """

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path = Path(path)
        _check_write_args(self.path, np.zeros((1, 2, 2, 3), np.uint8), fps)
        self.fps = fps
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")
        self.mp4 = self.path.suffix.lower() == ".mp4"
        self.chunks: list[np.ndarray] = []
        self.frames = 0
        self._encoder = None

    def __enter__(self) -> VideoWriter:
        if self.mp4:
            self._encoder = _Mp4Stream(self.tmp, self.fps)
        return self

    def write(self, frames: np.ndarray) -> None:
        frames = _check_write_args(self.path.with_suffix(".mp4"), frames, self.fps)
        self.frames += len(frames)
        if self._encoder is not None:
            self._encoder.write(frames)
        else:
            self.chunks.append(frames)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.frames == 0:
                raise UsageError(f"{self.path}: no frames were written")
            if self._encoder is not None:
                self._encoder.close()
            if exc_type is None:
                if not self.mp4:
                    frames = np.concatenate(self.chunks)
                    _check_write_args(self.path, frames, self.fps)
                    _WRITERS[self.path.suffix.lower()](self.tmp, frames, self.fps)
                with open(self.tmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


def _pillow_images(frames: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(f) for f in frames]


def _durations_ms(n: int, fps: float, unit_ms: int) -> list[int]:
    """Per-frame delays in whole `unit_ms` that add up to exact time (8 fps gif: 120,130,...)."""
    ends = [round((i + 1) * 1000 / fps / unit_ms) for i in range(n)]
    return [max(1, e - s) * unit_ms for s, e in zip([0, *ends[:-1]], ends)]


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    images = _pillow_images(frames)
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=_durations_ms(len(images), fps, unit_ms=10),
        loop=0,
    )


def _write_webp(path: Path, frames: np.ndarray, fps: float) -> None:
    images = _pillow_images(frames)
    images[0].save(
        path,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=_durations_ms(len(images), fps, unit_ms=1),
        loop=0,
        quality=90,
    )


def _write_png(path: Path, frames: np.ndarray, fps: float) -> None:
    Image.fromarray(frames[0]).save(path, format="PNG")


def _write_jpeg(path: Path, frames: np.ndarray, fps: float) -> None:
    Image.fromarray(frames[0]).save(path, format="JPEG", quality=95)


_WRITERS = {
    ".mp4": _write_mp4,
    ".gif": _write_gif,
    ".webp": _write_webp,
    ".png": _write_png,
    ".jpg": _write_jpeg,
    ".jpeg": _write_jpeg,
}


# ---------------------------------------------------------------- tensors


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T,H,W,3) -> float32 (3,T,H,W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = rearrange(x, "t h w c -> c t h w")
    return x.float() / 127.5 - 1.0


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """float (3,T,H,W) in [-1, 1] -> uint8 (T,H,W,3), clamped and rounded."""
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(x, "c t h w -> t h w c").cpu().numpy()


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames (H,W,3) or (T,H,W,3) uint8 at `width` x `height`: scaled to cover it with the
    aspect ratio kept (Lanczos), then center-cropped. Frames already at that size come back
    as they are."""
    if frames.shape[-3:-1] == (height, width):
        return frames
    from PIL import Image

    h, w = frames.shape[-3:-1]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    left, top = (sw - width) // 2, (sh - height) // 2

    def one(f: np.ndarray) -> np.ndarray:
        img = Image.fromarray(f).resize((sw, sh), Image.Resampling.LANCZOS)
        return np.asarray(img.crop((left, top, left + width, top + height)), dtype=np.uint8)

    return one(frames) if frames.ndim == 3 else np.stack([one(f) for f in frames])
