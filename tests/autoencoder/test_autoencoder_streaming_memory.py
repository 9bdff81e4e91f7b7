"""A streamed encode holds memory flat in the clip's length: peak RSS measured in a subprocess.

A clip file of N and of 4N frames is decoded frame by frame (`VideoFrames`) and encoded in
time chunks (`encode_stream`, under `autocast()` as every caller runs it) by a fresh process;
only the latent is kept. The extra 3N frames are 21 MB as uint8 at 256x256 and 85 MB as float:
a path that held the clip in either form would grow by at least that much. Streamed, the peaks
measured here were 412-414 MB for N and 414-417 MB for 4N (and 416 MB for 8N): the latent grows
by 0.3 MB and the rest is noise of the allocator, kept small by `return_freed_memory` as every
entry point does. The bound, 10 MB (half the held uint8 frames), leaves room for that noise and
none for a held clip. About 10 s of CPU (two processes importing torch).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from chronotope.data import write_video

SIZE, SHORT, LONG = 256, 37, 145  # frames: 1 + 9*4 and 1 + 36*4

SCRIPT = """
import json, resource, sys, torch
from chronotope.autoencoder import CausalVAE
from chronotope.data import VideoFrames, to_tensor
from chronotope.utils.memory import return_freed_memory
from chronotope.utils.precision import autocast
return_freed_memory()
torch.manual_seed(0)
vae = CausalVAE.from_preset("tiny").eval()
with torch.no_grad(), autocast():
    parts = (to_tensor(c)[None] for c in VideoFrames(sys.argv[1]).chunks(4))
    latent = torch.cat([mean for mean, _ in vae.encode_stream(parts, chunk_frames=4)], dim=2)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak, "latent_frames": latent.shape[2]}))
"""


def _clip(path, frames: int) -> None:
    """Moving gradients and stripes: content that changes every frame, cheap to encode."""
    t = np.arange(frames)[:, None, None]
    y, x = np.mgrid[:SIZE, :SIZE]
    r = (x + 3 * t) % SIZE * 255 // SIZE
    g = (y + 2 * t) % SIZE * 255 // SIZE
    b = ((x + y) // 8 + t) % 2 * 200
    write_video(path, np.stack([r, g, b], -1).astype(np.uint8), 25.0)


def _peak(path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_streamed_encode_memory_is_flat_in_clip_length(tmp_path):
    _clip(tmp_path / "short.mp4", SHORT)
    _clip(tmp_path / "long.mp4", LONG)
    short, long = _peak(tmp_path / "short.mp4"), _peak(tmp_path / "long.mp4")
    assert (short["latent_frames"], long["latent_frames"]) == (10, 37)  # the whole clip ran
    held_uint8_mb = (LONG - SHORT) * SIZE * SIZE * 3 / 2**20  # 21 MB
    assert long["peak_mb"] - short["peak_mb"] < min(10.0, held_uint8_mb / 2), (short, long)
