"""A deterministic engine (no model, numpy only) and an in-thread server for the serve tests."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time

import numpy as np

from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.tasks.request import GenerationRequest


def prompt_color(prompt: str) -> np.ndarray:
    """A color that is a pure function of the prompt, so tests can check which prompt ran."""
    return np.frombuffer(hashlib.sha256(prompt.encode()).digest()[:3], dtype=np.uint8).copy()


class FakeEngine:
    """Renders a prompt-colored background with a moving white square; sleeps per step."""

    name = "fake"
    default_size = "64x48"

    def __init__(self, *, fps: float = 8.0, steps: int = 8, step_sleep: float = 0.03):
        self.fps, self.steps, self.step_sleep = fps, steps, step_sleep
        self.hold = threading.Event()  # cleared: generate() waits (tests of a busy worker)
        self.hold.set()
        self.calls: list[GenerationRequest] = []
        self.models: list[str | None] = []  # the `model` of each call (a LoRA adapter's name)

    def validate(self, r: GenerationRequest, seconds: float) -> None:
        for name, v in (("width", r.width), ("height", r.height)):
            if v % 16 or not 16 <= v <= 512:
                raise UsageError(
                    f"{name} must be a multiple of 16 in [16, 512], got {v}", param="size"
                )
        if seconds > 12:
            raise UsageError(f"at most 12 seconds, got {seconds:g}", param="seconds")
        if r.width * r.height * seconds * self.fps > 256 * 256 * 64:
            raise MemoryBudgetError("this request needs more memory than the budget", param="size")

    def generate(self, r: GenerationRequest, progress, model=None) -> tuple[np.ndarray, float]:
        self.calls.append(r)
        self.models.append(model)
        for step in range(self.steps):
            self.hold.wait()
            time.sleep(self.step_sleep)
            progress(step + 1, self.steps)
        t = len(r.video) if r.task == "restyle" else max(1, round(r.seconds * self.fps))
        frames = np.empty((t, r.height, r.width, 3), dtype=np.uint8)
        frames[:] = prompt_color(r.prompt)
        for i in range(t):  # an 8 px square moving right one pixel per frame
            x = i % max(1, r.width - 8)
            frames[i, 4:12, x : x + 8] = 255
        if r.task == "image_to_video":
            frames[0] = r.image
        elif r.task == "restyle":
            src = r.video[np.linspace(0, len(r.video) - 1, t).round().astype(int)]
            s = r.strength
            frames = ((1 - s) * src + s * frames.astype(np.float32)).round().astype(np.uint8)
        elif r.task == "extend_forward":
            frames = np.concatenate([r.video, frames])
        return frames, self.fps


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with contextlib.closing(free_socket()) as s:
        return s.getsockname()[1]


@contextlib.contextmanager
def server_in_thread(config, engine):
    """uvicorn on a pre-bound loopback socket in a thread; yields the base URL."""
    import uvicorn

    from chronotope.serve import create_app

    sock = free_socket()
    app = create_app(config, engine)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        if hasattr(engine, "hold"):
            engine.hold.set()  # a job blocked by a test must not hold the shutdown
        server.should_exit = True
        thread.join(15)
        sock.close()
