"""ASGI middleware of the HTTP edge: reads (HEAD as GET, no ranges), trailing slashes, and
the body limit."""

from __future__ import annotations

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BadHeaderError, NablaError, TooLargeError


class ReadsMiddleware:
    """GET and HEAD as Nabla serves them, on every GET route:

    - HEAD is GET without the body (RFC 9110 §9.3.2). The app sees GET; uvicorn, which
      keeps its own scope with HEAD, writes the headers (Content-Length included) and
      drops the body.
    - `Range` is ignored, as RFC 9110 §14.2 allows: every answer is whole. Starlette's
      files answered a malformed range with a plain-text 400 and an unsatisfiable one
      with an empty 416, outside the JSON error path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if scope["method"] == "GET" and not any(name == b"range" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        inner = {**scope, "method": "GET", "headers": [h for h in headers if h[0] != b"range"]}
        try:
            await self.app(inner, receive, send)
        finally:
            for key in ("route", "state"):  # for the metrics and the access log
                if key in inner:
                    scope[key] = inner[key]


class TrailingSlashMiddleware:
    """`POST /derivative/` is `POST /derivative`. Starlette answered it with an empty 307
    that httpx does not follow (and a POST body must not be resent blindly), so the
    client's `.json()` failed on an empty body: the slash is dropped before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            # In place: the outer middleware (access log, metrics) read the route from it.
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length up front, and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value  # the last one, as a dict of the headers would keep
            elif name == b"transfer-encoding":
                chunked = value
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
        if length is not None and chunked is None:
            # The server reads no more body than the declared length, checked above.
            await self.app(scope, receive, send)
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
