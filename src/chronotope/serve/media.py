"""Files the server reads and writes: mp4 (PyAV), thumbnails, spritesheets, uploads.

Outputs go through `chronotope.data.write_video` and uploads through `chronotope.data.read_video`
(one decoder for the CLI, the library and the server). Uploads are untrusted: their declared
frame size (and frame count, where the header has one) is checked before any pixel is decoded,
so a decompression bomb costs a header read, not gigabytes.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from chronotope.data.probing import open_container, to_rgb
from chronotope.errors import CorruptFileError, UsageError

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    """H.264 yuv420p with faststart (browsers play it while downloading), written atomically."""
    from chronotope.data import write_video  # imports torch: only when a job finishes

    write_video(path, frames, fps)


def read_video(
    path: Path, *, max_pixels: int | None = None, max_frames: int | None = None
) -> tuple[np.ndarray, float]:
    """Decode an upload to uint8 (T,H,W,3), upright, and its fps, with the decoder the CLI and
    the library use (`chronotope.data.read_video`). The declared frame size and count are
    checked on the header first; errors never name the server's temporary file."""
    from chronotope.data import read_video as decode  # imports torch: only for video uploads

    too_long = UsageError(f"video has more than {max_frames} frames", param="video")
    try:
        with open_container(path) as container:  # the header only
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            declared = stream.frames or 0
        if max_pixels is not None and w * h > max_pixels:
            raise UsageError(
                f"video is {w}x{h}; at most {max_pixels} pixels per frame", param="video"
            )
        if max_frames is not None and declared > max_frames:
            raise too_long
        # one frame over the bound is enough to know it is too long: decoding stops there
        video = decode(path, max_frames=None if max_frames is None else max_frames + 1)
    except CorruptFileError as e:
        # the reason may quote the server's temporary file (FFmpeg's messages do): never sent
        reason = str(e).removeprefix(f"{path}: ").replace(str(path), "the file")
        reason = reason.replace(Path(path).name, "the file")
        raise UsageError(f"cannot decode the video ({reason})", param="video") from None
    if max_frames is not None and len(video.frames) > max_frames:
        raise too_long
    return video.frames, video.fps


def decode_image(data: bytes, *, max_pixels: int, param: str = "input_reference") -> np.ndarray:
    """Decode an uploaded PNG/JPEG/WEBP to uint8 (H,W,3), refusing bombs before decoding."""
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # reads the header only
    except Image.DecompressionBombError:  # PIL's own guard fires on the header for huge ones
        raise UsageError(
            f"image declares more than {max_pixels} pixels; refused before decoding", param=param
        ) from None
    except Exception:
        raise UsageError(f"{param} must be a PNG, JPEG or WEBP image", param=param) from None
    w, h = img.size
    if w * h > max_pixels or w < 1 or h < 1:
        raise UsageError(
            f"image declares {w}x{h} pixels; at most {max_pixels} are accepted; refused before "
            "decoding",
            param=param,
        )
    try:
        return to_rgb(img)  # decodes now, known to be small
    except Exception:
        raise UsageError(f"{param} is a corrupt image", param=param) from None


def write_thumbnail(path: Path, frames: np.ndarray) -> None:
    """The middle frame as WEBP at full size (what OpenAI's `thumbnail` variant returned)."""
    tmp = _tmp(path)
    Image.fromarray(frames[len(frames) // 2]).save(tmp, format="WEBP", quality=90)
    os.replace(tmp, path)


def write_spritesheet(path: Path, frames: np.ndarray, *, max_tiles: int = 16) -> None:
    """Up to `max_tiles` evenly spaced frames in a near-square grid, as JPEG."""
    t, h, w, _ = frames.shape
    picks = np.linspace(0, t - 1, min(t, max_tiles)).round().astype(int)
    cols = math.ceil(math.sqrt(len(picks)))
    rows = math.ceil(len(picks) / cols)
    sheet = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = frames[i]
    tmp = _tmp(path)
    Image.fromarray(sheet).save(tmp, format="JPEG", quality=85)
    os.replace(tmp, path)


def write_image(path: Path, image: np.ndarray) -> None:
    tmp = _tmp(path)
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)


def read_image(path: Path) -> np.ndarray:
    with Image.open(path, formats=("PNG",)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def at_fps(video: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """A clip (T,H,W,3) decoded at `src_fps` as frames at `fps`: picked, not blended (an engine
    takes a given video at its own frame rate)."""
    if abs(src_fps - fps) < 1e-3:
        return video
    n = max(1, round(len(video) * fps / src_fps))
    picks = np.minimum((np.arange(n) * src_fps / fps).round().astype(int), len(video) - 1)
    return video[picks]
