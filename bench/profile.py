"""Where a request's CPU time goes in the server: py-spy samples, grouped by layer.

    pip install py-spy        # not a project dependency: only this helper uses it
    python -m bench.profile derivative|health|field [--seconds 10]

Starts the same uvicorn server as bench.http, records it with `py-spy record --threads`
while loading it (wrk for the small requests, sequential httpx requests for the 1000×1000
field), drops idle samples (threadpool workers waiting for work), and prints each layer's
share of the busy samples and its CPU milliseconds per request. Sampling slows the server
down, so read shares, not throughput. Notes from these runs are in bench/profile.md.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.http import CONNECTIONS, DERIVATIVE_BODY, FIELD_BODY, lua_post, parse_wrk, server

RATE = 200  # samples per second and thread
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):\d+\)$")

# First match wins; each test sees every frame of the sample as (function, file).
ENCODERS = ("render", "json_response", "json_pieces", "_value_pieces", "_buffered")
LAYERS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("engine: app/numerics/ (+ f's NumPy)", lambda fn, f: "app/numerics/" in f),
    ("expression parse + bind", lambda fn, f: "app/expressions/" in f),
    (
        "response encoding (orjson, app/json_out.py)",
        lambda fn, f: f.endswith("app/json_out.py") and fn.rsplit(".", 1)[-1] in ENCODERS,
    ),
    ("request JSON parsing (app/json_in.py)", lambda fn, f: fn == "parse_json"),
    ("pydantic validation", lambda fn, f: "pydantic" in f or "fastapi/_compat" in f),
    ("FastAPI dependency solving", lambda fn, f: "fastapi/dependencies" in f),
    ("service checks (app/service.py)", lambda fn, f: f.endswith("app/service.py")),
    ("logging: access log lines", lambda fn, f: f.startswith(("logging/", "uvicorn/logging"))),
    ("Prometheus metrics", lambda fn, f: f.startswith("prometheus_client/")),
]
INNERMOST: list[tuple[str, tuple[str, ...]]] = [  # by the innermost frame's file
    ("threadpool hop (anyio)", ("anyio/", "starlette/concurrency")),
    ("HTTP protocol + socket writes (uvicorn httptools)", ("uvicorn/protocols",)),
    ("event loop internals (asyncio)", ("asyncio/",)),
    ("routing + middleware (starlette, fastapi, app)", ("starlette/", "fastapi/", "app/")),
]


def frames(stack: str) -> list[tuple[str, str]]:
    parsed = []
    for frame in stack.split(";")[1:]:
        match = _FRAME.match(frame)
        if match:
            parsed.append((match.group("function"), match.group("file")))
    return parsed


def layer(stack: list[tuple[str, str]]) -> str | None:
    """The layer of one sample, or None for an idle thread (waiting in threading/queue)."""
    if not stack or stack[-1][1] in ("threading.py", "queue.py"):
        return None
    for name, test in LAYERS:
        if any(test(fn, f) for fn, f in stack):
            return name
    for name, prefixes in INNERMOST:
        if stack[-1][1].startswith(prefixes):
            return name
    return "event loop + other"


def aggregate(raw: Path) -> tuple[collections.Counter[str], dict[str, collections.Counter[str]]]:
    """Samples per layer, and per layer the innermost frames that took them."""
    counts: collections.Counter[str] = collections.Counter()
    leaves: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parsed = frames(stack)
        name = layer(parsed)
        if name is not None:
            counts[name] += int(count)
            leaves[name][f"{parsed[-1][0]} ({parsed[-1][1]})"] += int(count)
    return counts, leaves


def drive_small(url: str, path: str, seconds: int, folder: Path) -> int:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if path == "/derivative":
        command += ["-s", str(lua_post(DERIVATIVE_BODY, folder))]
    done = subprocess.run([*command, url + path], capture_output=True, text=True, check=True)
    rps = parse_wrk(done.stdout)[0]
    return round(rps * seconds)


def drive_field(url: str, seconds: int) -> int:
    count = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=300, headers={"accept-encoding": "identity"}) as client:
        while time.monotonic() < deadline:
            client.post(f"{url}/gradient-field", json=FIELD_BODY).raise_for_status()
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["derivative", "health", "field"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--detail", action="store_true", help="top frames of each layer")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as name, server() as url:
        folder = Path(name)
        pid = _server_pid(url)
        raw = folder / "profile.raw"
        record = [spy, "record", "-p", str(pid), "-r", str(RATE), "--threads", "-f", "raw"]
        recorder = subprocess.Popen(
            [*record, "-o", str(raw), "-d", str(args.seconds + 2)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        if args.workload == "field":
            requests = drive_field(url, args.seconds)
        else:
            requests = drive_small(url, f"/{args.workload}", args.seconds, folder)
        recorder.wait(60)
        counts, leaves = aggregate(raw)
    busy = sum(counts.values()) or 1
    print(f"{args.workload}: {requests} requests, {busy} busy samples at {RATE} Hz")
    for name, count in counts.most_common():
        per_request = count / RATE / max(requests, 1) * 1e3
        print(f"  {count / busy:6.1%}  {per_request:8.3f} ms/request  {name}")
        if args.detail:
            for frame, n in leaves[name].most_common(6):
                print(f"            {n / busy:6.1%}  {frame}")


def _server_pid(url: str) -> int:
    """The uvicorn process listening on the URL's port (the child of `server()`)."""
    port = url.rsplit(":", 1)[1]
    done = subprocess.run(
        ["pgrep", "-f", f"uvicorn app.main:app .*--port {port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[0])


if __name__ == "__main__":
    main()
