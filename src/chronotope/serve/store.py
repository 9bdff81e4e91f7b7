"""The job store: one SQLite table (WAL) that is both the record and the queue.

Every state change is one committed transaction, so a server killed with SIGKILL restarts
from exactly what clients were last told: `recover()` puts interrupted jobs back in the queue
(or fails them after `max_attempts` interruptions, so a job that kills the server cannot
loop forever). The queue order is the insertion order (`seq`), never a client value.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    expires_at INTEGER,
    model TEXT NOT NULL,
    prompt TEXT,
    seconds TEXT NOT NULL,
    size TEXT NOT NULL,
    remixed_from_video_id TEXT,
    error_code TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""
# Columns added after the first schema: (name, declaration) added to an older database as it
# opens (a restarted server keeps its jobs and forgets nothing of the new ones).
_ADDED = (("warnings", "TEXT NOT NULL DEFAULT '[]'"),)
_JSON = ("spec", "warnings")  # columns stored as JSON text

_COLUMNS = [
    "seq",
    "id",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "model",
    "prompt",
    "seconds",
    "size",
    "remixed_from_video_id",
    "error_code",
    "error_message",
    "attempts",
    "spec",
    "warnings",
]


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


@dataclass
class Job:
    id: str
    model: str
    prompt: str | None
    seconds: str
    size: str
    spec: dict[str, Any]  # what the worker needs to rebuild the GenerationRequest
    status: str = "queued"
    progress: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))
    completed_at: int | None = None
    expires_at: int | None = None
    remixed_from_video_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    seq: int | None = None
    # what the request was told: a size chosen for its input, words the model never learned
    # (not in OpenAI's video object: an extension field the web page shows)
    warnings: list[str] = field(default_factory=list)

    def to_video(self) -> dict[str, Any]:
        """The `video` object of the OpenAI Videos API."""
        error = None
        if self.status == "failed":
            error = {"code": self.error_code or "failed", "message": self.error_message or ""}
        return {
            "id": self.id,
            "object": "video",
            "status": self.status,
            "progress": self.progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "error": error,
            "model": self.model,
            "prompt": self.prompt,
            "seconds": self.seconds,
            "size": self.size,
            "remixed_from_video_id": self.remixed_from_video_id,
            "warnings": list(self.warnings),
        }


def _row_to_job(row: sqlite3.Row) -> Job:
    d = dict(zip(_COLUMNS, row))
    for name in _JSON:
        d[name] = json.loads(d[name])
    return Job(**d)


class JobStore:
    """Thread-safe (one connection behind a lock; every call is short)."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a 200 OK means the job is on disk
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns an older database lacks (`_ADDED`), with their defaults."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, declaration in _ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple = ()) -> Job | None:
        row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs {sql}", args).fetchone()
        return _row_to_job(row) if row else None

    def insert(self, job: Job, *, max_queued: int | None = None) -> bool:
        """Insert `job`; False (nothing written) when `max_queued` jobs already wait."""
        values = [
            json.dumps(getattr(job, c)) if c in _JSON else getattr(job, c) for c in _COLUMNS[1:]
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the count and the insert are one step
            try:
                if max_queued is not None:
                    (queued,) = self._db.execute(
                        "SELECT COUNT(*) FROM jobs WHERE status = 'queued'"
                    ).fetchone()
                    if queued >= max_queued:
                        return False
                cur = self._db.execute(
                    f"INSERT INTO jobs ({', '.join(_COLUMNS[1:])}) "
                    f"VALUES ({', '.join('?' * len(values))})",
                    values,
                )
                job.seq = cur.lastrowid
            finally:
                self._db.execute("COMMIT")
        return True

    def get(self, video_id: str) -> Job | None:
        with self._lock:
            return self._one("WHERE id = ?", (video_id,))

    def list(self, *, after: str | None, limit: int, order: str) -> tuple[list[Job], bool]:
        """A page in `order` of creation; `after` is the last id of the previous page."""
        op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        with self._lock:
            where, args = "", ()
            if after is not None:
                row = self._db.execute("SELECT seq FROM jobs WHERE id = ?", (after,)).fetchone()
                if row is None:
                    raise KeyError(after)
                where, args = f"WHERE seq {op} ?", (row[0],)
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY seq {direction} LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        jobs = [_row_to_job(r) for r in rows]
        return jobs[:limit], len(jobs) > limit

    def delete(self, video_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE id = ?", (video_id,)).rowcount > 0

    def count(self, status: str) -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)
            ).fetchone()[0]

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to in_progress (counting an attempt) and return it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                job = self._one("WHERE status = 'queued' ORDER BY seq LIMIT 1")
                if job is not None:
                    self._db.execute(
                        "UPDATE jobs SET status = 'in_progress', progress = 0, "
                        "attempts = attempts + 1 WHERE id = ?",
                        (job.id,),
                    )
                    job.status, job.progress, job.attempts = "in_progress", 0, job.attempts + 1
            finally:
                self._db.execute("COMMIT")
        return job

    def _update(self, video_id: str, sql: str, args: tuple) -> bool:
        with self._lock:
            cur = self._db.execute(f"UPDATE jobs SET {sql} WHERE id = ?", (*args, video_id))
            return cur.rowcount > 0

    def set_progress(self, video_id: str, progress: int) -> bool:
        return self._update(video_id, "progress = ?", (progress,))

    def complete(self, video_id: str, expires_at: int | None, seconds: str | None = None) -> bool:
        """Mark a job done; `seconds`, where given, replaces the length it was submitted with."""
        now = int(time.time())
        sql = "status = 'completed', progress = 100, completed_at = ?, expires_at = ?"
        args: tuple = (now, expires_at)
        if seconds is not None:
            sql, args = sql + ", seconds = ?", (*args, seconds)
        return self._update(video_id, sql, args)

    def fail(self, video_id: str, code: str, message: str) -> bool:
        return self._update(
            video_id,
            "status = 'failed', completed_at = ?, error_code = ?, error_message = ?",
            (int(time.time()), code, message),
        )

    def requeue(self, video_id: str, *, refund_attempt: bool) -> bool:
        """Back to queued; a graceful shutdown refunds the attempt, a crash does not."""
        return self._update(
            video_id,
            "status = 'queued', progress = 0, attempts = attempts - ?",
            (int(refund_attempt),),
        )

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a crash: re-queue interrupted jobs, or fail those interrupted too often."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, attempts FROM jobs WHERE status = 'in_progress'"
            ).fetchall()
        requeued, failed = [], []
        for video_id, attempts in rows:
            if attempts >= max_attempts:
                self.fail(
                    video_id,
                    "interrupted",
                    f"generation was interrupted {attempts} times (the server stopped while "
                    "generating it); not retried again",
                )
                failed.append(video_id)
            else:
                self.requeue(video_id, refund_attempt=False)
                requeued.append(video_id)
        return requeued, failed

    def expired(self, now: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            ).fetchall()
        return [r[0] for r in rows]
