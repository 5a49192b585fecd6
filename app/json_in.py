"""Strict JSON in: every POST body is read, sized, parsed and validated here.

FastAPI parses bodies with `json.loads`, which accepts NaN, Infinity and duplicate keys,
and does it on the event loop. Here every POST body is parsed by `parse_json` (jiter):
duplicate keys, NaN/Infinity, invalid UTF-8 and lone surrogates are refused; a body is
measured on its raw bytes before it is parsed (`check_structure`), and large bodies are
parsed and validated where they are computed (`RawBody`: in a compute process,
app.processes), so that the event loop, and `/health`, never wait for them.
"""

from __future__ import annotations

import inspect
import pickle
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jiter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from app.config import Settings
from app.errors import (
    ClientGoneError,
    InvalidBodyError,
    MalformedBodyError,
    OverloadedError,
    TooLargeError,
    UnsupportedMediaError,
    validation_detail,
)

if TYPE_CHECKING:  # FastAPI's body field type lives in a private module: types only
    from fastapi._compat import ModelField

    from app.lifecycle import Admission, Lifecycle

HEAVY_BODY_BYTES = 64 * 1024  # about 3,500 points as JSON: read with an admission slot
INLINE_PARSE_BYTES = HEAVY_BODY_BYTES  # below this, handing the bytes over costs more
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(body: bytes) -> Any:
    """Strict JSON: duplicate keys, `NaN`/`Infinity`, invalid UTF-8, lone surrogates and
    nesting over 200 levels are refused, where `json.loads` accepts all but the last.

    jiter is pydantic's own parser: 4× faster than `json.loads` on a 21 MB body of points
    (65 ms against 280 ms, time in which the GIL is held and /health waits).
    """
    try:
        return jiter.from_json(
            body, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys"
        )
    except ValueError as exc:
        raise MalformedBodyError(_explained(body, str(exc))) from None


_POSITION = re.compile(r" at line (\d+) column (\d+)$")
_DUPLICATE = re.compile(r'^Detected duplicate key "(.*)" at line')


def _explained(body: bytes, message: str) -> str:
    """jiter's message, in the words of the other errors."""
    duplicate = _DUPLICATE.match(message)
    if duplicate:
        key = duplicate.group(1)
        key = key if len(key) <= 40 else key[:20] + "..."  # the client's text: never all of it
        return f"the key `{key}` appears twice in one object."
    if "recursion limit" in message:
        return "the body is nested too deeply."
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not valid UTF-8."
    if ("surrogate" in message or "hex escape" in message) and _SURROGATE_ESCAPE.search(body):
        return "the body contains a lone UTF-16 surrogate."
    constant = _constant_at(body, _POSITION.search(message))
    if constant:
        return f"`{constant}` is not a JSON number; send finite numbers only."
    return f"the body is not valid JSON: {message}."


def _constant_at(body: bytes, position: re.Match[str] | None) -> str | None:
    """`NaN`, `Infinity` or `-Infinity` where jiter stopped (its columns count bytes)."""
    if position is None:
        return None
    line, column = int(position.group(1)), int(position.group(2))
    start = sum(len(text) + 1 for text in body.split(b"\n", line - 1)[: line - 1])
    at = start + column - 1
    for name in ("NaN", "Infinity"):
        if body.startswith(name.encode(), at):
            return "-Infinity" if name == "Infinity" and body[at - 1 : at] == b"-" else name
    return None


@dataclass(frozen=True)
class RawBody:
    """A body over INLINE_PARSE_BYTES as it came, parsed and validated where it is computed
    (app.lifecycle): parsing and validating 18 MB of points takes about half a second of
    the GIL, which the event loop (and /health) must not wait for."""

    raw: bytes
    model: type[BaseModel]

    def parsed(self, settings: Settings) -> Any:
        """The validated model; a validation error already in its JSON shape (it may be
        raised in a compute process, where there is no request to render it)."""
        try:
            return _parse_and_validate(self.raw, self.model, settings)
        except RequestValidationError as exc:
            detail = validation_detail(list(exc.errors()), self.model)
            raise InvalidBodyError(detail) from None

    def __reduce_ex__(self, protocol: Any) -> Any:
        # With pickle protocol 5 and a buffer callback (app.processes) the bytes go to the
        # compute process as they are, not copied into the pickle.
        return (RawBody, (pickle.PickleBuffer(self.raw), self.model))


