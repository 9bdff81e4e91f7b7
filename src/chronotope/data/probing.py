"""`probe(path) -> VideoInfo`: size, frame count, fps and duration of a video or image file.

Probing never decodes more than one frame. It refuses a declared frame size above
`MAX_PIXELS` before any decoding (a 100000x100000 PNG header would otherwise allocate 30 GB),
trusts the container's frame count only after checking that the packets at its declared end
exist (a truncated "faststart" mp4 keeps a complete index for data that is gone), and falls
back to counting packets (demux, no decode) when the container has no frame count.
Anything unreadable raises `CorruptFileError` naming the reason.

This module imports only PyAV, Pillow and numpy (no torch) so the scan's probe workers start fast.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from chronotope.errors import CorruptFileError

# 8192x8192: twice 8K UHD; one RGB frame of that size is 200 MB.
MAX_PIXELS = 8192 * 8192

# Read through Pillow: stills, and the animated formats Pillow decodes with per-frame durations
# (FFmpeg cannot decode animated WebP).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"})
# Read through PyAV.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts"}
)
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    """What a file holds. A still image is a 1-frame video with `fps == 0` and `duration == 0`."""

    width: int
    height: int
    num_frames: int
    fps: float
    duration: float  # seconds
    is_image: bool

    def to_dict(self) -> dict:
        return asdict(self)


def check_pixels(width: int, height: int, path: str | os.PathLike) -> None:
    """Refuse a declared frame size before anything is decoded."""
    if width <= 0 or height <= 0:
        raise CorruptFileError(f"{path}: invalid frame size {width}x{height}")
    if width * height > MAX_PIXELS:
        raise CorruptFileError(
            f"{path}: declared size {width}x{height} exceeds the limit of {MAX_PIXELS} pixels"
        )


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video or image file; raise `CorruptFileError` with the reason if unreadable."""
    path = Path(path)
    check_regular_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _probe_image(path)
    return _probe_av(path)


def check_regular_file(path: Path) -> None:
    """A FIFO or device named `x.mp4` would block the decoder forever: refuse it up front."""
    if not path.exists():
        raise CorruptFileError(f"{path}: no such file")
    if not path.is_file():
        raise CorruptFileError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path}: empty file (0 bytes)")


def open_image(path: Path) -> Image.Image:
    """Open an image lazily (header only) and check its declared size before any decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as e:
        raise CorruptFileError(f"{path}: declared size is too large ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptFileError(f"{path}: not a readable image ({e})") from None
    check_pixels(*image.size, path)
    return image


# EXIF orientations that turn the stored image a quarter (5-8: width and height swap)
_QUARTER_TURN_ORIENTATIONS = (5, 6, 7, 8)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1: stored upright)."""
    return image.getexif().get(0x0112, 1)


