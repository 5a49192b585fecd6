"""The ASGI application: wiring only."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.config import Settings, get_settings
from app.encodings import install_encodings
from app.errors import install_error_handlers
from app.lifecycle import SWITCH_INTERVAL, Lifecycle
from app.memory import limit_malloc_arenas
from app.middleware import BodyLimitMiddleware, ReadsMiddleware, TrailingSlashMiddleware
from app.observability import ObservabilityMiddleware, configure_logging, metrics
from app.pages import install_pages
from app.routes import router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # ASGI lifespan state: how uvicorn's protocol (app.protocol) gets this app's limits
        # and sees when its compute queue is full.
        sys.setswitchinterval(SWITCH_INTERVAL)  # the event loop's turns at the GIL
        limit_malloc_arenas()
        app.state.lifecycle.start()
        yield {"settings": settings, "lifecycle": app.state.lifecycle}
        app.state.lifecycle.close()  # after the graceful shutdown: nothing is computing

    app = FastAPI(
        title="Nabla",
        version="0.1.0",
        summary="Numerical derivatives, gradients and gradient fields of math expressions.",
        docs_url=None,  # served offline by app.pages
        redoc_url=None,
        lifespan=lifespan,
    )
    # Read by routes from `request.app.state` (tests build apps with other limits): a
    # dependency would cost every request a resolution step.
    app.state.settings = settings
    app.state.lifecycle = Lifecycle(
        heavy_slots=settings.max_heavy_requests,
        threads=settings.compute_threads,
        queue=settings.max_queued,
        max_wait=settings.max_queue_wait,
        processes=settings.compute_processes,
        timeout=settings.compute_timeout,
    )
    install_error_handlers(app)
    # The routes themselves, not `include_router`: FastAPI then matched each request twice
    # (the included router's, then the route's), ~11% of a 1-point /derivative's app time.
    # The OpenAPI document is the same (tests/test_openapi.py).
    app.router.routes.extend(router.routes)
    install_pages(app)
    app.add_route("/metrics", metrics, include_in_schema=False)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )
    install_encodings(app, settings)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ReadsMiddleware)
    app.add_middleware(ObservabilityMiddleware)
    return app


app = create_app()
