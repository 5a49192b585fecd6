"""`make load`: wrk against a real `python -m app` on loopback, for a bounded time.

Starts the server with `NABLA_WORKERS` worker processes, warms it up, then runs wrk with
`scripts/load/mix.lua` (small and medium requests) while sampling the resident memory of
the server's processes every second. Fails (exit 1) on any non-2xx response, any socket
error, a worker that died, or resident memory that grew by more than the threshold between
the first and the last third of the run. Writes the numbers into `docs/reliability.md`
between its `load:begin`/`load:end` markers, so that each run replaces the last.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "load" / "mix.lua"
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    transfer: str = ""
    percentiles: dict[str, str] = field(default_factory=dict)
    latency_max: str = ""
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NABLA_WORKERS": str(workers)}
    command = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    # A file, not a pipe: nobody reads the log during the run, and a full pipe would block.
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not become healthy")


def process_tree(pid: int) -> list[int]:
    """The server and all its descendants (uvicorn's supervisor and workers)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        path = Path(f"/proc/{current}/task/{current}/children")
        if path.exists():
            todo.extend(int(child) for child in path.read_text().split())
    return tree


def rss_mib(pids: list[int]) -> float:
    total_kib = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # it exited between listing and reading
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


def sample_rss(pid: int, stop: threading.Event, samples: list[float]) -> None:
    while not stop.wait(1.0):
        samples.append(rss_mib(process_tree(pid)))


def run_wrk(url: str, args: argparse.Namespace, seconds: int) -> str:
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        f"--timeout={args.timeout}s",
        "--latency",
        f"--script={SCRIPT}",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult()
    if match := re.search(r"(\d+) requests in ([\d.]+)(m?s)", output):
        result.requests = int(match.group(1))
        result.seconds = float(match.group(2)) * (60 if match.group(3) == "m" else 1)
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result.rate = float(match.group(1))
    if match := re.search(r"Transfer/sec:\s+(\S+)", output):
        result.transfer = match.group(1)
    for percent, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE):
        result.percentiles[percent] = value
    if match := re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE):
        result.latency_max = match.group(1)
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result.non_2xx = int(match.group(1))
    if match := re.search(r"Socket errors: (.+)", output):
        pairs = re.findall(r"(\w+) (\d+)", match.group(1))
        result.socket_errors = {name: int(count) for name, count in pairs}
    result.sent = {k: int(v) for k, v in re.findall(r"^mix sent (\S+) (\d+)", output, re.M)}
    result.statuses = {k: int(v) for k, v in re.findall(r"^mix status (\S+) (\d+)", output, re.M)}
    return result


def thirds(samples: list[float]) -> tuple[float, float]:
    third = max(1, len(samples) // 3)
    return statistics.mean(samples[:third]), statistics.mean(samples[-third:])


def verdict(
    result: WrkResult,
    rss: tuple[float, float],
    workers: tuple[set[int], set[int]],
    limit_mib: float,
) -> list[str]:
    failures = []
    if result.requests == 0:
        failures.append("wrk completed no requests")
    if result.non_2xx or result.statuses:
        failures.append(f"{result.non_2xx} non-2xx responses {result.statuses}")
    if any(result.socket_errors.values()):
        failures.append(f"socket errors {result.socket_errors}")
    if rss[1] - rss[0] > limit_mib:
        failures.append(f"RSS grew by {rss[1] - rss[0]:.1f} MiB (limit {limit_mib} MiB)")
    if workers[0] != workers[1]:
        failures.append(f"the worker processes changed: {workers[0]} -> {workers[1]}")
    return failures


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def report(
    result: WrkResult,
    rss: tuple[float, float],
    samples: list[float],
    args: argparse.Namespace,
    failures: list[str],
) -> str:
    p = result.percentiles
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(result.sent.items()))
    errors = ", ".join(f"{k} {v}" for k, v in result.socket_errors.items()) or "none"
    outcome = "PASS" if not failures else "FAIL: " + "; ".join(failures)
    return "\n".join(
        [
            f"Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs "
            f"({cpu_model()}), Python {platform.python_version()}, `python -m app` with "
            f"NABLA_WORKERS={args.workers}; wrk {args.threads} threads, "
            f"{args.connections} connections, "
            f"{args.duration} s after a {args.warmup} s warm-up; command `make load`.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| requests completed | {result.requests} in {result.seconds:.1f} s |",
            f"| throughput | {result.rate:.0f} req/s ({result.transfer}/s) |",
            f"| latency p50 / p75 / p90 / p99 | {p.get('50')} / {p.get('75')} / {p.get('90')} / "
            f"{p.get('99')} |",
            f"| latency max | {result.latency_max} |",
            f"| non-2xx responses | {result.non_2xx} |",
            f"| socket errors | {errors} |",
            f"| RSS, all server processes: first third / last third of the run | {rss[0]:.1f} MiB"
            f" / {rss[1]:.1f} MiB ({rss[1] - rss[0]:+.1f} MiB; limit +{args.rss_limit:g} MiB) |",
            f"| RSS min / max over {len(samples)} samples | {min(samples):.1f} / "
            f"{max(samples):.1f} MiB |",
            f"| requests sent, by kind | {mix} |",
            f"| verdict | {outcome} |",
        ]
    )


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Reliability\n"
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## Load results\n\n{block}\n"
    DOC.write_text(text)


def measure(url: str, server: subprocess.Popen[bytes], args: argparse.Namespace) -> int:
    run_wrk(url, args, args.warmup)
    before = set(process_tree(server.pid))
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(server.pid, stop, samples))
    sampler.start()
    output = run_wrk(url, args, args.duration)
    stop.set()
    sampler.join()
    wait_healthy(url, server, timeout=5)
    after = set(process_tree(server.pid))
    print(output)
    result = parse_wrk(output)
    rss = thirds(samples)
    failures = verdict(result, rss, (before, after), args.rss_limit)
    section = report(result, rss, samples, args, failures)
    print(section)
    if args.write:
        write_doc(section)
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds of measured load")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before it")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="NABLA_WORKERS")
    parser.add_argument("--timeout", type=int, default=5, help="wrk's per-request timeout (s)")
    parser.add_argument(
        "--rss-limit",
        type=float,
        default=32.0,
        help="allowed RSS growth in MiB, first third to last third",
    )
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="do not update docs/reliability.md"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run `make load`)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="nabla-load-")) / "server.log"
    server = start_server(port, args.workers, log)
    try:
        wait_healthy(url, server)
        return measure(url, server, args)
    finally:
        server.terminate()
        server.wait(30)
        print(f"server log: {log}")


if __name__ == "__main__":
    sys.exit(main())
