"""Apps for real servers in tests that need what the shipped app must never do or be.

Served by `conftest.Server(factory="name")` with `uvicorn --factory`.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.config import Settings
from app.main import create_app


def broken() -> FastAPI:
    """The app, plus a route with a bug: what an unexpected error looks like on the wire."""
    app = create_app(Settings())

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("a bug")

    return app


def small_heads() -> FastAPI:
    """The app built with its own limit on request heads (2 KiB), whatever the environment
    says: the server's protocol must take the app's."""
    return create_app(Settings(max_header_bytes=2048))
