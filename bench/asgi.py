"""App time per request, without sockets: the ASGI app called in process, in a loop.

    python -m bench.asgi                # GET /health vs POST /derivative (1 point)
    python -m bench.asgi --stub-engine  # the same, with service.derivative precomputed

wrk measures the whole server (uvicorn's parsing and socket writes included) and moves
with the machine's load; this isolates what Nabla's own code costs per request, which is
where the /derivative-vs-/health target of issue #6 is decided. `--stub-engine` replaces
`service.derivative` by a function returning a payload computed once, so the difference
between the two runs is the service and engine; what is left against /health is routing,
body parsing, validation and encoding. Rounds alternate the two requests; medians shown.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from typing import Any

import uvloop

from app import service
from app.config import Settings
from app.main import create_app
from app.schemas import DerivativeRequest

BODY = b'{"expression": "0.01*x**2 + 0.1*x", "points": [5.0]}'
REQUESTS = {
    "GET /health": ("GET", "/health", b""),
    "POST /derivative": ("POST", "/derivative", BODY),
}


def scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def request(app: Any, method: str, path: str, body: bytes) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(method, path, body), receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"{method} {path} answered {sent[0]['status']}: {sent[1:]}")


async def measure(rounds: int, per_round: int) -> dict[str, float]:
    app = create_app(Settings())
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the life of the process
    for handler in logging.getLogger("nabla").handlers:  # formatted and written, as in bench
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    for _ in range(300):  # warm-up: caches, the parse cache, first allocations
        for args in REQUESTS.values():
            await request(app, *args)
    samples: dict[str, list[float]] = {name: [] for name in REQUESTS}
    for _ in range(rounds):
        for name, args in REQUESTS.items():
            start = time.perf_counter()
            for _ in range(per_round):
                await request(app, *args)
            samples[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stub-engine", action="store_true", help="precompute the derivative")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=4000)
    args = parser.parse_args()
    if args.stub_engine:
        payload = service.derivative(DerivativeRequest.model_validate_json(BODY), Settings())
        service.derivative = lambda body, settings: payload  # type: ignore[assignment]
    times = uvloop.run(measure(args.rounds, args.per_round))
    health = times["GET /health"]
    for name, seconds in times.items():
        print(f"{name:18} {seconds * 1e6:7.1f} µs/request  {health / seconds:5.0%} of /health")


if __name__ == "__main__":
    main()
