"""Helpers for the data tests: write good and deliberately broken media files."""

import struct
import zlib
from pathlib import Path

import av
import numpy as np


def png_with_declared_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims width x height: decoding it would allocate w*h*3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def write_mp4_plain(
    path: Path, frames: np.ndarray, fps: int, container_options=None, rotation: int = 0
) -> Path:
    """H.264 in a container written by PyAV directly (index at the end unless told otherwise);
    `rotation`: a display matrix turning the frames that many degrees counterclockwise when
    shown (as a phone records portrait video)."""
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if rotation:
            s.set_display_rotation(rotation)
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def clip(n: int, height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


GOOD = {"good.mp4", "anim.gif", "still.png", "one_frame.mp4"}
BAD = {"zero.mp4", "cut_faststart.mp4", "cut_plain.mp4", "text.mp4", "huge.png"}
