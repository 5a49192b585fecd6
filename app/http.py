"""The HTTP edge: body limits, strict JSON parsing, fast responses, one log line per request.

FastAPI parses bodies with `json.loads`, which accepts NaN, Infinity and duplicate keys,
and does it on the event loop. Here every POST body is parsed by `parse_json` (jiter):
duplicate keys, NaN/Infinity, invalid UTF-8 and lone surrogates are refused, and large
bodies are parsed and validated in the threadpool so that `/health` stays responsive.
Responses are orjson straight from NumPy; big ones are streamed, grid coordinates written
from the axes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import jiter
import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import (
    BadHeaderError,
    ClientGoneError,
    MalformedBodyError,
    NablaError,
    TooLargeError,
    UnsupportedMediaError,
)
from app.lifecycle import HEAVY_BODY_BYTES, Admission, Lifecycle
from app.numerics import GridPoints

if TYPE_CHECKING:  # FastAPI's body field type lives in a private module: types only
    from fastapi._compat import ModelField

INLINE_PARSE_BYTES = 64 * 1024  # below this, a thread hop costs more than the parse
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


# ---------------------------------------------------------------- JSON in


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


async def read_body(request: Request, field: ModelField) -> Any:
    """The body parsed and validated against `field` (FastAPI's own validation, errors and
    all). Bodies over INLINE_PARSE_BYTES are handled in the threadpool: parsing and
    validating 18 MB of points takes about half a second, which the event loop (and
    /health) must not wait for. A big body is read only with an admission slot."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    length = request.headers.get("content-length")
    if length is None or int(length) > HEAVY_BODY_BYTES:  # a number: BodyLimitMiddleware
        await lifecycle.admission.enter(request)
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
    settings = request.app.state.settings
    if len(raw) <= INLINE_PARSE_BYTES:
        return _parse_and_validate(raw, field, settings)
    return await lifecycle.scheduler.run(_parse_and_validate, raw, field, settings)


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
    hold, or that has more objects or entries than any request needs (a million-key
    `parameters` map took 1.5 GiB and a second of the GIL to parse)."""
    slack = 256 + settings.max_expression_length  # the fields; brackets inside expressions
    entries = raw.count(b":")
    if entries > settings.max_parameters + slack:
        raise TooLargeError(
            f"the body has {entries} object entries; a request needs at most "
            f"{settings.max_parameters + slack} (`parameters` holds at most "
            f"{settings.max_parameters}).",
            reason="body",
        )
    cost = parsed_cost(raw)
    if cost > settings.request_memory:
        raise TooLargeError(
            f"the body would take about {cost >> 20} MiB once parsed; a request may hold "
            f"{settings.request_memory >> 20} MiB. Send fewer points, or use `range`/`grid` "
            "specs instead of explicit lists.",
            reason="memory",
        )


def _parse_and_validate(raw: bytes, field: ModelField, settings: Settings) -> Any:
    """The model, validated with the limits in its context (lists and maps are measured
    before their items are validated: app.schemas)."""
    model = field.field_info.annotation
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    check_structure(raw, settings)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise MalformedBodyError(
            f"the body is a JSON {_json_kind(data)}; send a JSON object of the request's fields."
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


# ---------------------------------------------------------------- JSON out


NUMPY = orjson.OPT_SERIALIZE_NUMPY
PIECE = 1 << 16  # floats per encoded piece of a large array (about 1.3 MB of JSON)
STREAM_FROM = 1 << 18  # floats in a payload from which it is streamed


class NumpyJSONResponse(Response):
    """orjson straight from NumPy arrays: no `jsonable_encoder`, NaN/inf become null."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=NUMPY, default=_spelled_out)


def _spelled_out(value: Any) -> Any:
    if isinstance(value, GridPoints):
        return value.materialize()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _size(value: Any) -> int:
    return value.size if isinstance(value, np.ndarray | GridPoints) else 0


def json_response(payload: dict[str, Any]) -> Response:
    """Small payloads in one piece; large ones streamed while they are encoded.

    Encoding a 10⁶-point field takes longer than computing it: streaming overlaps the
    encoding (in the threadpool, piece by piece) with sending and with the client's reading.
    """
    size = sum(_size(v) for v in payload.values())
    if size < STREAM_FROM:
        return NumpyJSONResponse(payload)
    return StreamingResponse(_buffered(json_pieces(payload)), media_type="application/json")


