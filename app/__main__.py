"""`python -m app`: run uvicorn on `app.main:app` with the `NABLA_*` settings.

With `NABLA_WORKERS` > 1 uvicorn forks that many worker processes (each its own GIL, so
CPU-bound requests scale across cores) and restarts any that dies; Prometheus metrics
are then shared through files in a fresh `PROMETHEUS_MULTIPROC_DIR`.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import uvicorn

from app.config import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("NABLA_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("NABLA_PORT", "8000")))
    args = parser.parse_args()
    settings = get_settings()
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
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
