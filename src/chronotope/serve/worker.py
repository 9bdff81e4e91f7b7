"""`JobRunner`: one worker thread that takes queued jobs from the store and runs the engine.

Generation runs in this thread, not in the event loop, so status calls stay fast while a job
runs (torch and numpy release the GIL in their kernels). Jobs run one at a time: the model's
kernels already use every core (intra-op threads), so a second job at once would only split
them (and one pipeline object is not safe to call from two threads). The queue bound is
enforced at insert time by the store (see `JobStore.insert`).
"""

from __future__ import annotations

import logging
import math
import threading
import time

from chronotope.errors import UsageError
from chronotope.serve import media
from chronotope.serve.config import ServeConfig
from chronotope.serve.engine import Engine
from chronotope.serve.files import JobFiles
from chronotope.serve.store import Job, JobStore
from chronotope.serve.submit import fmt_seconds
from chronotope.tasks.request import GenerationRequest

log = logging.getLogger("chronotope.serve")

SWEEP_EVERY_S = 600.0  # how often expired outputs are deleted


class _Stopping(Exception):
    """Raised from the progress callback when the server shuts down: re-queue the job."""


class _Cancelled(Exception):
    """Raised from the progress callback when the job was deleted while running."""


def build_request(job: Job, files: JobFiles, fps: float) -> GenerationRequest:
    """Rebuild the request from what the store and the job folder hold; a given video is
    handed over at the engine's frame rate `fps`."""
    s = job.spec
    image = video = None
    if s.get("has_image"):
        image = media.read_image(files.input(job.id, "image"))
    if s.get("has_video"):
        frames, video_fps = media.read_video(files.input(job.id, "video"))
        video = media.at_fps(frames, video_fps or fps, fps)
    return GenerationRequest(
        prompt=job.prompt or "", width=s["width"], height=s["height"], seconds=s["seconds"],
        image=image, video=video, strength=s.get("strength"), extend=s.get("extend"),
        seed=s.get("seed"), loop=s.get("loop", False),
    )  # fmt: skip


class JobRunner:
    def __init__(self, store: JobStore, engine: Engine, files: JobFiles, config: ServeConfig):
        self.store, self.engine, self.files, self.config = store, engine, files, config
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._cancelled: set[str] = set()
        self._thread: threading.Thread | None = None
        self._avg_job_s = 10.0  # running mean of job durations, for Retry-After
        self._last_sweep = 0.0

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        requeued, failed = self.store.recover(self.config.max_attempts)
        if requeued or failed:
            log.warning(
                "recovered after a stop: %d re-queued, %d failed", len(requeued), len(failed)
            )
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="chronotope-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self) -> None:
        with self._wake:
            self._wake.notify()

    def cancel(self, video_id: str) -> None:
        self._cancelled.add(video_id)

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free: the running job's time, one job's mean."""
        return max(1, min(3600, math.ceil(self._avg_job_s)))

    # the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._maybe_sweep()
            job = self.store.claim_next()
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            self._run(job)

    def _progress(self, job: Job):
        last = [-1]

        def callback(step: int, total: int) -> None:
            if self._stop.is_set():
                raise _Stopping()
            if job.id in self._cancelled:
                raise _Cancelled()
            pct = int(95 * min(step, total) / max(total, 1))  # the last 5% is encoding
            if pct != last[0]:
                last[0] = pct
                self.store.set_progress(job.id, pct)

        return callback

    def _run(self, job: Job) -> None:
        t0 = time.monotonic()
        try:
            request = build_request(job, self.files, self.engine.fps)
            frames, fps = self.engine.generate(request, self._progress(job), model=job.model)
            if job.id in self._cancelled or self.store.get(job.id) is None:
                raise _Cancelled()
            self.files.make(job.id)
            media.write_mp4(self.files.output(job.id, "video"), frames, fps)
            media.write_thumbnail(self.files.output(job.id, "thumbnail"), frames)
            media.write_spritesheet(self.files.output(job.id, "spritesheet"), frames)
            keep = self.config.retention_s
            expires = int(time.time()) + keep if keep > 0 else None
            # a video made from a source (remix, edit, extend) was submitted with the source's
            # length in its own frame rate; it reports the file's length (a created video keeps
            # the `seconds` it was asked for, as the API names them)
            seconds = None
            if request.video is not None:
                seconds = fmt_seconds(len(frames) / fps)
            if not self.store.complete(job.id, expires, seconds):  # deleted while encoding
                self.files.remove(job.id)
        except _Stopping:
            self.store.requeue(job.id, refund_attempt=True)
        except _Cancelled:
            self.files.remove(job.id)
        except UsageError as e:
            self.store.fail(job.id, "invalid_request", str(e))
        except Exception as e:
            log.exception("job %s failed", job.id)
            self.store.fail(job.id, "generation_failed", f"{type(e).__name__}: {e}")
        finally:
            self._cancelled.discard(job.id)
        self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (time.monotonic() - t0)

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY_S:
            return
        self._last_sweep = now
        for video_id in self.store.expired(int(time.time())):
            self.store.delete(video_id)
            self.files.remove(video_id)
