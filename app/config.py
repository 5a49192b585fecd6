"""Settings, read once from `NABLA_*` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.expressions import Limits


class Settings(BaseSettings):
    """Every knob an operator may turn; the README's configuration table mirrors this."""

    model_config = SettingsConfigDict(env_prefix="NABLA_", frozen=True)

    max_expression_length: int = Field(1000, ge=1, description="Characters per expression.")
    max_expression_depth: int = Field(64, ge=2, description="Nesting depth of an expression.")
    max_expression_nodes: int = Field(500, ge=1, description="Syntax-tree nodes per expression.")
    max_points: int = Field(1_000_000, ge=1, description="Points per request.")
    max_grid_points: int = Field(1_000_000, ge=1, description="Points of a gradient-field grid.")
    max_dimensions: int = Field(1000, ge=1, description="Variables (coordinates) per point.")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Request body size.")
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="Request line and headers, in bytes (`app.protocol`)."
    )
    header_timeout: float = Field(
        30.0, gt=0, description="Seconds from a request's first byte to the end of its headers."
    )
    max_work: int = Field(
        2_000_000_000,
        ge=1,
        description="Work budget: evaluations of f x (points x nodes + per-call overhead).",
    )
    body_timeout: float = Field(
        60.0, gt=0, description="Seconds from the end of a request's headers to its body's."
    )
    max_heavy_requests: int = Field(
        2, ge=1, description="Big requests in memory at once per process; others wait."
    )
    max_descent_steps: int = Field(10_000, ge=1, description="Iterations of /descent.")
    gzip_level: int = Field(
        1, ge=0, le=9, description="gzip level for clients that accept gzip; 0 turns it off."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins.")
    log_level: str = Field("info", description="Log level of the `nabla` loggers.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes (`make run`).")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_length=self.max_expression_length,
            max_depth=self.max_expression_depth,
            max_nodes=self.max_expression_nodes,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
