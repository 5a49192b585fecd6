"""HTTP workloads against a real uvicorn server on loopback.

(a) `/gradient-field` on a 1000×1000 grid, end to end with httpx, against the in-process
    floor measured in the same run: NumPy central differences plus `orjson.dumps` of the
    same arrays (axes, shape, coordinates, values, gradient).
(b) `/derivative` at one point under load against `GET /health` on the same server, with
    wrk at a fixed duration and 16 connections, for 1 and 2 worker processes.

    python -m bench.http [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from app import numerics
from app.expressions import parse
from app.json_out import json_pieces
from bench.engine import automatic_step, numpy_central

ROOT = Path(__file__).resolve().parent.parent
AXIS = {"start": -2.0, "stop": 2.0, "num": 1000}
FIELD_BODY = {"expression": "x0**2 + x1**2", "grid": [AXIS, AXIS]}
DERIVATIVE_BODY = {"expression": "0.01*x**2 + 0.1*x", "points": [5.0]}
FIELD_REQUESTS = 9  # timed to the last byte
PARSED_REQUESTS = 3  # of which the client also json.loads the body (2-3 s each)
CONNECTIONS = 16
WRK_THREADS = 1  # one load generator thread leaves the other core to the server


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    workers: int = 1,
    app: str = "app.main:app",
    http: str = "app.protocol:HttpProtocol",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`python -m uvicorn app.main:app` on a free loopback port; its log goes to /dev/null.

    Logging as `python -m app` (`make run`) sets it up: uvicorn's access line off, Nabla's
    JSON access line on. Another `app` (bench.wire's) may be served the same way.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    command += ["--http", http, "--loop", "asyncio"]  # as `python -m app`
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, url, workers)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish starting
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not become healthy within 60 s")


# ---------------------------------------------------------------- (a) the gradient field


@dataclass
class FieldVariant:
    """One way of asking for the field: its median times and the response size."""

    name: str
    body: dict[str, Any]
    headers: dict[str, str]
    received: float = 0.0  # median seconds until the last byte arrived
    parsed: float = 0.0  # ... plus json.loads of the body (median of fewer requests)
    requests: int = 0
    parsed_requests: int = 0
    wire_bytes: int = 0  # as sent over the connection (compressed, if it was)
    json_bytes: int = 0
    encoding: str = "identity"
    floor: float = 0.0  # in-process NumPy + orjson for the same arrays
    floor_compute: float = 0.0
    floor_encode: float = 0.0


@dataclass
class FieldResult:
    variants: list[FieldVariant]
    options: list[str]  # request options the running API advertises
    engine: float  # in-process Nabla: gradient_field of the same grid
    engine_encode: float  # orjson.dumps of the service's arrays
    notes: list[str] = field(default_factory=list)


def field_request(
    client: httpx.Client, url: str, variant: FieldVariant, *, parse: bool
) -> tuple[float, float | None]:
    """One request: (seconds to the last byte, the same + json.loads of the body, if asked)."""
    start = time.perf_counter()
    with client.stream(
        "POST", f"{url}/gradient-field", json=variant.body, headers=variant.headers
    ) as r:
        raw = b"".join(r.iter_raw())
        received = time.perf_counter() - start
        if r.status_code != 200:
            raise RuntimeError(f"/gradient-field answered {r.status_code}: {raw[:300]!r}")
        variant.encoding = r.headers.get("content-encoding", "identity")
    body = gzip.decompress(raw) if variant.encoding == "gzip" else raw
    variant.wire_bytes, variant.json_bytes = len(raw), len(body)
    if not parse:
        return received, None
    json.loads(body)
    return received, time.perf_counter() - start


def advertised_options(client: httpx.Client, url: str) -> list[str]:
    """Opt-ins of GradientFieldRequest that the server's OpenAPI document lists."""
    spec = client.get(f"{url}/openapi.json").json()
    properties = spec["components"]["schemas"]["GradientFieldRequest"]["properties"]
    wanted = ("include", "precision", "dtype", "float32", "compression")
    return [name for name in wanted if name in properties]


