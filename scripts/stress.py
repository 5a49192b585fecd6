"""`make load`, second part: each endpoint's most expensive accepted request, from 64 and
then 500 connections at once, against a fresh `python -m app` (one worker).

What a real server must do under more than it can compute: answer what it can, shed the
rest at once with a 503, keep /health under a second, and stay within its memory budget.
For each run: requests per second, p50/p99 latency, the share of 503s, the slowest /health
answer (polled every 100 ms from another process's thread), the peak RSS (VmHWM) of the
largest of the server's processes, and the largest sum of all of them (the pod's memory:
the server and its compute processes). Fails on a socket error, any non-2xx answer that is
not a 503, /health over a second, a process over the memory budget plus its own ~128 MiB,
or all of them over the pod's 1 GiB. Writes the
table into docs/reliability.md between its `stress:begin`/`stress:end` markers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from load import DOC, ROOT, WrkResult, free_port, parse_wrk, process_tree, rss_mib, wait_healthy

SCRIPT = ROOT / "scripts" / "load" / "post.lua"
BEGIN, END = "<!-- stress:begin -->", "<!-- stress:end -->"
MEMORY_BUDGET_MIB = 640  # NABLA_MEMORY_BUDGET's default
OWN_MIB = 128  # the process itself: Python, NumPy, FastAPI
POD_MIB = 1024  # deploy/kubernetes's memory limit, for all the server's processes together
# Work done under the load, as a share of one request at a time on the idle server. wrk
# retries every 503 at once; the compute threads must still get the GIL (app.lifecycle's
# pace of refusals). Before the pace: 0 for a 10,000-step /descent.
MIN_SERVED = 0.3


def grid(num: int) -> dict[str, float]:
    return {"start": -2.0, "stop": 2.0, "num": num}


# The most expensive request of each endpoint that the default limits accept, and the
# cheapest of all (many connections of small requests: p99 5.4 s and /health 16.7 s at 500
# before the lifecycle, and nothing answered 503).
REQUESTS: dict[str, tuple[str, dict[str, object]]] = {
    "derivative, 1 point": ("/derivative", {"expression": "sin(x)*exp(-x)", "points": [0.5]}),
    "derivative, 10⁶-point range": (
        "/derivative",
        {"expression": "sin(x)*exp(-x)", "range": grid(1_000_000)},
    ),
    "gradient, 10⁴ points × 10": (
        "/gradient",
        {
            "expression": "sum(x**2)",
            "points": [[0.1 * (i % 7) + 0.01 * j for j in range(10)] for i in range(10_000)],
        },
    ),
    "gradient-field, 1000×1000": (
        "/gradient-field",
        {"expression": "sin(x0)*x1", "grid": [grid(1000), grid(1000)]},
    ),
    "hessian, 1 point × 30": ("/hessian", {"expression": "sum(x**2)", "point": [0.5] * 30}),
    "descent, 10,000 steps": (
        "/descent",
        {"expression": "x0**2 + sin(x1)*x0 + x1**2", "init": [3.0, 4.0], "steps": 10_000},
    ),
    "step-study, 200 steps": (
        "/step-study",
        {"expression": "exp(sin(x))", "point": 1.0, "steps": [10.0**-k for k in range(200)]},
    ),
    "jacobian, 2·10⁴ points × 10 of 32 expressions": (
        "/jacobian",
        {
            "expressions": [
                f"x{i % 10}**2*x{(i + 1) % 10} + sin(x{(i + 3) % 10})" for i in range(32)
            ],
            "points": [[0.1 * (i % 7) + 0.01 * j for j in range(10)] for i in range(20_000)],
        },
    ),
    "directional-derivative, 10⁶ points × 2": (
        "/directional-derivative",
        {
            "expression": "sin(x0)*exp(-x1)",
            "points": [[0.1 * (i % 7), 0.01 * (i % 13)] for i in range(1_000_000)],
            "direction": [1.0, 2.0],
        },
    ),
    "vector-field, 3-D curl 100³": (
        "/vector-field",
        {
            "expressions": ["x1*x2**2", "sin(x0)*x2", "x0*exp(x1)"],
            "operator": "curl",
            "grid": [grid(100), grid(100), grid(100)],
        },
    ),
}


class HealthWatch(threading.Thread):
    """Polls /health every 100 ms, and sums the resident memory of the server's processes
    (the server, its uvicorn workers and compute processes): what the pod holds."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.url, self.worst, self.failures = url, 0.0, 0
        self.pid, self.total = pid, 0.0  # MiB, the largest sum seen
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            self.total = max(self.total, rss_mib(process_tree(self.pid)))
            start = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    ok = response.status == 200
            except OSError:
                ok = False
            self.worst = max(self.worst, time.monotonic() - start)
            self.failures += not ok


