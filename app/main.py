"""The ASGI application: wiring only."""

from __future__ import annotations

from fastapi import FastAPI

from app.config import Settings, get_settings
from app.errors import install_error_handlers
from app.routes import router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Nabla",
        version="0.1.0",
        summary="Numerical derivatives, gradients and gradient fields of math expressions.",
    )
    app.state.settings = settings
    app.dependency_overrides[get_settings] = lambda: settings
    install_error_handlers(app)
    app.include_router(router)
    return app


app = create_app()
