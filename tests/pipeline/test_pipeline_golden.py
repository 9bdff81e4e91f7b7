"""Golden outputs: one call per task through the bundled model, fixed seeds, fp32, few steps.

The SHA-256 of every output's frames (and the call's metadata, but its wall time) is kept in
`golden.json`; a refactor must leave every one of them as it was (STYLE.md, habit 13). The
condition clips are drawn here with numpy (no dependency on the world's renderer or captions)
and the prompts are literal strings.

Record (only when a change is meant to change outputs, and say so in its commit):
    CHRONOTOPE_PRECISION=fp32 python tests/pipeline/test_pipeline_golden.py --record
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).with_name("golden.json")
STEPS = 4


def _clip(seed: int, num_frames: int, width: int = 64, height: int = 64) -> np.ndarray:
    """(T,H,W,3) uint8: a disc of a seeded color moving in a straight line over a seeded
    background (a plain numpy drawing, the same on every machine)."""
    rng = np.random.default_rng(seed)
    background, color = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    x0, y0 = rng.uniform(0.2, 0.8, 2) * (width, height)
    vx, vy = rng.uniform(-1.5, 1.5, 2)
    yy, xx = np.mgrid[:height, :width]
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        disc = (xx - x0 - vx * t) ** 2 + (yy - y0 - vy * t) ** 2 < (height / 6) ** 2
        frames[t] = np.where(disc[..., None], color, background)
    return frames


def _cases() -> dict[str, dict]:
    """name -> keyword arguments of one pipeline call (seed and steps added by `_run`)."""
    clip, other, scene = _clip(1, 9), _clip(2, 9), _clip(3, 9)
    scene[:] = scene[:, :1, :1]  # another scene: one color (a connect across it dissolves)
    red = "a red circle moves right"
    return {
        "text_to_video_16x9": dict(prompt=red, width=128, height=72, num_frames=9),
        "text_to_video_9x16": dict(
            prompt="a blue square falls", width=72, height=128, num_frames=9
        ),
        "text_to_video_options": dict(
            prompt=red,
            num_frames=9,
            guidance=3.0,
            early_guidance=2.0,
            solver="heun",
            negative_prompt="a green triangle",
        ),  # fmt: skip
        "text_to_image": dict(prompt="a yellow star", num_frames=1),
        "image_to_video": dict(prompt=red, image=clip[0], num_frames=9),
        "last_image": dict(prompt=red, last_image=clip[-1], num_frames=9),
        "first_and_last_image": dict(prompt=red, image=clip[0], last_image=clip[-1], num_frames=9),
        "extend_forward": dict(prompt=red, video=clip, extend="forward", num_frames=8),
        "extend_backward": dict(prompt=red, video=clip, extend="backward", num_frames=8),
        "connect": dict(prompt=red, connect=(clip, other), num_frames=8, transition="bridge"),
        "connect_dissolve": dict(prompt=red, connect=(clip, scene), num_frames=8),
        "loop": dict(prompt=red, loop=True, num_frames=8),
        "loop_of_image": dict(prompt=red, image=clip[0], loop=True, num_frames=9),
        "restyle": dict(prompt="a green circle moves right", video=clip, strength=0.6),
        "multi_shot": dict(prompt=[red, "a blue square falls"], shot_seconds=1.125),
        "long_video": dict(prompt=red, num_frames=41, candidates=2),
        "long_video_streamed": dict(prompt=red, num_frames=41, stream=True),
    }


def _digest(frames: np.ndarray) -> str:
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    return hashlib.sha256(str(frames.shape).encode() + frames.tobytes()).hexdigest()


def _run(pipe, kwargs: dict) -> dict:
    kwargs = dict(kwargs)
    sunk: list[np.ndarray] = []
    if kwargs.pop("stream", False):
        kwargs["frame_sink"] = sunk.append
    out = pipe(kwargs.pop("prompt"), seed=7, steps=STEPS, **kwargs)
    frames = np.concatenate(sunk) if sunk else out.frames
    meta = {k: v for k, v in out.metadata.items() if k not in ("wall_seconds", "task")}
    return {"sha256": _digest(frames), "shape": list(frames.shape), "metadata": meta}


def _outputs() -> dict[str, dict]:
    from chronotope.pipeline.loading import load_pipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a reduction's order may depend on the thread count
    try:
        pipe = load_pipeline()
        pipe.set_progress_bar_config(disable=True)
        return {name: _run(pipe, kwargs) for name, kwargs in _cases().items()}
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def outputs(monkeypatch_module):
    return _outputs()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHRONOTOPE_PRECISION", "fp32")  # bf16 kernels differ between CPUs
        yield mp


@pytest.mark.parametrize("name", sorted(_cases()))
def test_golden_output(outputs, name):
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(_cases())
    assert outputs[name] == golden[name]


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: CHRONOTOPE_PRECISION=fp32 python {sys.argv[0]} --record")
    import os

    os.environ["CHRONOTOPE_PRECISION"] = "fp32"
    GOLDEN.write_text(json.dumps(_outputs(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