def floor(
    axes: list[np.ndarray],
    include: list[str] | None,
    precision: str = "float64",
    f: Callable[[list[np.ndarray]], np.ndarray] = lambda r: r[0] ** 2 + r[1] ** 2,
) -> tuple[float, float, int]:
    """NumPy central differences of `f` (FIELD_BODY's x0² + x1² unless said) on the
    materialized grid + orjson of the same arrays.

    Only what the response carries is computed: (compute, encode) seconds and bytes. With
    `precision` float32 the arrays are converted before encoding, as the service does.
    """
    wanted = set(include or ("axes", "shape", "coordinates", "values", "gradient"))
    start = time.perf_counter()
    grid = np.meshgrid(*axes)
    rows = [g.ravel() for g in grid]
    payload: dict[str, Any] = {"variables": ["x0", "x1"]}
    if "axes" in wanted:
        payload["axes"] = axes
    if "shape" in wanted:
        payload["shape"] = list(grid[0].shape)
    if "coordinates" in wanted:
        payload["coordinates"] = np.stack(rows)
    if "values" in wanted:
        payload["values"] = f(rows)
    if "gradient" in wanted:
        payload["gradient"] = np.stack(numpy_central(f, rows, automatic_step))
    if precision == "float32":
        payload = {k: _single(v) for k, v in payload.items()}
    middle = time.perf_counter()
    encoded = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return middle - start, time.perf_counter() - middle, len(encoded)


