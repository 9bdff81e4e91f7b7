"""How long a generation call takes on this machine, told before anything runs.

Calibration, once per machine and model config: the transformer's forward timed at four
packings (128 tokens; 8 segments of 128; 1024 tokens; 4096 tokens) gives

    seconds = a + b * tokens + c * sum(segment length ** 2)      (attention: per segment, n^2)

fitted to the four times by least squares on their relative errors, every coefficient >= 0.
The 4096-token point is where attention is most of a forward (about 90% here), so c is read
from a time of seconds rather than from the difference of two short ones: with only points up
to 1024 tokens, c came out up to 4x too large on a machine with other work, and a 1920x1080
clip (40,800 tokens a sample) was told at 12.7 h for 1.5 h of work.

and the VAE's decode and encode timed at two frame sizes give seconds = a + b * pixel frames
(tiles counted with their halo). The modules are built from the model's configs with random
weights (the time of a forward does not depend on its weights), so a pipeline loaded without
weights (`load_pipeline(weights=False)`) estimates too. The result is cached as JSON in the user
cache dir (`$CHRONOTOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/chronotope`, else
`~/.cache/chronotope`), keyed by CPU model, torch version, thread count, precision, device and
a hash of the configs; a missing entry is measured again.

The call's work: its plan run dry at a tiny frame size (which windows, their lengths, what each
pins and how many candidates it may draw do not depend on the size; `dry_windows`), then each
window costed at the call's size: steps x evaluations per step x one forward over its draws
(x2 with guidance: the unconditional copies are packed beside), an encode of its canvas where
it pins frames and a decode per candidate. The text encoder, reading the conditions and writing
the file are left out (seconds at most on the sizes the bundled model makes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chronotope.autoencoder.streaming import TileSpec, tile_starts
from chronotope.errors import UsageError
from chronotope.tasks import sizes
from chronotope.tasks.canvas import latent_frames
from chronotope.tasks.plans import run_plan
from chronotope.tasks.request import Resolved
from chronotope.tasks.windows import Window
from chronotope.utils.precision import autocast, compute_dtype

CACHE_ENV = "CHRONOTOPE_CACHE_DIR"
CACHE_FILE = "timing.json"
TELL_ABOVE_S = 60.0  # a call expected to take longer is told before it starts
# the transformer's calibration packings: (segment length, segments)
FORWARD_POINTS = ((128, 1), (128, 8), (1024, 1), (4096, 1))
# the VAE's: latent (frames, side) decoded, pixel (frames, side) encoded
DECODE_POINTS = ((2, 8), (2, 16))
ENCODE_POINTS = ((5, 64), (5, 128))


class TimeBudgetError(UsageError):
    """A request whose estimated time exceeds the budget, refused before anything runs."""


# ---- the call's work ----


@dataclass(frozen=True)
class WindowWork:
    """What one window of a call samples, encodes and decodes (sizes aside)."""

    frames: int  # pixel frames of its canvas
    draws: int  # samples drawn together (seam candidates), each decoded
    guided: bool  # an unconditional copy of each draw is packed beside it
    encode: bool  # its canvas is encoded (it pins frames or restyles)
    circle: bool  # a loop's circle: decoded over the circle twice


def dry_windows(r: Resolved, grid: int) -> list[WindowWork]:
    """The windows `r`'s plan samples, found by running it at `grid` x `grid` pixels with
    blank conditions and recording each window instead of sampling it. A window where given
    frames meet new ones (or a loop's circle) counts the call's candidates: an upper bound, the
    sampler draws them only where the given side moves."""
    g = grid

    def blank(x):
        return None if x is None else np.zeros((*x.shape[:-3], g, g, 3), np.uint8)

    connect = None if r.connect is None else tuple(blank(c) for c in r.connect)
    transition = r.transition if r.transition in ("bridge", "dissolve") else "dissolve"
    tiny = dataclasses.replace(
        r, width=g, height=g, gen_hw=(g, g), image=blank(r.image),
        last_image=blank(r.last_image), video=blank(r.video), connect=connect,
        transition=transition if connect is not None else r.transition,
    )  # fmt: skip
    works: list[WindowWork] = []
    k = r.sampling.candidates

    def record(prompt: str, window: Window) -> np.ndarray:
        known = window.canvas.known
        seam = bool(known.any() and not known.all())
        circle = window.circle_from is not None
        works.append(
            WindowWork(
                frames=window.canvas.num_frames,
                draws=k if (seam or circle) else 1,
                guided=window.guided and r.sampling.guidance != 1.0,
                encode=window.needs_encode,
                circle=circle,
            )
        )
        return window.assemble(np.zeros((window.canvas.num_frames, g, g, 3), np.uint8))

    run_plan(tiny, record, lambda frames: None)
    return works


# ---- calibration ----


@dataclass(frozen=True)
class Calibration:
    """Fitted seconds of this machine: forward (a, b per token, c per segment token^2),
    decode and encode (a, b per pixel frame)."""

    forward: tuple[float, float, float]
    decode: tuple[float, float]
    encode: tuple[float, float]

    def forward_s(self, tokens: int, segments: int) -> float:
        a, b, c = self.forward
        return a + b * tokens * segments + c * tokens * tokens * segments

    def decode_s(self, pixel_frames: float) -> float:
        return self.decode[0] + self.decode[1] * pixel_frames

    def encode_s(self, pixel_frames: float) -> float:
        return self.encode[0] + self.encode[1] * pixel_frames


def machine_name(pipe) -> str:
    """The chip (CPU or GPU model), its threads and the precision the call computes in."""
    device = _device(pipe)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {_precision(pipe, device)}"
    threads = torch.get_num_threads()
    return f"{_cpu_model()}, {threads} thread{'s' * (threads != 1)}, {_precision(pipe, device)}"


def _precision(pipe, device: torch.device) -> str:
    dtype = compute_dtype(device.type) if pipe.autocast else torch.float32
    return str(dtype).removeprefix("torch.")


def machine_key(pipe) -> str:
    """What a calibration holds for: chip, threads, precision, torch and the model's configs."""
    configs = {
        "points": [FORWARD_POINTS, DECODE_POINTS, ENCODE_POINTS],  # another layout: measured again
        "transformer": _plain(pipe.transformer.config),
        "vae": {k: v for k, v in _plain(pipe.vae.config).items() if k != "latent_stats"},
    }
    digest = hashlib.sha256(json.dumps(configs, sort_keys=True).encode()).hexdigest()[:16]
    vae = _device(pipe, "vae").type
    return f"{machine_name(pipe)} | vae on {vae} | torch {torch.__version__} | {digest}"


def cache_path() -> Path:
    root = os.environ.get(CACHE_ENV)
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(xdg) / "chronotope"
    return Path(root) / CACHE_FILE


def calibration(pipe, *, measure: Callable | None = None) -> Calibration:
    """This machine's calibration for `pipe`'s configs: cached, else measured and cached."""
    key = machine_key(pipe)
    entries = _read_cache()
    if key in entries:
        try:
            return Calibration(**{k: tuple(v) for k, v in entries[key].items()})
        except TypeError:
            pass  # an entry of another layout: measured again
    calib = (measure or measure_calibration)(pipe)
    entries = _read_cache()  # another process may have written meanwhile
    entries[key] = dataclasses.asdict(calib)
    _write_cache(entries)
    return calib


def measure_calibration(pipe) -> Calibration:
    """Time the transformer and the VAE of `pipe`'s configs (random weights, the global RNG
    left as it was)."""
    device, vae_device = _device(pipe), _device(pipe, "vae")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        transformer = _fresh(pipe.transformer, device)
        forward = [
            _time_forward(pipe, transformer, n, s, device, warm=i == 0)
            for i, (n, s) in enumerate(FORWARD_POINTS)
        ]
        del transformer
        vae = _fresh(pipe.vae, vae_device)  # where the pipeline decodes (the CPU beside a GPU DiT)
        decode = [
            _time_decode(pipe, vae, t, side, vae_device, warm=i == 0)
            for i, (t, side) in enumerate(DECODE_POINTS)
        ]
        encode = [
            _time_encode(pipe, vae, t, side, vae_device, warm=i == 0)
            for i, (t, side) in enumerate(ENCODE_POINTS)
        ]
    return Calibration(_fit_forward(forward), _fit_line(decode), _fit_line(encode))


def _fit_forward(times: list[float]) -> tuple[float, float, float]:
    """(a, b, c) of `seconds = a + b * tokens + c * sum(n^2)` through the times of
    FORWARD_POINTS ((segment length n, segments) each): the least relative squared error with
    a, b, c >= 0 (noise never makes more tokens cheaper), found over the subsets of free
    coefficients."""
    rows = np.array([[1.0, n * s, n * n * s] for n, s in FORWARD_POINTS])
    t = np.asarray(times, dtype=np.float64)
    rows, rhs = rows / t[:, None], np.ones(len(t))  # each point's error relative to its time
    best, best_err = (0.0, 0.0, 0.0), np.inf
    for free in ((0, 1, 2), (1, 2), (0, 2), (0, 1), (2,), (1,), (0,)):
        coef = np.zeros(3)
        coef[list(free)] = np.linalg.lstsq(rows[:, free], rhs, rcond=None)[0]
        err = float(np.sum((rows @ coef - rhs) ** 2))
        if coef.min() >= 0 and err < best_err:
            best, best_err = tuple(float(x) for x in coef), err
    return best


def _fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of seconds = a + b * x through two (x, seconds) points."""
    (x1, t1), (x2, t2) = points
    b = max(0.0, (t2 - t1) / (x2 - x1))
    return max(0.0, t1 - b * x1), b


def _timed(fn: Callable[[], object], device: torch.device, warm: bool) -> float:
    """Seconds of one `fn()`; with `warm`, after a first run (the module's first call picks
    kernels and allocates; later shapes reuse them, so only each module's first point pays).
    On the CPU, the process's CPU time over its threads where that is less than the wall
    time: a calibration made while other work shares the cores is cached for good, and must
    not keep their load (torch's threads spin while they wait, so an unshared run's CPU time
    over its threads is its wall time)."""
    if warm:
        fn()
        _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if device.type != "cpu":
        return wall
    return min(wall, cpu / torch.get_num_threads())


def _time_forward(pipe, transformer, n: int, segments: int, device, warm: bool) -> float:
    from chronotope.tokens.segments import Segments

    cfg = transformer.config
    pt, ph, pw = cfg.patch
    side = max(1, int(np.sqrt(n)))
    total = n * segments
    idx = torch.arange(total) % n
    positions = torch.stack([idx // (side * side), idx // side % side, idx % side], dim=1)
    x = torch.randn(total, cfg.in_channels * pt * ph * pw, device=device)
    sigma = torch.rand(total, device=device)
    text_len = 16
    text = torch.randn(text_len * segments, cfg.text_dim, device=device)
    seg, text_seg = Segments((n,) * segments), Segments((text_len,) * segments)

    def run():
        with autocast(device.type, enabled=pipe.autocast):
            transformer(x, sigma, positions.to(device), seg, text, text_seg)

    return _timed(run, device, warm)


def _time_decode(pipe, vae, t: int, side: int, device, warm: bool) -> tuple[float, float]:
    z = torch.randn(1, vae.config.latent_channels, t, side, side, device=device)

    def run():
        with autocast(device.type, enabled=pipe.autocast):
            for _ in vae.decode_iter(z):
                pass

    fs, ft = vae.config.spatial_factor, vae.config.temporal_factor
    return (1 + (t - 1) * ft) * (side * fs) ** 2, _timed(run, device, warm)


def _time_encode(pipe, vae, t: int, side: int, device, warm: bool) -> tuple[float, float]:
    video = torch.rand(1, 3, t, side, side, device=device) * 2 - 1

    def run():
        with autocast(device.type, enabled=pipe.autocast):
            vae.encode_chunked(video)

    return t * side * side, _timed(run, device, warm)


# ---- the estimate ----


@dataclass(frozen=True)
class TimeEstimate:
    """Seconds a call is expected to take here, by part, and its windows and solver steps."""

    transformer: float
    autoencoder: float
    windows: int
    steps: int  # solver steps over all windows (what the progress bar counts)
    machine: str = ""

    @property
    def total(self) -> float:
        return self.transformer + self.autoencoder

    def __str__(self) -> str:
        return (
            f"{duration(self.total)} (transformer {duration(self.transformer)}, autoencoder "
            f"{duration(self.autoencoder)}; {self.windows} window{'s' * (self.windows != 1)}, "
            f"{self.steps} steps)"
        )


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class CallCost:
    """A call's windows (`dry_windows`) costed with this machine's calibration: its estimate
    at its own size or at another."""

    def __init__(self, pipe, r: Resolved):
        self.pipe, self.r = pipe, r
        self.works = dry_windows(r, pipe.grid_multiple)
        self.calib = calibration(pipe)

    def estimate(self, size: tuple[int, int] | None = None) -> TimeEstimate:
        """Seconds of the call, at `size` (W, H) when given."""
        pipe, r, calib = self.pipe, self.r, self.calib
        gen_h, gen_w = r.gen_hw if size is None else pipe.padded(size[1], size[0])
        pt, ph, pw = pipe.transformer.config.patch
        fs, ft = pipe.fs, pipe.ft
        per_frame = (gen_h // fs // ph) * (gen_w // fs // pw)
        tile = pipe.tile(gen_h, gen_w)
        pixels = _tiled_pixels(gen_h // fs, tile, fs) * _tiled_pixels(gen_w // fs, tile, fs)
        s = r.sampling
        evals = s.steps * (2 if s.solver == "heun" else 1)
        transformer = autoencoder = 0.0
        for w in self.works:
            latent = latent_frames(w.frames, ft)
            segments = w.draws * (2 if w.guided else 1)
            transformer += evals * calib.forward_s(latent // pt * per_frame, segments)
            if w.encode:
                autoencoder += calib.encode_s(w.frames * pixels)
            decoded = 1 + (2 * latent - 1) * ft if w.circle else w.frames
            autoencoder += w.draws * calib.decode_s(decoded * pixels)
        n = len(self.works)
        return TimeEstimate(transformer, autoencoder, n, n * s.steps, machine_name(pipe))

    def tenth_size(self, estimate: TimeEstimate) -> tuple[int, int] | None:
        """The largest size at the output's aspect ratio (on the token grid) that would take at
        most a tenth of `estimate`; None where none does (the time is not in the pixels)."""
        r, grid = self.r, self.pipe.grid_multiple
        tried: set[tuple[int, int]] = set()
        for k in range(1, 80):
            size = sizes.at_scale(
                r.width, r.height, max(1, int(r.width * r.height * 0.85**k)), grid
            )
            if size not in tried:
                tried.add(size)
                if self.estimate(size).total <= estimate.total / 10:
                    return size
        return None

    def message(self, estimate: TimeEstimate) -> str:
        """One line: the estimate, and the size that would take a tenth of it."""
        size = self.tenth_size(estimate)
        tenth = (
            f"at {size[0]}x{size[1]} it would take about a tenth"
            if size is not None
            else "no smaller size takes a tenth of it: ask for fewer frames or steps"
        )
        return f"estimated time on this machine ({estimate.machine}): {estimate}; {tenth}"

    def check(self, estimate: TimeEstimate, budget_s: float | None) -> None:
        """Refuse the call when `estimate` exceeds `budget_s` (None: no budget)."""
        if budget_s is None or estimate.total <= budget_s:
            return
        size = self.tenth_size(estimate)
        hint = f"; at {size[0]}x{size[1]} it would take about a tenth" if size else ""
        raise TimeBudgetError(
            f"request needs an estimated {duration(estimate.total)} on this machine "
            f"({estimate}), over the time budget of {duration(budget_s)}{hint}; ask for a "
            "smaller size, fewer frames or steps, or raise the budget (--time-budget)",
            param="size",
        )


# ---- helpers ----


def _tiled_pixels(latent: int, spec: TileSpec | None, fs: int) -> int:
    """Pixels along one axis of `latent` latent pixels that the VAE processes: every tile with
    its halo (tiles overlap and read context around them)."""
    if spec is None or latent <= spec.size:
        return latent * fs
    total = 0
    for start in tile_starts(latent, spec):
        end = min(latent, start + spec.size)
        total += min(latent, end + spec.halo) - max(0, start - spec.halo)
    return total * fs


def _fresh(module, device: torch.device):
    """A module of `module`'s config with random weights, in eval mode on `device`."""
    from chronotope.pipeline.loading import quiet_diffusers

    with quiet_diffusers():
        return type(module).from_config(module.config).to(device).eval()


def _device(pipe, component: str = "transformer") -> torch.device:
    """Where a component runs (a pipeline without weights: the CPU)."""
    device = next(getattr(pipe, component).parameters()).device
    return torch.device("cpu") if device.type == "meta" else device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _plain(config) -> dict:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(entries: dict) -> None:
    """Written to a temporary name and renamed: a reader sees the old file or the new one."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".timing-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: measured again next time, never an error