def json_pieces(payload: dict[str, Any]) -> Iterator[bytes]:
    """The same bytes as `orjson.dumps(payload)`, in pieces: large arrays a slice at a time."""
    yield b"{"
    for i, (key, value) in enumerate(payload.items()):
        yield (b"," if i else b"") + orjson.dumps(key) + b":"
        yield from _value_pieces(value)
    yield b"}"


def _value_pieces(value: Any) -> Iterator[bytes]:
    if isinstance(value, GridPoints):
        yield from _grid_pieces(value)
        return
    if not (isinstance(value, np.ndarray) and value.size > PIECE):
        yield orjson.dumps(value, option=NUMPY)
        return
    yield b"["
    if value.ndim == 1:
        for start in range(0, len(value), PIECE):
            encoded = orjson.dumps(np.ascontiguousarray(value[start : start + PIECE]), option=NUMPY)
            yield (b"," if start else b"") + encoded[1:-1]  # drop the slice's [ ]
    else:
        for i, row in enumerate(value):
            yield b"," if i else b""
            yield from _value_pieces(row)
    yield b"]"


PIECE_BYTES = 1 << 20  # JSON per piece when text is repeated rather than encoded


def _grid_pieces(points: GridPoints) -> Iterator[bytes]:
    """The JSON of `points.materialize()` without materializing: each axis value is encoded
    once and its text repeated, as the grid repeats it (bytes repetition runs at memcpy
    speed, encoding floats at ~50 MB/s)."""
    yield b"["
    for i, axis in enumerate(points.axes):
        yield b"," if i else b""
        outer, inner = points.layout(i)
        if outer * inner < 4:  # the row is (nearly) the axis itself: nothing to repeat
            yield from _value_pieces(np.tile(np.repeat(axis, inner), outer))
            continue
        texts = orjson.dumps(axis, option=NUMPY)[1:-1].split(b",")
        runs = [(text + b",") * inner for text in texts]  # one period of the row, comma-ended
        yield b"["
        yield from _without_last_comma(_tiled(runs, outer))
        yield b"]"
    yield b"]"


def _tiled(runs: list[bytes], outer: int) -> Iterator[bytes]:
    period = sum(len(run) for run in runs)
    if period > PIECE_BYTES:
        for _ in range(outer):
            yield from runs
        return
    joined = b"".join(runs)
    per_piece = max(1, PIECE_BYTES // period)
    for start in range(0, outer, per_piece):
        yield joined * min(per_piece, outer - start)


def _without_last_comma(pieces: Iterator[bytes]) -> Iterator[bytes]:
    previous = None
    for piece in pieces:
        if previous is not None:
            yield previous
        previous = piece
    if previous is not None:
        yield previous[:-1]


def _buffered(pieces: Iterator[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """Join small pieces (each chunk costs a thread hop and a socket write); pass big ones
    through uncopied."""
    small: list[bytes] = []
    pending = 0
    for piece in pieces:
        if len(piece) >= size:
            if small:
                yield b"".join(small)
                small, pending = [], 0
            yield piece
            continue
        small.append(piece)
        pending += len(piece)
        if pending >= size:
            yield b"".join(small)
            small, pending = [], 0
    if small:
        yield b"".join(small)


# ---------------------------------------------------------------- middleware


class HeadAsGetMiddleware:
    """HEAD is GET without the body (RFC 9110 §9.3.2), on every GET route.

    The app sees GET; uvicorn, which keeps its own scope with HEAD, writes the headers
    (Content-Length included) and drops the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        inner = {**scope, "method": "GET"}
        try:
            await self.app(inner, receive, send)
        finally:
            for key in ("route", "state"):  # for the metrics and the access log
                if key in inner:
                    scope[key] = inner[key]


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length up front, and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        error: NablaError | None = None
        if length is not None and not length.isdigit():
            error = BadHeaderError("the Content-Length header is not a number.")
        elif length is not None and int(length) > self.max_bytes:
            error = self._too_large()
        if error is not None:
            scope.setdefault("state", {})["rejection"] = getattr(error, "reason", error.kind)
            body = orjson.dumps(error.to_json())
            response = Response(body, status_code=error.status_code, media_type="application/json")
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> TooLargeError:
        return TooLargeError(
            f"the request body is over {self.max_bytes} bytes; send fewer points or use "
            "`range`/`grid` specs instead of explicit lists.",
            reason="body",
        )
