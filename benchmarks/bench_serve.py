"""Load on `chronotope serve` (loopback only, bounded): concurrent clients create jobs and poll.

Reports jobs accepted / refused with 429, the latency of status calls while the worker is
generating (p50/p95, against the same calls on an idle server), and the server's RSS: at
baseline (model loaded, one job done), peak under load, and after the load has drained.
The server is a subprocess running the real pipeline with tiny random weights.

    .venv/bin/python benchmarks/bench_serve.py [--clients 8] [--jobs-per-client 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "serve.json"


def tiny_engine(steps: int):
    from chronotope.pipeline import ChronotopePipeline
    from chronotope.serve import PipelineEngine

    pipe = ChronotopePipeline.from_random(seed=0, fps=8.0, seconds=2.0, steps=steps)
    return PipelineEngine(pipe)


def serve_main(args: argparse.Namespace) -> None:
    from chronotope.serve import ServeConfig, run_server

    config = ServeConfig(port=args.port, data_dir=args.data_dir, max_queue=args.max_queue)
    run_server(config, tiny_engine(args.steps), log_level="warning")


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


def run_job(http, url: str, form: dict, deadline: float) -> tuple[str, list[float]]:
    """Create one job and poll it; returns (outcome, latencies of busy-time status calls)."""
    r = http.post(url + "/v1/videos", data=form)
    if r.status_code == 429:
        return "rejected", []
    r.raise_for_status()
    video_id, busy = r.json()["id"], []
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        v = http.get(f"{url}/v1/videos/{video_id}").json()
        dt = time.perf_counter() - t0
        if v["status"] in ("completed", "failed"):
            return v["status"], busy
        busy.append(dt)
        time.sleep(0.05)
    return "timeout", busy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--jobs-per-client", type=int, default=3)
    p.add_argument("--max-queue", type=int, default=4)
    p.add_argument("--seconds", default="2")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--time-limit", type=float, default=240.0, help="stop polling after this")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve_main(args)

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CHRONOTOPE_API_KEY": ""}
    cmd = [sys.executable, __file__, "--serve", "--port", str(port), "--data-dir", str(data_dir),
           "--max-queue", str(args.max_queue), "--steps", str(args.steps)]  # fmt: skip
    server = subprocess.Popen(cmd, env=env)
    try:
        http = httpx.Client(timeout=30)
        for _ in range(600):
            try:
                http.get(url + "/v1/videos")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        form = {"prompt": "a red ball bounces", "size": "64x64", "seconds": args.seconds}
        deadline = time.monotonic() + args.time_limit
        t0 = time.perf_counter()
        run_job(http, url, form, deadline)  # warm-up: loads the text encoder
        warm_job_s = time.perf_counter() - t0
        idle = []
        for _ in range(50):
            t = time.perf_counter()
            http.get(url + "/v1/videos?limit=1")
            idle.append(time.perf_counter() - t)
        baseline = rss_mib(server.pid)

        peak, stop = [baseline], threading.Event()

        def monitor() -> None:
            while not stop.wait(0.1):
                peak.append(rss_mib(server.pid))

        threading.Thread(target=monitor, daemon=True).start()
        outcomes: list[str] = []
        busy: list[float] = []
        lock = threading.Lock()

        def client() -> None:
            with httpx.Client(timeout=30) as c:
                for _ in range(args.jobs_per_client):
                    outcome, lat = run_job(c, url, form, deadline)
                    with lock:
                        outcomes.append(outcome)
                        busy.extend(lat)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(2.0)  # let the worker go idle and the allocator settle
        stop.set()
        after = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)

    accepted = sum(o != "rejected" for o in outcomes)
    result = {
        "clients": args.clients,
        "jobs_tried": len(outcomes),
        "accepted": accepted,
        "completed": outcomes.count("completed"),
        "rejected_429": outcomes.count("rejected"),
        "timeouts": outcomes.count("timeout"),
        "max_queue": args.max_queue,
        "warm_job_s": round(warm_job_s, 3),
        "wall_s": round(wall, 2),
        "status_calls_busy": len(busy),
        "status_p50_ms_busy": round(1000 * pct(busy, 0.5), 2),
        "status_p95_ms_busy": round(1000 * pct(busy, 0.95), 2),
        "status_p50_ms_idle": round(1000 * statistics.median(idle), 2),
        "rss_mib_baseline": round(baseline, 1),
        "rss_mib_peak": round(max(peak), 1),
        "rss_mib_after": round(after, 1),
        "cpu_count": os.cpu_count(),
    }
    print(f"{'metric':<22} value")
    for k, v in result.items():
        print(f"{k:<22} {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
