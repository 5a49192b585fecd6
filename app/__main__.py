"""`python -m app`: run uvicorn on `app.main:app` with the `NABLA_*` settings.

The one place that says how Nabla is served: `make run` and the Docker image's CMD both
start this, so the protocol, the graceful-shutdown timeout and the logging are the same.

With `NABLA_WORKERS` > 1 uvicorn forks that many worker processes (each its own GIL, so
CPU-bound requests scale across cores) and restarts any that dies; Prometheus metrics
are then shared through files in a fresh `PROMETHEUS_MULTIPROC_DIR`.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile

import uvicorn

from app.config import SettingsError, get_settings


def main() -> None:
    settings = get_settings()  # exits with one line per bad NABLA_* variable
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default=settings.host, help="default: NABLA_HOST")
    parser.add_argument("--port", type=int, default=settings.port, help="default: NABLA_PORT")
    args = parser.parse_args()
    _check_address(args.host, args.port)
    if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nabla-metrics-")
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # Nabla logs one JSON line per request itself
        http="app.protocol:HttpProtocol",  # unparseable requests get a JSON 400 too
        # asyncio's loop, not uvloop's: under 500 connections of small requests uvloop
        # served none of the new ones (a /health probe waited for the whole 3-10 s storm);
        # asyncio's accepted them and /health took 0.06-0.1 s (docs/reliability.md §5).
        loop="asyncio",
        timeout_graceful_shutdown=30,
    )


def _check_address(host: str, port: int) -> None:
    """Bind the address once before uvicorn does, so that a wrong one stops the start in
    one line naming the setting (uvicorn's own error is six lines of its log)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(
            f"NABLA_HOST={host!r} / NABLA_PORT={port} cannot be listened on: {reason}; use an "
            "address of this machine (0.0.0.0 for all) and a free port."
        ) from None


if __name__ == "__main__":
    main()
