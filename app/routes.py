"""HTTP routes: validated request in → expression → numerics → response out."""

from __future__ import annotations

from fastapi import APIRouter

from app.schemas import Health

router = APIRouter()


@router.get("/health", summary="Liveness and readiness probe")
def health() -> Health:
    return Health(status="ok")