async def read_body(request: Request, field: ModelField) -> Any:
    """The body validated against `field` (FastAPI's own validation, errors and all), or a
    big one as a `RawBody`. A big body is read only with an admission slot."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    length = request.headers.get("content-length")
    if length is None or int(length) > HEAVY_BODY_BYTES:  # a number: BodyLimitMiddleware
        try:
            await lifecycle.admission.enter(request)
        except OverloadedError as refusal:
            refusal.unread_body = True
            raise
    try:
        raw = await request.body()  # within NABLA_BODY_TIMEOUT: app.protocol
    except ClientDisconnect:
        # Gone before the whole body came (or timed out by app.protocol): nobody to answer,
        # but it is the client's doing, not a 500 with a traceback in the log.
        raise ClientGoneError(
            "the client closed the connection before sending the whole body."
        ) from None
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    model = field.field_info.annotation
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    if len(raw) > INLINE_PARSE_BYTES:
        return RawBody(raw, model)
    return _parse_and_validate(raw, model, request.app.state.settings)


# What parsing makes of a body, in bytes per JSON token: a list (56 B + its pointer in the
# parent), a dict of a few keys (216 B), each further key (48 B), each element (an 8 B
# pointer and a 24 B float), each string (49 B + its text, counted in the body). Measured
# with tracemalloc on jiter's output: a bound within 1.0-1.5x for lists of numbers and
# objects, 3.4x for lists of empty objects, which no request has.
PARSED_BYTES = {b"[": 64, b"{": 216, b":": 48, b",": 32}
STRING_BYTES = 49


def parsed_cost(raw: bytes) -> int:
    """An upper bound on the memory of the parsed and validated body (validation copies
    the containers once more: twice the parsed bound), counted on the raw bytes."""
    tokens = sum(raw.count(token) * size for token, size in PARSED_BYTES.items())
    strings = raw.count(b'"') // 2 * STRING_BYTES
    return 2 * (tokens + strings) + len(raw)


def check_structure(raw: bytes, settings: Settings) -> None:
    """Refuse, before it is parsed, a body that would cost more memory than one request may
    hold, or that has more object entries or arrays than any request needs: a million-key
    `parameters` map took 1.5 GiB and a second of the GIL to parse, 2.5 million nested
    empty arrays 2.3 s of /health."""
    slack = 256 + settings.max_expression_length  # the fields; brackets inside expressions
    entries = raw.count(b":")
    if entries > settings.max_parameters + slack:
        raise TooLargeError(
            f"the body has {entries} object entries; a request needs at most "
            f"{settings.max_parameters + slack} (`parameters` holds at most "
            f"{settings.max_parameters}).",
            reason="body",
        )
    arrays = raw.count(b"[")
    if arrays > settings.max_points + slack:
        raise TooLargeError(
            f"the body has {arrays} arrays; a request needs at most "
            f"{settings.max_points + slack} (one per point, `max_points` {settings.max_points}).",
            reason="body",
        )
    cost = parsed_cost(raw)
    if cost > settings.request_memory:
        raise TooLargeError(
            f"the body would take about {cost >> 20} MiB once parsed; a request may hold "
            f"{settings.request_memory >> 20} MiB; send fewer points, or use `range`/`grid` "
            "specs instead of explicit lists.",
            reason="memory",
        )


def _parse_and_validate(raw: bytes, model: type[BaseModel], settings: Settings) -> Any:
    """The model, validated with the limits in its context (lists and maps are measured
    before their items are validated: app.schemas)."""
    if len(raw) > INLINE_PARSE_BYTES:  # a small body parses within a few MiB, whatever it is
        check_structure(raw, settings)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise MalformedBodyError(
            f"the body is a JSON {_json_kind(data)}; send one JSON object of the request's "
            'fields, such as `{"expression": "x**2", "points": [1, 2]}`.'
        )
    try:
        return model.model_validate(data, context={"settings": settings})
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _check_not_encoded(encoding: str | None) -> None:
    """Bodies are read as they come: a compressed one would be refused as bad JSON (or, if
    it happened to parse, read as something the client did not mean)."""
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return
    shown = encoding.strip()[:40]
    raise UnsupportedMediaError(
        f"the body is sent with `Content-Encoding: {shown}`; Nabla reads uncompressed JSON "
        "only: send it without `Content-Encoding`."
    )


class StrictJSONRoute(APIRoute):
    """An APIRoute that parses JSON strictly, refuses other media types, and validates the
    body against the endpoint's model itself.

    A POST endpoint here takes exactly `(body: SomeModel, request: Request)` and returns a
    Response, so FastAPI's per-request dependency solving (which costs a 1-point
    /derivative about as much as computing it) has nothing to do: the handler parses,
    validates and calls the endpoint. FastAPI still reads
    the signature for OpenAPI, and the body is validated by the same field FastAPI would
    use, errors and all (`RequestValidationError`). Other routes are FastAPI's.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.body_field is None:
            return super().get_route_handler()
        field = self.body_field
        model = field.field_info.annotation
        assert isinstance(model, type)
        endpoint = self.endpoint
        parameters = list(inspect.signature(endpoint).parameters.values())
        if [p.annotation for p in parameters] not in (
            [model, Request],
            [model.__name__, "Request"],  # postponed annotations
        ):
            raise TypeError(f"{endpoint.__name__} must take (body: {model.__name__}, request)")

        async def route(request: Request) -> Response:
            if not _is_json(request.headers.get("content-type")):
                raise UnsupportedMediaError(
                    "send the body as JSON with `Content-Type: application/json`."
                )
            _check_not_encoded(request.headers.get("content-encoding"))
            admission: Admission = request.app.state.lifecycle.admission
            try:
                body = await read_body(request, field)
                response: Response = await endpoint(body, request)
            except BaseException:
                admission.leave(request)
                raise
            return admission.until_sent(response, request)

        return route
