"""Logs and metrics: one structured line per request, Prometheus counters and histograms.

Metrics work with several worker processes through prometheus_client's multiprocess mode:
`python -m app` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory when it starts more
than one worker, and `/metrics` then aggregates every worker's files. With one process per
container (the Kubernetes setup) the default in-process registry is used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("nabla.access")

REQUESTS = Counter(
    "nabla_requests_total",
    "HTTP requests by route, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "nabla_request_duration_seconds",
    "Request latency by route and status.",
    ["route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
POINTS = Counter("nabla_points_computed_total", "Points evaluated, by route.", ["route"])
CACHE = Counter(
    "nabla_expression_cache_total", "Expression parse-cache lookups by result.", ["result"]
)
REJECTIONS = Counter("nabla_rejections_total", "Client errors by reason.", ["reason"])
# Big requests holding or waiting for an admission slot (app.lifecycle); summed over
# the live workers in multiprocess mode.
HEAVY = Gauge(
    "nabla_heavy_requests",
    "Big requests holding an admission slot (state=held) or waiting for one (state=waiting).",
    ["state"],
    multiprocess_mode="livesum",
)
QUEUED = Gauge(
    "nabla_compute_requests",
    "Requests computing in, or waiting for, a compute process (app.lifecycle).",
    multiprocess_mode="livesum",
)


def record_parse(hit: bool) -> None:
    _cache_lookups("hit" if hit else "miss").inc()


def record_parses(*, hits: int, misses: int) -> None:
    """Parse-cache lookups made in a compute process (app.processes)."""
    if hits:
        _cache_lookups("hit").inc(hits)
    if misses:
        _cache_lookups("miss").inc(misses)


@functools.cache  # `labels` costs ~5 µs a call; a child, once made, is the same object
def _cache_lookups(result: str) -> Any:
    return CACHE.labels(result=result)


@functools.lru_cache(maxsize=1024)  # routes × methods × statuses: a few dozen in use
def _children(route: str, method: str, status: int) -> tuple[Any, Any, Any]:
    """The request's metric children, made once: `labels` costs ~1.7 µs a call, this 0.14."""
    return (
        REQUESTS.labels(route=route, method=method, status=str(status)),
        LATENCY.labels(route=route, status=str(status)),
        POINTS.labels(route=route),
    )


def metrics(request: Request) -> Response:
    """The Prometheus exposition of this process, or of all workers in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ObservabilityMiddleware:
    """Times each request; logs one line and updates the metrics when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = finished = False

        async def observe(message: Message) -> None:
            nonlocal status, started, finished
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, observe)
        except asyncio.CancelledError:
            # uvicorn cancels a request's task only when the graceful shutdown's 30 s have
            # run out: the request was not the client's error nor the app's, and its answer
            # is a 503 (if none has started) rather than a 500 and a traceback in the log.
            if not started:
                status = 503
                await _send_shutdown_answer(send)
        finally:
            self.record(scope, status, time.perf_counter() - start, started and not finished)

    @staticmethod
    def record(scope: Scope, status: int, seconds: float, cut_short: bool = False) -> None:
        """The access line and the metrics; `cut_short`: the answer started and did not
        end (its client left, or its compute process died mid-answer)."""
        route = _route_label(scope)
        state = scope.get("state", {})
        points = state.get("points")
        if "rejection" in state:
            REJECTIONS.labels(reason=state["rejection"]).inc()
        requests, latency, computed = _children(route, scope["method"], status)
        requests.inc()
        latency.observe(seconds)
        if points:
            computed.inc(points)
        access_logger.info(
            "%s %s %d%s",
            scope["method"],
            scope["path"],
            status,
            " cut short" if cut_short else "",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "points": points,
            }
            | ({"cut_short": True} if cut_short else {}),
        )


SHUTDOWN_ANSWER = orjson.dumps(
    {
        "detail": "the server is shutting down and could not finish this request; retry.",
        "type": "overloaded",
        "reason": "shutdown",
    }
)


async def _send_shutdown_answer(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(SHUTDOWN_ANSWER)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    try:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": SHUTDOWN_ANSWER})
    except Exception:  # the connection may be gone already: nothing to answer
        return


def _route_label(scope: Scope) -> str:
    """The route's path template (`/static/{path}` for files). FastAPI marks the scope of
    its own routes only, and only once routing reached them: the others (`/openapi.json`,
    `/metrics`, `/static`) and requests refused before routing (a 413 on the declared
    length) are matched here, by path."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    probe = {"type": "http", "method": "GET", "path": scope["path"], "root_path": ""}
    for candidate in _routes(scope.get("app")):
        match, _ = candidate.matches(probe)
        if match is not Match.NONE:
            return str(candidate.path) + ("/{path}" if isinstance(candidate, Mount) else "")
    return "unmatched"


@functools.lru_cache(maxsize=16)
def _routes(app: Any) -> tuple[Any, ...]:
    """The app's routes that have a path, those of included routers too (FastAPI wraps
    each `include_router` in an object that keeps the router as `original_router`)."""
    found: list[Any] = []
    pending = list(getattr(app, "routes", ()))
    while pending:
        route = pending.pop(0)
        if isinstance(getattr(route, "path", None), str):
            found.append(route)
        else:
            pending.extend(getattr(getattr(route, "original_router", None), "routes", ()))
    return tuple(found)


# ---------------------------------------------------------------- logging

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields.

    With orjson and the time's text made once a second: the access line of every request
    took 40 µs in the server with `json.dumps` and `strftime` each time, an eighth of a
    1-point /derivative."""

    _second = -1
    _time_text = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._time_text = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        line: dict[str, Any] = {
            "time": self._time_text,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the `nabla` loggers (uvicorn keeps its own)."""
    logger = logging.getLogger("nabla")
    if not any(isinstance(h.formatter, JSONFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JSONFormatter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    # Each record otherwise looks up its thread's, process's and multiprocessing process's
    # names, which no line of Nabla's prints.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
