"""A server killed with SIGKILL mid-job and restarted on the same data dir loses nothing."""

import signal
import sqlite3
import time

import httpx
from serve_fakes import start_server_process


def status(url: str, video_id: str) -> dict:
    return httpx.get(f"{url}/v1/videos/{video_id}", timeout=5).json()


def wait_for(url: str, video_id: str, want: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (v := status(url, video_id))["status"] not in want:
        assert time.monotonic() < deadline, v
        time.sleep(0.05)
    return v


def test_sigkill_mid_job_then_restart(tmp_path):
    data = tmp_path / "data"
    form = {"prompt": "survive", "size": "32x32", "seconds": "1"}
    proc, url = start_server_process(data, steps=8, step_sleep=0.05)
    try:
        done = httpx.post(url + "/v1/videos", data=form).json()["id"]
        wait_for(url, done, {"completed"})
        before = httpx.get(f"{url}/v1/videos/{done}/content").content

        running = httpx.post(url + "/v1/videos", data={**form, "prompt": "running"}).json()["id"]
        queued = [
            httpx.post(url + "/v1/videos", data={**form, "prompt": f"q{i}"}).json()["id"]
            for i in range(2)
        ]
        v = wait_for(url, running, {"in_progress"})
        deadline = time.monotonic() + 10
        while status(url, running)["progress"] == 0:  # mid-job, not before it starts
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()

    # what the dead server left: the running job still says in_progress (it had no chance)
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        states = dict(db.execute("SELECT id, status FROM jobs").fetchall())
    assert states[running] == "in_progress" and all(states[q] == "queued" for q in queued)

    proc, url = start_server_process(data, steps=4, step_sleep=0.01)
    try:
        for video_id in [running, *queued]:
            v = wait_for(url, video_id, {"completed", "failed"})
            assert v["status"] == "completed", v
        assert httpx.get(f"{url}/v1/videos/{done}/content").content == before
        ids = {v["id"] for v in httpx.get(url + "/v1/videos", params={"limit": 100}).json()["data"]}
        assert ids == {done, running, *queued}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


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
