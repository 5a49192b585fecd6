"""The attack table of docs/reliability.md (section 8), measured: each attack on a fresh
`python -m app` process (1 worker, or `--workers`), with its peak RSS (VmHWM, the highest
of its processes), the slowest /health answer while it ran, and a normal request checked
afterwards. Prints Markdown table rows.

    .venv/bin/python scripts/attacks.py            # every row
    .venv/bin/python scripts/attacks.py 2 6        # rows whose name starts with 2 or 6
    .venv/bin/python scripts/attacks.py --workers 2  # python -m app with 2 worker processes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import Server  # noqa: E402
from health_watch import HealthWatch  # noqa: E402
from test_attacks import peak_rss_kib  # noqa: E402


def numbers(row: bytes, count: int) -> bytes:
    return b"[" + b",".join([row] * count) + b"]"


ROWS = {
    '1 /derivative points ["a"] x 1M': (
        "/derivative",
        b'{"expression": "x", "points": ' + numbers(b'"a"', 1_000_000) + b"}",
    ),
    "2 /gradient points [[0]] filling 64 MiB": (
        "/gradient",
        b'{"expression": "x0", "points": ' + numbers(b"[0]", 16_000_000) + b"}",
    ),
    "3 parameters of 1M entries": (
        "/derivative",
        b'{"expression": "x", "points": [1], "parameters": {'
        + b",".join(b'"p%d": 1' % i for i in range(1_000_000))
        + b"}}",
    ),
    "4 /hessian 940k points x 16": (
        "/hessian",
        b'{"expression": "x0*x1", "points": ' + numbers(numbers(b"0.5", 16), 940_000) + b"}",
    ),
    "5 /gradient 1M points x 30": (
        "/gradient",
        b'{"expression": "x0*x1", "points": ' + numbers(numbers(b"0", 30), 1_000_000) + b"}",
    ),
    "6 exact: true, ((x)**x)**x... 50 deep, 1M points": (
        "/derivative",
        json.dumps(
            {
                "expression": "(" * 50 + "x" + ")**x" * 50,
                "range": {"start": 1, "stop": 2, "num": 1_000_000},
                "exact": True,
            }
        ).encode(),
    ),
    "7 exact: true, order 2, sin(x*sin(...)) 16 deep, 1M points": (
        "/derivative",
        json.dumps(
            {
                "expression": "sin(x*" * 16 + "x" + ")" * 16,
                "range": {"start": 1, "stop": 2, "num": 1_000_000},
                "exact": True,
                "order": 2,
            }
        ).encode(),
    ),
}


def measure(name: str, path: str, body: bytes, workers: int) -> str:
    server = Server(launcher=True, env={"NABLA_WORKERS": str(workers)})
    try:
        base = peak_rss_kib(server.process.pid)
        with HealthWatch(server.url) as health:
            start = time.monotonic()
            r = httpx.post(
                server.url + path,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=180,
            )
            took = time.monotonic() - start
        peak = peak_rss_kib(server.process.pid)
        check = {"expression": "x**3", "points": [2.0]}
        after = httpx.post(server.url + "/derivative", json=check).json()["derivatives"]
    finally:
        server.stop()
    answer = f"{r.status_code} {r.json().get('reason', '')}".strip()
    return (
        f"| {name} | {len(body) / 2**20:.1f} MiB | {answer} | {took:.1f} s "
        f"| {base // 1024} → {peak // 1024} MiB | {health.worst:.2f} s | {after} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", help="rows whose name starts so (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="NABLA_WORKERS")
    args = parser.parse_args()
    wanted = args.rows
    print("| attack | body | answer | time | peak RSS | /health worst | d(x³)/dx at 2 after |")
    print("|---|---|---|---|---|---|---|")
    for name, (path, body) in ROWS.items():
        if not wanted or any(name.startswith(w) for w in wanted):
            print(measure(name, path, body, args.workers), flush=True)


if __name__ == "__main__":
    main()