def peak_mib(pid: int) -> float:
    peaks = []
    for process in process_tree(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")]
    return max(peaks, default=0) / 1024


@dataclass
class Run:
    name: str
    connections: int
    result: WrkResult
    health: float  # the slowest /health answer, s
    health_failures: int
    peak: float  # MiB, of the largest process
    total: float  # MiB, of all the server's processes at once (sampled every 100 ms)
    alive: bool
    alone: float  # s: the same request on the idle server, before the load

    @property
    def served(self) -> float:
        """Answered per second, as a share of one-at-a-time on the idle server: the work
        the server still does while it sheds. Starved work tends to 0."""
        r = self.result
        answered = (r.requests - r.non_2xx) / r.seconds if r.seconds else 0.0
        return answered * self.alone

    def failures(self) -> list[str]:
        found = []
        if not self.result.requests:
            found.append("no request completed")
        if any(self.result.socket_errors.values()):
            found.append(f"socket errors {self.result.socket_errors}")
        if self.health >= 1.0 or self.health_failures:
            found.append(f"/health took {self.health:.2f} s")
        if self.peak > MEMORY_BUDGET_MIB + OWN_MIB:
            found.append(f"peak RSS {self.peak:.0f} MiB")
        if self.total > POD_MIB:
            found.append(f"all processes {self.total:.0f} MiB")
        if not self.alive:
            found.append("the server died")
        if self.served < MIN_SERVED:
            found.append(f"served {self.served:.2f} of one-at-a-time")
        return found

    def row(self) -> str:
        r = self.result
        shed = r.non_2xx / r.requests if r.requests else 0.0
        answered = (r.requests - r.non_2xx) / r.seconds if r.seconds else 0.0
        p = r.percentiles
        verdict = "; ".join(self.failures()) or "pass"
        return (
            f"| {self.name} | {self.connections} | {answered:.1f} | {r.rate:.0f} "
            f"| {p.get('50')} | {p.get('99')} | {shed:.0%} | {self.alone:.2f} s "
            f"| {self.served:.2f} | {self.health:.2f} s | {self.peak:.0f} MiB "
            f"| {self.total:.0f} MiB | {verdict} |"
        )


def one_run(name: str, connections: int, args: argparse.Namespace) -> Run:
    path, body = REQUESTS[name]
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    body_file.write_text(json.dumps(body))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NABLA_WORKERS": str(args.workers), "NABLA_HOST": "127.0.0.1"}
    env["NABLA_PORT"] = str(port)
    command = [sys.executable, "-m", "app"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(url, server)
        alone = time_alone(url + path, body)
        # Long enough for a request to be answered several times over under the load.
        duration = max(args.duration, math.ceil(4 * alone) + 2)
        health = HealthWatch(url, server.pid)
        health.start()
        wrk = ["wrk", "--threads=2", f"--connections={connections}", "--latency"]
        wrk += [f"--duration={duration}s", "--timeout=30s", f"--script={SCRIPT}", url + path]
        wrk_env = {**os.environ, "NABLA_BODY": str(body_file)}
        done = subprocess.run(wrk, capture_output=True, text=True, env=wrk_env, check=False)
        health.halt.set()
        health.join()
        peak = peak_mib(server.pid)
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(60)
        body_file.unlink()
    result = parse_wrk(done.stdout)
    return Run(
        name, connections, result, health.worst, health.failures, peak, health.total, alive, alone
    )


def time_alone(url: str, body: dict[str, object]) -> float:
    """Seconds for one request on the idle server (the best of two)."""
    data = json.dumps(body).encode()
    times = []
    for _ in range(2):
        request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        start = time.monotonic()
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        times.append(time.monotonic() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--workers", type=int, default=1, help="NABLA_WORKERS")
    parser.add_argument("--only", nargs="*", default=[], help="endpoints whose name starts so")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run `make load`)")
    lines = [
        f"Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs, "
        f"`python -m app` with NABLA_WORKERS={args.workers}, default settings; wrk 2 threads, "
        f"at least {args.duration} s per run (4 times a request alone, if longer) on a fresh "
        "server; command `make load`. Latencies are wrk's, of answered and shed requests "
        "together; 503s are the non-2xx answers. *Alone*: one request on the idle server; "
        "*served*: answered/s × alone, the work done while shedding as a share of "
        f"one-at-a-time (it fails under {MIN_SERVED}).",
        "",
        "| request | connections | answered/s | all/s | p50 | p99 | 503 | alone | served "
        "| /health worst | peak RSS | all processes | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    failed = False
    for name in REQUESTS:
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        for connections in (64, 500):
            run = one_run(name, connections, args)
            lines.append(run.row())
            failed |= bool(run.failures())
            print(lines[-1], flush=True)
    section = "\n".join(lines)
    if args.write:
        text = DOC.read_text()
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + f"{BEGIN}\n{section}\n{END}" + rest.split(END, 1)[1])
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
