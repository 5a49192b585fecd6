"""Settings, read once from `NABLA_*` environment variables.

A mistake in them stops the process at start with one line per bad variable, naming it,
its value and what it takes (`SettingsError`), never a traceback or a default silently
kept: `NABLA_MAX_POINTS=abc` or a misspelt `NABLA_MAX_POINT` is caught before serving.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from functools import lru_cache
from typing import Annotated, Any

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.expressions import Limits

PREFIX = "NABLA_"
MIN_REQUEST_MEMORY = 64 << 20  # twice a request's working bytes (app.service)
# What Kubernetes puts in every pod of a namespace with a Service named `nabla` (service
# links): not settings, though NABLA_PORT itself collides (deploy/kubernetes turns the
# links off; `_explain` names the cause when they are on).
SERVICE_LINK = re.compile(r"^NABLA_(SERVICE_HOST|SERVICE_PORT.*|PORT_\d+_.*)$")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class Settings(BaseSettings):
    """Every knob an operator may turn; the README's configuration table mirrors this."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True)

    max_expression_length: int = Field(1000, ge=1, description="Characters per expression.")
    max_expression_depth: int = Field(64, ge=2, description="Nesting depth of an expression.")
    max_expression_nodes: int = Field(500, ge=1, description="Syntax-tree nodes per expression.")
    max_points: int = Field(1_000_000, ge=1, description="Points per request.")
    max_grid_points: int = Field(1_000_000, ge=1, description="Points of a gradient-field grid.")
    max_dimensions: int = Field(1000, ge=1, description="Variables (coordinates) per point.")
    max_parameters: int = Field(500, ge=1, description="Entries of a `parameters` map.")
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
    send_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a client may leave an answer unread before it is disconnected.",
    )
    body_idle_timeout: float = Field(
        10.0, gt=0, description="Seconds a request body may stop arriving before a 408."
    )
    min_body_rate: int = Field(
        4096,
        ge=1,
        description="Bytes per second a request body must average once it has taken "
        "`body_idle_timeout` to read; slower, a 408.",
    )
    min_send_rate: int = Field(
        131072,
        ge=1,
        description="Bytes per second a client must read on average once it has been "
        "behind for `send_timeout`; slower, it is disconnected.",
    )
    max_heavy_requests: int = Field(
        2, ge=1, description="Big requests in memory at once per process; others wait."
    )
    max_connections: int = Field(
        2048,
        ge=1,
        description="Open connections per process; more get a 503 (at most the open-file "
        "limit less 64).",
    )
    memory_budget: int = Field(
        640 * 1024 * 1024,
        ge=16 * 1024 * 1024,
        description="Bytes the requests of one process may hold at once; one request may "
        "hold this divided by `max_heavy_requests`.",
    )
    max_requests: int = Field(
        64,
        ge=1,
        description="Requests in progress per process; more get a 503 before their body "
        "is read (probes excepted).",
    )
    compute_threads: int = Field(
        0, ge=0, description="Requests computed at once, per process; 0: one per core."
    )
    compute_processes: bool = Field(
        True,
        description="Compute in processes of their own (app.processes), so that the "
        "event loop never waits for the GIL; false: on threads of the serving process.",
    )
    compute_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a request may compute before its compute process is killed "
        "and it gets a 413 (`reason: time`); with compute processes only.",
    )
    max_queued: int = Field(
        64,
        ge=0,
        description="Requests waiting for a compute process at most; more get a 503 (and "
        "fewer wait when their expected work would take `max_queue_wait`).",
    )
    max_queue_wait: float = Field(
        5.0,
        gt=0,
        description="Seconds the first waiting request may have waited before new ones get a 503.",
    )
    max_descent_steps: int = Field(10_000, ge=1, description="Iterations of /descent.")
    zstd_level: int = Field(
        1, ge=0, le=19, description="zstd level for clients that accept zstd; 0 turns it off."
    )
    brotli_quality: int = Field(
        1, ge=0, le=11, description="Brotli quality for clients that accept br; 0 turns it off."
    )
    gzip_level: int = Field(
        2,  # ISA-L's 2: as fast as its 1 (95 ms for 96 MB), 5% smaller, 10% faster to inflate
        ge=0,
        le=9,
        description="gzip level for clients that accept gzip (1-3 ISA-L's); 0 turns it off.",
    )
    compress_from_bytes: int = Field(
        1024, ge=0, description="Responses smaller than this are sent uncompressed."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Allowed CORS origins.",
    )
    log_level: str = Field("info", description="Log level of the `nabla` loggers.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes (`python -m app`).")
    host: str = Field("127.0.0.1", min_length=1, description="Address `python -m app` binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port `python -m app` listens on.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        """`https://a.example,https://b.example` or `["https://a.example"]`."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("not a valid JSON list") from None
        return [origin.strip() for origin in text.split(",") if origin.strip()]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError("unknown level")
        return value.lower()

    @model_validator(mode="after")
    def _room_for_a_request(self) -> Settings:
        """A budget that leaves a request less than its working bytes refuses everything."""
        if self.request_memory < MIN_REQUEST_MEMORY:
            raise ValueError(
                f"NABLA_MEMORY_BUDGET / NABLA_MAX_HEAVY_REQUESTS leaves "
                f"{self.request_memory >> 20} MiB per request; give each at least "
                f"{MIN_REQUEST_MEMORY >> 20} MiB (raise the budget or lower the requests)."
            )
        return self

    @property
    def request_memory(self) -> int:
        """Bytes one request may hold: `max_heavy_requests` of them fit in the budget."""
        return self.memory_budget // self.max_heavy_requests

    @property
    def limits(self) -> Limits:
        return Limits(
            max_length=self.max_expression_length,
            max_depth=self.max_expression_depth,
            max_nodes=self.max_expression_nodes,
        )


class SettingsError(SystemExit):
    """Bad `NABLA_*` variables: exits the process with its message (no traceback)."""


@lru_cache
def get_settings() -> Settings:
    """The process's settings, from the environment; `SettingsError` if any is wrong."""
    unknown = _unknown_variables(os.environ)
    if unknown:
        raise SettingsError(_at_most_three(unknown))
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_at_most_three([_explain(e) for e in exc.errors()])) from None


