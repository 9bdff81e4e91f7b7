"""`scan_folder(dir) -> ScanResult`: probe every video and image under a folder into manifest rows.

Each file is probed in a worker process with a timeout: a file that hangs or crashes the
decoder (FFmpeg is C) costs that file and a worker restart, never the scan. Bad files are
skipped and listed with the reason. Captions come from a sidecar `<stem>.txt` beside the file,
else from a `captions.csv` (`path,text`, paths relative to its folder) in the file's folder.
Hidden files and folders (names starting with '.') are skipped: they include the temporary
names of writes in progress.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from tqdm import tqdm

from chronotope.data.manifest import ManifestRow
from chronotope.data.probing import MEDIA_SUFFIXES, VideoInfo, probe
from chronotope.errors import ChronotopeError, UsageError

CAPTIONS_CSV = "captions.csv"
STARTUP_TIMEOUT = 120.0  # a spawned worker imports PyAV and Pillow before its first file


@dataclass
class ScanFailure:
    path: Path
    reason: str


@dataclass
class ScanResult:
    rows: list[ManifestRow]  # absolute paths
    failures: list[ScanFailure]

    @property
    def num_files(self) -> int:
        return len(self.rows) + len(self.failures)


def scan_folder(
    root: str | os.PathLike,
    *,
    timeout: float = 30.0,
    workers: int = 1,
    progress: bool = True,
    probe_fn: Callable[[str], VideoInfo] = probe,
) -> ScanResult:
    """Probe media files under `root` recursively; `probe_fn` must be importable (it is pickled
    by reference into the worker processes)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder; scan needs a folder of videos/images")
    if not timeout > 0:
        raise UsageError(f"timeout must be > 0 seconds, got {timeout}", param="timeout")
    if workers < 1:
        raise UsageError(f"workers must be >= 1, got {workers}", param="workers")
    files = find_media(root)
    results = _probe_all(files, timeout=timeout, workers=workers, progress=progress, fn=probe_fn)
    rows, failures, captions = [], [], _CaptionIndex()
    for path in files:
        info = results[path]
        if isinstance(info, str):
            failures.append(ScanFailure(path, info))
            continue
        rows.append(
            ManifestRow(
                path=str(path.resolve()),
                text=captions.caption(path),
                num_frames=info.num_frames,
                height=info.height,
                width=info.width,
                fps=info.fps,
            )
        )
    return ScanResult(rows=rows, failures=failures)


def find_media(root: Path) -> list[Path]:
    """Media files under `root`, sorted, skipping hidden files and folders."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in MEDIA_SUFFIXES:
                found.append(Path(folder) / name)
    return found


class _CaptionIndex:
    """Sidecar `.txt` first, then the folder's `captions.csv` (read once per folder)."""

    def __init__(self) -> None:
        self._csv: dict[Path, dict[str, str]] = {}

    def caption(self, path: Path) -> str:
        sidecar = path.with_suffix(".txt")
        if sidecar.is_file():
            return sidecar.read_text(encoding="utf-8", errors="replace").strip()
        return self._folder(path.parent).get(path.name, "")

    def _folder(self, folder: Path) -> dict[str, str]:
        if folder not in self._csv:
            self._csv[folder] = _read_captions_csv(folder / CAPTIONS_CSV)
        return self._csv[folder]


def _read_captions_csv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    # keyed by the path as seen from the csv's folder, normalised to a file name there
    return {Path(r["path"]).name: (r.get("text") or "").strip() for r in rows if r.get("path")}


# ---------------------------------------------------------------- probing with a timeout


def _serve(conn: Connection, fn: Callable[[str], VideoInfo]) -> None:
    """Worker loop: receive a path, send back ("ok", VideoInfo) or ("error", reason)."""
    conn.send(("ready", None))
    while True:
        path = conn.recv()
        if path is None:
            return
        try:
            conn.send(("ok", fn(path)))
        except ChronotopeError as e:
            conn.send(("error", str(e)))
        except Exception as e:  # a probe bug must not kill the scan either
            conn.send(("error", f"{type(e).__name__}: {e}"))


class _Worker:
    """One probe process; `spawn` so no threads or locks of the parent are inherited."""

    def __init__(self, fn: Callable[[str], VideoInfo]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, fn), daemon=True)
        self.process.start()
        child.close()
        try:
            if not self.conn.poll(STARTUP_TIMEOUT):
                raise EOFError
            self.conn.recv()  # "ready"
        except (EOFError, OSError):
            self.kill()
            code = self.process.exitcode
            raise RuntimeError(f"probe worker failed to start (exit code {code})") from None
        self.path: Path | None = None
        self.deadline = 0.0

    def submit(self, path: Path, timeout: float) -> None:
        self.path, self.deadline = path, time.monotonic() + timeout
        self.conn.send(str(path))

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the worker may already be gone
            self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.kill()


def _probe_all(files, *, timeout, workers, progress, fn) -> dict[Path, VideoInfo | str]:
    """Map each file to its VideoInfo or a failure reason, `workers` probes at a time."""
    results: dict[Path, VideoInfo | str] = {}
    pending = list(reversed(files))
    idle = [_Worker(fn) for _ in range(min(workers, len(files)))]
    busy: list[_Worker] = []
    bar = tqdm(total=len(files), unit="file", desc="scan", disable=not progress)
    try:
        while pending or busy:
            while pending and idle:
                worker = idle.pop()
                worker.submit(pending.pop(), timeout)
                busy.append(worker)
            left = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy], timeout=left)
            for worker in list(busy):
                outcome = _collect(worker, worker.conn in ready, timeout)
                if outcome is None:
                    continue
                results[worker.path] = outcome
                busy.remove(worker)
                bar.update(1)
                if worker.process.is_alive():
                    idle.append(worker)
                elif pending:  # killed after a timeout or crash: replace it
                    idle.append(_Worker(fn))
    finally:
        bar.close()
        for worker in idle:
            worker.close()
        for worker in busy:  # only left busy by an exception (Ctrl-C): stop them now
            worker.kill()
    return results


def _collect(worker: _Worker, ready: bool, timeout: float) -> VideoInfo | str | None:
    """The worker's answer, a failure reason (timeout/crash: the worker is killed), or None."""
    if ready:
        try:
            status, value = worker.conn.recv()
        except (EOFError, OSError):
            worker.kill()
            return f"the probe crashed (exit code {worker.process.exitcode})"
        if status == "ok":
            return value
        # probe errors read "<path>: <reason>"; the failure already names the path
        return value.removeprefix(f"{worker.path}: ")
    if time.monotonic() >= worker.deadline:
        worker.kill()
        return f"probe timed out after {timeout:g} s"
    return None
