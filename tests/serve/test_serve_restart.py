"""`chronotope serve` with the bundled model, killed with SIGKILL mid-generation and restarted
on the same data dir: every job finishes, and the bytes served are those a fresh run of the
same request makes (same seed, same bytes; the server's precision: bf16 autocast on a CPU with
AVX-512, fp32 elsewhere; the two processes run the same command, so the same kernels)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from serve_fakes import free_port

PROMPT = "a red circle moves right"
START_S = 300  # a cold start imports torch and loads the model: seconds alone, minutes shared


def start_serve(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`chronotope serve` (the bundled model) as its own process; (process, base URL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "chronotope.cli.main", "serve", "--port", str(port),
           "--data-dir", str(data_dir)]  # fmt: skip
    env = {**os.environ, "CHRONOTOPE_API_KEY": "", "HF_HUB_OFFLINE": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(url + "/v1/videos", timeout=2.0)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"serve did not answer in {START_S} s")


def create(url: str, seed: int, size: str = "64x64", seconds: str = "1") -> str:
    form = {"prompt": PROMPT, "size": size, "seconds": seconds, "seed": str(seed)}
    r = httpx.post(url + "/v1/videos", data=form, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def status(url: str, video_id: str) -> dict:
    return httpx.get(f"{url}/v1/videos/{video_id}", timeout=30).json()


def wait_for(url: str, video_id: str, want: set[str], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while (v := status(url, video_id))["status"] not in want:
        assert time.monotonic() < deadline, v
        time.sleep(0.02)
    return v


def content(url: str, video_id: str) -> bytes:
    v = wait_for(url, video_id, {"completed", "failed"})
    assert v["status"] == "completed", v
    r = httpx.get(f"{url}/v1/videos/{video_id}/content", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    return r.content


def test_sigkill_mid_generation_then_restart_serves_the_same_bytes(tmp_path):
    data, log = tmp_path / "data", tmp_path / "serve.log"
    proc, url = start_serve(data, log)
    try:
        done = create(url, seed=1)
        before = content(url, done)  # finished before the kill
        # ~6x a 64x64 1 s job: seconds of sampling to be caught in, even on a busy machine
        running = create(url, seed=2, size="112x64", seconds="4")
        queued = [create(url, seed=3), create(url, seed=4)]
        v = wait_for(url, running, {"in_progress"})
        while not 0 < (v := status(url, running))["progress"] < 95:  # sampling (95+: encoding)
            assert v["status"] == "in_progress", v
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()

    # what the dead server left: the running job still says in_progress (it had no chance)
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        states = dict(db.execute("SELECT id, status FROM jobs").fetchall())
    assert states == {done: "completed", running: "in_progress", **dict.fromkeys(queued, "queued")}

    proc, url = start_serve(data, log)
    try:
        after = {video_id: content(url, video_id) for video_id in [running, *queued]}
        assert content(url, done) == before
        listed = httpx.get(url + "/v1/videos", params={"limit": 100}).json()["data"]
        assert {v["id"] for v in listed} == {done, running, *queued}
        assert all(v["status"] == "completed" for v in listed)
        # fresh runs of the same requests: the interrupted job is the video its request makes,
        # and a job of the killed process is the one the new process makes (across processes)
        assert content(url, create(url, seed=2, size="112x64", seconds="4")) == after[running]
        assert content(url, create(url, seed=1)) == before
        assert before != after[queued[0]]  # and a different seed is a different video
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_job_that_keeps_killing_the_server_is_failed_not_retried_forever(tmp_path):
    from chronotope.serve.store import Job, JobStore

    store = JobStore(tmp_path / "jobs.sqlite3")
    job = Job(id="video_" + "a" * 32, model="m", prompt="p", seconds="1", size="16x16", spec={})
    store.insert(job)
    for attempt in range(1, 4):  # claimed, then the server "dies" each time
        assert store.claim_next().attempts == attempt
        requeued, failed = store.recover(max_attempts=3)
        assert (requeued, failed) == (([job.id], []) if attempt < 3 else ([], [job.id]))
    final = store.get(job.id)
    assert final.status == "failed" and final.error_code == "interrupted"
    assert "interrupted 3 times" in final.error_message
    assert store.claim_next() is None