def _at_most_three(lines: list[str]) -> str:
    if len(lines) > 3:
        lines = [*lines[:2], f"{lines[2]} (and {len(lines) - 3} more)"]
    return "\n".join(lines)


def _unknown_variables(environ: os._Environ[str] | dict[str, str]) -> list[str]:
    names = [f"{PREFIX}{field.upper()}" for field in Settings.model_fields]
    lines = []
    for variable in sorted(environ):
        name = variable.upper()  # pydantic-settings reads them whatever the case
        if name.startswith(PREFIX) and name not in names and not SERVICE_LINK.match(name):
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; the settings are {PREFIX}*."
            lines.append(f"{variable} is not a Nabla setting{hint}")
    return lines


def _explain(error: Any) -> str:
    """`NABLA_MAX_POINTS='abc' is invalid: expected a whole number ≥ 1 (points per request).`"""
    if not error["loc"]:  # a rule across settings: its message says it all
        return str(error["msg"]).removeprefix("Value error, ")
    field = str(error["loc"][0])
    value = error.get("input")
    shown = repr(value if len(str(value)) <= 60 else str(value)[:57] + "...")
    line = f"{PREFIX}{field.upper()}={shown} is invalid: expected {_expected(field)}."
    if field == "port" and str(value).startswith("tcp://"):
        line += " Kubernetes set it for a Service named `nabla`: set `enableServiceLinks: false`."
    return line


def _expected(field: str) -> str:
    info = Settings.model_fields[field]
    kinds = {int: "a whole number", float: "a number", str: "text"}
    kind = kinds.get(info.annotation, "a comma-separated list or a JSON list of strings")  # type: ignore[arg-type]
    if field == "log_level":
        kind = "one of " + ", ".join(LOG_LEVELS)
    rules = {type(rule).__name__: rule for rule in info.metadata}
    ge, gt, le = rules.get("Ge"), rules.get("Gt"), rules.get("Le")
    if isinstance(ge, annotated_types.Ge) and isinstance(le, annotated_types.Le):
        kind += f" from {ge.ge} to {le.le}"
    elif isinstance(ge, annotated_types.Ge):
        kind += f" ≥ {ge.ge}"
    elif isinstance(gt, annotated_types.Gt):
        kind += f" > {gt.gt}"
    described = (info.description or "").rstrip(".")
    return f"{kind} ({described[0].lower() + described[1:]})" if described else kind