def to_rgb(image: Image.Image) -> np.ndarray:
    """uint8 (H,W,3) of any Pillow mode, upright: an EXIF orientation (a phone's photo is stored
    sideways with a tag saying so) is applied as every viewer applies it. 16- and 32-bit integer
    gray (16-bit PNGs open as "I;16" or "I") is scaled from 0..65535; Pillow's own convert clips
    it to 0..255 (white)."""
    if _orientation(image) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I"):
        gray = np.asarray(image).astype(np.float64) / 257.0
        gray = np.clip(gray, 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"))


def display_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of an image as shown, its EXIF orientation applied (header only)."""
    w, h = image.size
    return (h, w) if _orientation(image) in _QUARTER_TURN_ORIENTATIONS else (w, h)


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counterclockwise quarter turns that show a decoded video frame upright. Phones store
    portrait video as landscape frames plus a display matrix, which players and ffmpeg's
    autorotate apply; PyAV (>= 14) exposes its angle as `frame.rotation`. An angle that is no
    multiple of 90 degrees is ignored, as ffmpeg ignores it."""
    angle = float(getattr(frame, "rotation", 0) or 0)
    k = round(angle / 90)
    return k % 4 if abs(angle - 90 * k) < 1 else 0


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """uint8 (H,W,3) of a decoded video frame as it is displayed (its rotation applied)."""
    rgb = frame.to_ndarray(format="rgb24")
    k = quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def image_durations(image: Image.Image, path: Path) -> list[Fraction]:
    """Per-frame durations in exact seconds of an animated image (decodes every frame once)."""
    durations = []
    try:
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            image.load()
            # GIF players treat a 0 delay as 100 ms; so do we.
            durations.append(Fraction(round(image.info.get("duration") or 100), 1000))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptFileError(f"{path}: image data is truncated or corrupt ({e})") from None
    return durations


def _probe_image(path: Path) -> VideoInfo:
    with open_image(path) as image:
        width, height = display_size(image)
        if getattr(image, "n_frames", 1) <= 1:
            try:
                image.load()  # decodes the one frame: catches a truncated file
            except (OSError, SyntaxError, ValueError) as e:
                raise CorruptFileError(
                    f"{path}: image data is truncated or corrupt ({e})"
                ) from None
            return VideoInfo(width, height, 1, 0.0, 0.0, is_image=True)
        durations = image_durations(image, path)
    total = sum(durations)
    fps = len(durations) / total
    return VideoInfo(width, height, len(durations), float(fps), float(total), is_image=False)


def open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{path}: not a readable video ({_reason(e)})") from None
    if not container.streams.video:
        container.close()
        raise CorruptFileError(f"{path}: no video stream")
    return container


def stream_fps(stream: av.video.stream.VideoStream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def _probe_av(path: Path) -> VideoInfo:
    with open_container(path) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        check_pixels(width, height, path)
        if quarter_turns(_decode_first_frame(container, stream, path)) % 2:
            width, height = height, width  # stored sideways, shown upright (frame_to_rgb)
        num_frames = stream.frames
        if num_frames > 0:
            _check_tail(container, stream, path)
    if num_frames <= 0:
        num_frames = _count_packets(path)
    with open_container(path) as container:
        stream = container.streams.video[0]
        fps, duration = _timing(container, stream, num_frames)
    return VideoInfo(width, height, num_frames, float(fps), float(duration), is_image=False)


def _decode_first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as e:
        raise CorruptFileError(f"{path}: cannot decode the first frame ({_reason(e)})") from None
    raise CorruptFileError(f"{path}: no decodable frame")


def _check_tail(container, stream, path: Path) -> None:
    """The index may promise packets that a truncated file no longer holds: demux the last GOP."""
    if not stream.duration or not stream.time_base:
        return
    fps = stream_fps(stream)
    if not fps:
        return
    frame_pts = 1 / (fps * stream.time_base)  # pts units per frame
    end_pts = (stream.start_time or 0) + stream.duration
    size = path.stat().st_size
    reach = None  # end time (pts units) of the latest packet found
    try:
        container.seek(max(0, int(end_pts - 2 * frame_pts)), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet
                continue
            if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > size:
                raise CorruptFileError(f"{path}: truncated (packet past the end of the file)")
            if packet.pts is not None:
                # the packet's own duration, so a long last frame (variable rate) still counts
                end = packet.pts + (packet.duration or frame_pts)
                reach = end if reach is None else max(reach, end)
    except av.FFmpegError as e:
        raise CorruptFileError(
            f"{path}: truncated or corrupt near the end ({_reason(e)})"
        ) from None
    if reach is None or reach + frame_pts / 2 < end_pts:
        raise CorruptFileError(f"{path}: truncated (the index promises frames the file lacks)")


def _count_packets(path: Path) -> int:
    """Frame count when the container has none: demux every packet, decode nothing."""
    with open_container(path) as container:
        stream = container.streams.video[0]
        try:
            count = sum(1 for p in container.demux(stream) if p.size > 0)
        except av.FFmpegError as e:
            raise CorruptFileError(f"{path}: corrupt packet stream ({_reason(e)})") from None
    if count == 0:
        raise CorruptFileError(f"{path}: no video packets")
    return count


def _timing(container, stream, num_frames: int) -> tuple[Fraction, Fraction]:
    """(fps, duration) from stream metadata, else container duration, else each other."""
    duration = None
    if stream.duration and stream.time_base:
        duration = stream.duration * stream.time_base
    elif container.duration:
        duration = Fraction(container.duration, av.time_base)
    fps = stream_fps(stream)
    if fps is None and duration:
        fps = num_frames / duration
    if fps is None:
        raise CorruptFileError(f"{container.name}: no frame rate and no duration")
    if not duration:
        duration = num_frames / fps
    return fps, duration


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
