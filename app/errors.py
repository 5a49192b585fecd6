"""Every error a client can cause, and the one place that renders them.

    NablaError                  a client error: HTTP 4xx, JSON body, never a stack trace
    ├── ExpressionError         422  the expression text is refused (names its column)
    ├── RequestError            422  the request is well-formed JSON but asks for nonsense
    │   └── MethodError         422  the method cannot be used here (complex step on `abs`)
    ├── TooLargeError           413  body, points, grid or work budget over the limit
    │   └── HeadersTooLargeError 431 request line and headers over the limit
    ├── UnsupportedMediaError   415  the body is not `application/json`
    ├── MalformedBodyError      422  the body is not strict JSON (NaN, duplicate keys, ...)
    ├── InvalidBodyError        422  a big body failed validation (in a compute process)
    ├── BadHeaderError          400  a header makes no sense (`Content-Length: abc`)
    ├── MalformedHTTPError      400  not HTTP/1.1 at all: uvicorn's parser refused it
    ├── HeaderTimeoutError      408  the headers did not arrive in time
    ├── BodyTimeoutError        408  the body did not arrive in time
    ├── OverloadedError         503  the server is at its connection or work limit; retry
    └── ClientGoneError         499  the client left before its body was sent (nginx's code)

The taxonomy itself is plain Python (the engine raises it without any HTTP around);
only `install_error_handlers` knows about the web framework.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic import BaseModel
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("nabla.errors")


class NablaError(Exception):
    """A client error: a one-sentence `detail` plus optional machine-readable context."""

    status_code = 422
    kind = "invalid_request"

    def __init__(self, detail: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.context = context

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "type": self.kind}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.context)
        return body

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a compute process and raised again in the server's (app.processes):
        # pickle's default would call `cls(detail)`, which keyword-only fields refuse.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[NablaError], args: tuple[Any, ...], state: dict[str, Any]) -> NablaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ExpressionError(NablaError):
    kind = "invalid_expression"

    def __init__(self, detail: str, *, column: int | None = None) -> None:
        if column is None:
            super().__init__(detail, field="expression")
        else:
            super().__init__(detail, field="expression", column=column)


class RequestError(NablaError):
    kind = "invalid_request"


class MethodError(RequestError):
    kind = "unsupported_method"


class TooLargeError(NablaError):
    status_code = 413
    kind = "too_large"

    def __init__(self, detail: str, *, reason: str, **context: Any) -> None:
        super().__init__(detail, reason=reason, **context)
        self.reason = reason


class HeadersTooLargeError(TooLargeError):
    status_code = 431


class UnsupportedMediaError(NablaError):
    status_code = 415
    kind = "unsupported_media_type"


class MalformedBodyError(NablaError):
    status_code = 422
    kind = "malformed_json"


class BadHeaderError(NablaError):
    status_code = 400
    kind = "bad_header"


class MalformedHTTPError(NablaError):
    status_code = 400
    kind = "malformed_http"


class HeaderTimeoutError(NablaError):
    status_code = 408
    kind = "header_timeout"


class BodyTimeoutError(NablaError):
    status_code = 408
    kind = "body_timeout"


class OverloadedError(NablaError):
    """The server is at a limit of its own (connections, queued work): come back soon."""

    status_code = 503
    kind = "overloaded"
    retry_after = 1  # seconds, sent as `Retry-After`

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason
        # Refused before its body was read: the connection is closed after the answer,
        # rather than the body read (and thrown away) to keep it open. A 17 MB body,
        # refused and read a hundred times a second, took the event loop from /health.
        self.unread_body = False


class InvalidBodyError(NablaError):
    """A validation error already in its JSON shape (`validation_detail`): made where the
    body was validated, in a compute process for a big body (app.json_in)."""

    kind = "validation_error"

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["detail"])
        self.body = body

    def to_json(self) -> dict[str, Any]:
        return self.body


class ClientGoneError(NablaError):
    # Never delivered (there is no one to deliver it to); logged and counted as a 4xx.
    status_code = 499
    kind = "client_disconnected"


def validation_detail(
    errors: list[dict[str, Any]], model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """Pydantic errors → our JSON shape, in the user's words (app.field_errors), without
    echoing the (possibly huge or NaN) input."""
    from app.field_errors import location, message, unknown_fields

    first = errors[0]
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") == "missing":
        return {
            "detail": "the request body is empty; send a JSON object such as "
            '`{"expression": "x**2", "points": [1, 2]}`.',
            "type": "empty_body",
        }
    # A misspelt field is reported before the required field it leaves missing.
    ordered = sorted(errors, key=lambda e: e.get("type") != "extra_forbidden")
    summary = [
        {
            "field": location(tuple(e.get("loc", ()))),
            "message": message(e, model),
            "type": e["type"],
        }
        for e in ordered[:5]  # a handful: a client's list of errors is not echoed back
    ]
    extra = [e["loc"][-1] for e in ordered if e["type"] == "extra_forbidden" and len(e["loc"]) == 2]
    combined = unknown_fields([str(n) for n in extra], model) if len(extra) > 1 else None
    return {
        "detail": combined or summary[0]["message"],
        "type": "validation_error",
        "field": summary[0]["field"],
        "errors": summary,
    }


def _render(
    status_code: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    from starlette.responses import Response

    return Response(
        orjson.dumps(body), status_code=status_code, headers=headers, media_type="application/json"
    )


async def _nabla_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NablaError)
    request.state.rejection = getattr(exc, "reason", exc.kind)
    logger.info(
        "client error",
        extra={"path": request.url.path, "status": exc.status_code, "detail": exc.detail},
    )
    headers = None
    if isinstance(exc, OverloadedError):
        headers = {"Retry-After": str(exc.retry_after)}
        if exc.unread_body:
            headers["Connection"] = "close"
    return _render(exc.status_code, exc.to_json(), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    request.state.rejection = "validation_error"
    return _render(422, validation_detail(list(exc.errors()), _body_model(request)))


def _body_model(request: Request) -> type[BaseModel] | None:
    """The request model of the route that refused the body: its fields, for "did you mean"."""
    from pydantic import BaseModel

    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


async def _http_error(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    body = {"detail": _http_detail(request, exc.status_code, exc.headers), "type": "http_error"}
    if exc.status_code == 405:
        body["type"] = "method_not_allowed"
    elif exc.status_code == 404:
        body["type"] = "not_found"
    else:
        body["detail"] = str(exc.detail)
    # Keep the exception's headers: a 405 must say `Allow: GET` (RFC 9110).
    return _render(exc.status_code, body, exc.headers)


def _http_detail(request: Request, status: int, headers: Mapping[str, str] | None) -> str:
    """405 and 404 in one sentence with the fix: the method to use, the path meant."""
    path = request.url.path
    shown = path if len(path) <= 60 else path[:40] + "..."
    if status == 405:
        allowed = (headers or {}).get("Allow", "")
        if "POST" in allowed:
            return f"`{request.method} {shown}` is not allowed; send `POST` with a JSON body."
        return f"`{request.method} {shown}` is not allowed; use `{allowed or 'GET'}`."
    paths = sorted(request.app.openapi().get("paths", {}))  # built once, then cached
    close = difflib.get_close_matches(path, paths, n=1, cutoff=0.7)
    if close:
        return f"there is no `{shown}`; did you mean `{close[0]}`?"
    return f"there is no `{shown}`; the endpoints are listed at /docs."


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug, not a client error: log everything needed to reproduce, tell the client nothing
    # about internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    # Starlette re-raises the error after this answer, and uvicorn then drops the
    # connection: saying so lets the client open a new one instead of failing its next
    # request on a reset.
    body = {"detail": "Internal server error.", "type": "internal_error"}
    return _render(500, body, {"Connection": "close"})


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(NablaError, _nabla_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