def _single(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.astype(np.float32)
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return [v.astype(np.float32) for v in value]
    return value


def in_process_engine(axes: list[np.ndarray]) -> tuple[float, float]:
    """What the server computes and encodes, without HTTP: (engine, encode) seconds.

    As app/service.py does: coordinates stay axes (`GridPoints`) and the JSON comes from the
    server's own streaming encoder, joined here into one bytes object.
    """
    f = parse(FIELD_BODY["expression"]).bind(["x0", "x1"])
    start = time.perf_counter()
    result = numerics.gradient_field(f, axes, with_coordinates=False)
    middle = time.perf_counter()
    payload = {
        "variables": ["x0", "x1"],
        "axes": result.axes,
        "shape": list(result.shape),
        "coordinates": numerics.GridPoints.of(result.axes),
        "values": result.values,
        "gradient": result.gradient,
    }
    b"".join(json_pieces(payload))
    return middle - start, time.perf_counter() - middle


def field_variants(options: list[str]) -> list[FieldVariant]:
    plain = {"accept-encoding": "identity"}
    variants = [FieldVariant("all arrays (default)", FIELD_BODY, plain)]
    if "include" in options:
        body = FIELD_BODY | {"include": ["gradient"]}
        variants.append(FieldVariant('include: ["gradient"]', body, plain))
    if "precision" in options:
        body = FIELD_BODY | {"precision": "float32"}
        variants.append(FieldVariant('precision: "float32"', body, plain))
    variants.append(FieldVariant("Accept-Encoding: gzip", FIELD_BODY, {"accept-encoding": "gzip"}))
    return variants


def gradient_field(*, quick: bool) -> FieldResult:
    axes = [np.linspace(AXIS["start"], AXIS["stop"], AXIS["num"])] * 2
    repeats, parsed = (3, 1) if quick else (FIELD_REQUESTS, PARSED_REQUESTS)
    notes = []
    with server() as url, httpx.Client(timeout=300) as client:
        options = advertised_options(client, url)
        variants = field_variants(options)
        for variant in variants:
            field_request(client, url, variant, parse=False)  # warm-up
        gzipped = variants[-1]
        if gzipped.encoding != "gzip":
            notes.append("the server ignores `Accept-Encoding: gzip` (no compression offered)")
            variants.remove(gzipped)
        samples: dict[str, list[tuple[float, float | None]]] = {v.name: [] for v in variants}
        floors: dict[str, list[tuple[float, float]]] = {v.name: [] for v in variants}
        engine: list[tuple[float, float]] = []
        for i in range(repeats):  # interleaved: service, floor, engine, for every variant
            for variant in variants:
                sample = field_request(client, url, variant, parse=i < parsed)
                samples[variant.name].append(sample)
                body = variant.body
                compute, encode, _ = floor(
                    axes, body.get("include"), body.get("precision", "float64")
                )
                floors[variant.name].append((compute, encode))
            engine.append(in_process_engine(axes))
    for variant in variants:
        variant.received = statistics.median(s[0] for s in samples[variant.name])
        variant.parsed = statistics.median(s[1] for s in samples[variant.name] if s[1])
        variant.requests = len(samples[variant.name])
        variant.parsed_requests = sum(1 for s in samples[variant.name] if s[1])
        variant.floor_compute = statistics.median(c for c, _ in floors[variant.name])
        variant.floor_encode = statistics.median(e for _, e in floors[variant.name])
        variant.floor = statistics.median(c + e for c, e in floors[variant.name])
    return FieldResult(
        variants,
        options,
        engine=statistics.median(e for e, _ in engine),
        engine_encode=statistics.median(e for _, e in engine),
        notes=notes,
    )


# ---------------------------------------------------------------- (b) small requests


@dataclass
class Load:
    endpoint: str
    workers: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses plus socket errors, summed over the runs
    runs: int
    body_bytes: int = 0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return rps, _milliseconds(latency["50"]), _milliseconds(latency["99"]), errors


def wrk(url: str, script: Path | None, seconds: int) -> tuple[float, float, float, int]:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def lua_post(body: dict[str, Any], folder: Path) -> Path:
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def small_requests(workers: int, *, quick: bool) -> list[Load]:
    """/health and /derivative alternately (3 runs each) so drift hits both alike."""
    seconds, runs = (3, 1) if quick else (10, 3)
    with tempfile.TemporaryDirectory() as folder, server(workers) as url:
        post = lua_post(DERIVATIVE_BODY, Path(folder))
        targets = [
            ("GET /health", f"{url}/health", None),
            ("POST /derivative", f"{url}/derivative", post),
        ]
        sizes = {
            "GET /health": len(httpx.get(f"{url}/health").content),
            "POST /derivative": len(httpx.post(f"{url}/derivative", json=DERIVATIVE_BODY).content),
        }
        for _, target, script in targets:
            wrk(target, script, 2)  # warm-up
        results: dict[str, list[tuple[float, float, float, int]]] = {t[0]: [] for t in targets}
        for _ in range(runs):
            for name, target, script in targets:
                results[name].append(wrk(target, script, seconds))
    return [
        Load(
            name,
            workers,
            statistics.median(r[0] for r in runs_),
            statistics.median(r[1] for r in runs_),
            statistics.median(r[2] for r in runs_),
            sum(r[3] for r in runs_),
            len(runs_),
            sizes[name],
        )
        for name, runs_ in results.items()
    ]


# ---------------------------------------------------------------- both


@dataclass
class HttpResult:
    field: FieldResult
    loads: list[Load]
    wrk: str  # "" when wrk is not installed
    clients: list[Any] = field(default_factory=list)  # bench.clients.Client, time to arrays
    small_answer: tuple[int, str] = (0, "")  # a 1-point /derivative: bytes, content coding


def run(*, quick: bool = False) -> HttpResult:
    print("- /gradient-field 1000×1000 against the in-process floor", flush=True)
    result = gradient_field(quick=quick)
    for v in result.variants:
        print(
            f"    {v.name:24s} service {v.received:.3f} s (+ json.loads {v.parsed:.3f} s), "
            f"floor {v.floor:.3f} s, {v.wire_bytes / 1e6:.1f} MB"
        )
    loads: list[Load] = []
    version = ""
    if shutil.which("wrk") is None:
        print("skipped small requests under load: wrk is not installed (apt-get install wrk)")
    else:
        version = wrk_version()
        for workers in (1, 2):
            print(f"- small requests under load: {workers} worker(s) × {CONNECTIONS} connections")
            for load in small_requests(workers, quick=quick):
                print(
                    f"    {load.endpoint:18s} {load.requests_per_second:8.0f} req/s  "
                    f"p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms  errors {load.errors}"
                )
                loads.append(load)
    from bench import clients

    print("- time to arrays: /gradient-field 1000×1000 by kind of client", flush=True)
    kinds = clients.run(quick=quick)
    clients.report(kinds)
    return HttpResult(result, loads, version, kinds, clients.small_answer())


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("\n")[0].split(" [")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, 3 s wrk runs")
    run(quick=parser.parse_args().quick)


if __name__ == "__main__":
    main()
