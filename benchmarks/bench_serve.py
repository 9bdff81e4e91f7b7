"""Load on `chronotope serve` with the bundled model, on the loopback address.

`--clients` clients (30) for `--duration` seconds (60): each creates a job, polls its status at
the interval the server asks for (`openai-poll-after-ms`, as the SDK's `poll()` does) until it
is done, and creates the next; a 429 is waited out for its `Retry-After`. After the load, every
accepted job is polled to its end. Reports: jobs accepted / completed / refused with 429 (and
whether each 429 carried `Retry-After`), the latency of status calls made while jobs were
generating (p50 / p95 / max, and on the idle server), and the server's RSS at baseline (model
loaded, one job done), at its peak, and once the queue has drained.

    .venv/bin/python benchmarks/bench_serve.py [--clients 30] [--duration 60] [--max-queue 16]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "serve.json"
PROMPTS = (  # training captions of the world (world.captions.TRAINING)
    "a red circle moves right",
    "a blue square moves left",
    "a green circle moves up",
    "a yellow square moves down",
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


@dataclass
class Tally:
    """What the clients saw, shared between their threads (under `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # id -> completed / failed / ...
    refused: int = 0
    refused_without_retry_after: int = 0
    other_errors: list[str] = field(default_factory=list)
    busy_ms: list[float] = field(default_factory=list)  # status calls while generating


def poll_to_end(http, url: str, video_id: str, tally: Tally, deadline: float) -> str:
    """Poll one job at the server's interval until it ends; busy-time latencies go to `tally`."""
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        r = http.get(f"{url}/v1/videos/{video_id}")
        ms = 1000 * (time.perf_counter() - t0)
        status = r.json()["status"]
        if status in ("completed", "failed"):
            return status
        with tally.lock:
            tally.busy_ms.append(ms)
        time.sleep(int(r.headers.get("openai-poll-after-ms", "500")) / 1000)
    return "timeout"


def client(url: str, stop_creating: float, drain_deadline: float, tally: Tally, k: int) -> None:
    import httpx

    with httpx.Client(timeout=30) as http:
        n = 0
        while time.monotonic() < stop_creating:
            form = {"prompt": PROMPTS[(k + n) % len(PROMPTS)], "size": "64x64", "seconds": "1"}
            n += 1
            r = http.post(url + "/v1/videos", data=form)
            if r.status_code == 429:
                retry = r.headers.get("Retry-After")
                with tally.lock:
                    tally.refused += 1
                    tally.refused_without_retry_after += retry is None
                time.sleep(min(float(retry or 1), max(0.0, stop_creating - time.monotonic())))
                continue
            if r.status_code != 200:
                with tally.lock:
                    tally.other_errors.append(f"{r.status_code} {r.text[:200]}")
                continue
            video_id = r.json()["id"]
            with tally.lock:
                tally.accepted.append(video_id)
            outcome = poll_to_end(http, url, video_id, tally, drain_deadline)
            with tally.lock:
                tally.outcomes[video_id] = outcome


def start_server(port: int, data_dir: Path, max_queue: int) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CHRONOTOPE_API_KEY": ""}
    cmd = [sys.executable, "-m", "chronotope.cli.main", "serve", "--port", str(port),
           "--data-dir", str(data_dir), "--max-queue", str(max_queue)]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(3000):
        if server.poll() is not None:
            raise SystemExit(f"chronotope serve exited with {server.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/videos", timeout=2)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("chronotope serve did not start in 300 s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of new jobs")
    p.add_argument("--max-queue", type=int, default=16)
    p.add_argument("--drain-limit", type=float, default=600.0, help="seconds to finish after")
    args = p.parse_args()

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    t0 = time.perf_counter()
    server = start_server(port, data_dir, args.max_queue)
    start_s = time.perf_counter() - t0
    try:
        warm, tally = Tally(), Tally()
        with httpx.Client(timeout=30) as http:
            t0 = time.perf_counter()
            r = http.post(url + "/v1/videos", data={"prompt": PROMPTS[0], "size": "64x64"})
            first = poll_to_end(http, url, r.json()["id"], warm, time.monotonic() + 600)
            first_job_s = time.perf_counter() - t0  # loads the text encoder too
            idle = []
            for _ in range(100):
                t = time.perf_counter()
                http.get(f"{url}/v1/videos/{r.json()['id']}")
                idle.append(1000 * (time.perf_counter() - t))
        baseline = rss_mib(server.pid)

        peak, stop = [baseline], threading.Event()

        def monitor() -> None:
            while not stop.wait(0.2):
                peak.append(rss_mib(server.pid))

        threading.Thread(target=monitor, daemon=True).start()
        t0 = time.perf_counter()
        stop_creating = time.monotonic() + args.duration
        drain_deadline = stop_creating + args.drain_limit
        threads = [
            threading.Thread(target=client, args=(url, stop_creating, drain_deadline, tally, k))
            for k in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(3.0)  # the worker idle, the allocator settled
        stop.set()
        after = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(60)

    outcomes = list(tally.outcomes.values())
    result = {
        "clients": args.clients,
        "duration_s": args.duration,
        "max_queue": args.max_queue,
        "server_start_s": round(start_s, 1),
        "first_job_s": round(first_job_s, 2),
        "first_job": first,
        "accepted": len(tally.accepted),
        "completed": outcomes.count("completed"),
        "failed": outcomes.count("failed"),
        "timeouts": outcomes.count("timeout"),
        "refused_429": tally.refused,
        "refused_429_without_retry_after": tally.refused_without_retry_after,
        "other_errors": len(tally.other_errors),
        "wall_s_with_drain": round(wall, 1),
        "jobs_per_min": round(60 * outcomes.count("completed") / wall, 1),
        "status_calls_busy": len(tally.busy_ms),
        "status_p50_ms_busy": round(pct(tally.busy_ms, 0.5), 2),
        "status_p95_ms_busy": round(pct(tally.busy_ms, 0.95), 2),
        "status_max_ms_busy": round(max(tally.busy_ms, default=float("nan")), 2),
        "status_p50_ms_idle": round(pct(idle, 0.5), 2),
        "status_p95_ms_idle": round(pct(idle, 0.95), 2),
        "rss_mib_baseline": round(baseline, 1),
        "rss_mib_peak": round(max(peak), 1),
        "rss_mib_after": round(after, 1),
        "cpu_count": len(os.sched_getaffinity(0)),
    }
    print(f"{'metric':<34} value")
    for k, v in result.items():
        print(f"{k:<34} {v}")
    for e in tally.other_errors[:5]:
        print("error:", e)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
