"""How an answer travels: as JSON or as NumPy's `.npz` (from `Accept`), and compressed with
zstd, Brotli or gzip, or not at all (from `Accept-Encoding`), both negotiated with their
q-values (RFC 9110 §12.5).

Where compression runs: a streamed answer is compressed in the worker thread that writes
its JSON, piece by piece as it is written (`app.answers`); any other body of `THREAD_FROM`
bytes or more is compressed in a worker thread by `CompressionMiddleware`; only smaller ones
on the event loop. zstd, Brotli and ISA-L's gzip release the GIL while they work, so the
event loop (and /health) keeps its turns.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

import anyio.to_thread
import brotli  # type: ignore[import-untyped]
import orjson
import zstandard
from fastapi import FastAPI
from isal import isal_zlib
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import NablaError

JSON = "application/json"
NPZ = "application/x-npz"
MEDIA_TYPES = (JSON, NPZ)  # JSON first: the default, and the choice on a tie
CODINGS = ("zstd", "br", "gzip")  # the server's preference on a tie of q-values
IDENTITY = "identity"
THREAD_FROM = 64 * 1024  # bytes of a body compressed in a worker thread, off the event loop
ISAL_LEVELS = 3  # gzip levels 1-3 are ISA-L's (4x zlib's speed); above, zlib's
COMPRESSIBLE = ("text/", JSON, "application/javascript", "application/xml", "image/svg+xml")


class NotAcceptableError(NablaError):
    """406: the request accepts no media type (or content coding) Nabla can produce."""

    status_code = 406
    kind = "not_acceptable"


# ---------------------------------------------------------------- negotiation


def weights(header: str) -> Mapping[str, float]:
    """`{token: q}` of an `Accept` or `Accept-Encoding` value; elements with a q that is not
    a number from 0 to 1 are ignored, as are other parameters. A client sends the same
    short header with every request: those are parsed once (long ones are not kept)."""
    return _remembered_weights(header) if len(header) <= REMEMBERED_HEADER else _weights(header)


REMEMBERED_HEADER = 256  # characters


@lru_cache(maxsize=256)
def _remembered_weights(header: str) -> Mapping[str, float]:
    return MappingProxyType(_weights(header))


def _weights(header: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for element in header.split(","):
        token, *parameters = element.split(";")
        token = token.strip().lower()
        q: float | None = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                q = _quality(value)
        if token and q is not None:
            found[token] = max(q, found.get(token, 0.0))
    return found


def _quality(text: str) -> float | None:
    try:
        q = float(text.strip())
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None  # also refuses nan and inf


class Choice(NamedTuple):
    coding: str | None  # what to send big bodies in; None: nothing acceptable (a 406)
    identity: bool  # small bodies may go as they are


AS_IS = Choice(IDENTITY, True)  # no `Accept-Encoding`: anything goes, identity first


def choose_coding(header: str | None, offered: tuple[str, ...]) -> Choice:
    """The acceptable coding of `offered` of highest q (ties in `offered`'s order), or
    `identity` if none is or the client ranks identity above it (RFC 9110 §12.5.3)."""
    if header is None:
        return AS_IS
    q = weights(header)
    star = q.get("*", 0.0)
    # Identity is acceptable unless excluded; not named, it counts as the least wanted.
    identity = q.get(IDENTITY, 0.0 if q.get("*") == 0.0 else 0.001)
    best = max(offered, key=lambda c: q.get(c, star), default=IDENTITY)
    if best != IDENTITY and q.get(best, star) > 0.0 and q.get(best, star) >= identity:
        return Choice(best, identity > 0.0)
    return Choice(IDENTITY if identity > 0.0 else None, identity > 0.0)


def choose_media(header: str | None) -> str:
    """`application/json` or `application/x-npz`, whichever `Accept` ranks higher (JSON on a
    tie or without the header); 406 if it accepts neither."""
    q = {media: w for media, w in weights(header or "").items() if media.count("/") == 1}
    if not q:  # no header, or nothing in it that is a media range
        return JSON

    def rank(media: str) -> float:
        kind = media.split("/")[0]
        return q.get(media, q.get(f"{kind}/*", q.get("*/*", 0.0)))

    best = max(MEDIA_TYPES, key=rank)
    if rank(best) <= 0.0:
        raise NotAcceptableError(
            f"`Accept: {shown(header)}` allows none of what Nabla answers with: send `Accept: "
            f"{JSON}` (the default) or `Accept: {NPZ}` (NumPy arrays).",
            field="Accept",
        )
    return best


def shown(header: str | None) -> str:
    """A request header as an error message quotes it: its first 77 characters and "..."
    past 80."""
    text = header or ""
    return text if len(text) <= 80 else f"{text[:77]}..."


def offered_codings(settings: Settings) -> tuple[str, ...]:
    levels = {"zstd": settings.zstd_level, "br": settings.brotli_quality}
    levels["gzip"] = settings.gzip_level
    return tuple(coding for coding in CODINGS if levels[coding] > 0)


# ---------------------------------------------------------------- compressors


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Brotli:
    def __init__(self, quality: int) -> None:
        self._compressor = brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        return bytes(self._compressor.process(data))

    def flush(self) -> bytes:
        return bytes(self._compressor.finish())


def compressor(coding: str, settings: Settings) -> Compressor:
    """A streaming compressor of `coding` at the configured level (one per response)."""
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=settings.zstd_level).compressobj()
    if coding == "br":
        return _Brotli(settings.brotli_quality)
    gzip_window = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream
    if settings.gzip_level <= ISAL_LEVELS:
        return isal_zlib.compressobj(settings.gzip_level, isal_zlib.DEFLATED, gzip_window)
    return zlib.compressobj(settings.gzip_level, zlib.DEFLATED, gzip_window)


def compressed(chunks: Iterator[bytes], coding: str, coder: Compressor) -> Iterator[bytes]:
    """`chunks` compressed, as they come; with zstd and gzip, each in a helper thread while
    the next is written: they release the GIL, so the JSON of chunk i + 1 is encoded
    meanwhile (the 96 MB field, encoded and gzipped: 525 ms in turn, 364 ms overlapped).
    Brotli keeps the GIL for part of its work and only slows the encoder down: in turn."""
    if coding not in ALONGSIDE:
        for chunk in chunks:
            if out := coder.compress(chunk):
                yield out
        yield coder.flush()
        return
    # One helper per answer keeps the calls on `coder` in order; at most two chunks wait.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compress") as helper:
        pending: Future[bytes] | None = None
        for chunk in chunks:
            following = helper.submit(coder.compress, chunk)
            if pending is not None and (out := pending.result()):
                yield out
            pending = following
        if pending is not None and (out := pending.result()):
            yield out
    yield coder.flush()


ALONGSIDE = ("zstd", "gzip")  # compressed in a helper thread, alongside the encoding


# ---------------------------------------------------------------- the middleware


def joined(values: list[str]) -> str | None:
    """Repeated header fields as one value (RFC 9110 §5.3)."""
    return ",".join(values) if values else None


@dataclass(frozen=True)
class Codings:
    offered: tuple[str, ...]
    minimum_size: int  # bytes; smaller bodies are sent as they are (unless identity is refused)
    settings: Settings


class CompressionMiddleware:
    """Compresses what the app has not: each response in the coding negotiated from the
    request's `Accept-Encoding`, with `Vary: Accept-Encoding`; 406 when the request refuses
    every coding Nabla has, `identity` included."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.codings = Codings(offered_codings(settings), settings.compress_from_bytes, settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = joined(
            [v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-encoding"]
        )
        choice = choose_coding(header, self.codings.offered)
        if choice.coding is None:
            await _refuse_codings(header or "", self.codings.offered)(scope, receive, send)
            return
        if choice.coding == IDENTITY:  # every answer goes as it is: only its Vary changes
            await self.app(scope, receive, _varying(send))
            return
        await self.app(scope, receive, _Compressing(send, choice, self.codings).send)


def _varying(send: Send) -> Send:
    """`send`, adding `Vary: Accept-Encoding` to compressible answers."""

    async def varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            _vary_compressible(message)
        await send(message)

    return varying


def _refuse_codings(header: str, offered: tuple[str, ...]) -> Response:
    detail = (
        f"`Accept-Encoding: {shown(header)}` refuses every coding Nabla can send: allow one of "
        f"{', '.join((*offered, IDENTITY))}."
    )
    body = {"detail": detail, "type": NotAcceptableError.kind, "field": "Accept-Encoding"}
    return Response(
        orjson.dumps(body), status_code=406, media_type=JSON, headers={"Vary": "Accept-Encoding"}
    )


class _Compressing:
    """The `send` of one response: holds its start until the first body shows whether it is
    small enough to send as it is."""

    def __init__(self, send: Send, choice: Choice, codings: Codings) -> None:
        self._send = send
        self.choice = choice
        self.codings = codings
        self.start: Message | None = None
        self.coder: Compressor | None = None
        self.passing = False  # sent as the app wrote it

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._started(message)
        elif self.passing or message["type"] != "http.response.body":
            await self._flush_start()
            await self._send(message)
        elif self.coder is None:
            await self._first_body(message)
        else:
            await self._body(message["body"], more=message.get("more_body", False))

    async def _started(self, message: Message) -> None:
        compressible = _vary_compressible(message)
        status = message["status"]
        if (
            not compressible
            or self.choice.coding == IDENTITY  # nothing to hold the start for
            or any(key == b"content-encoding" for key, _ in message["headers"])
            or status < 200
            or status in (204, 304)
        ):
            self.passing = True
            await self._send(message)
            return
        self.start = message

    async def _first_body(self, message: Message) -> None:
        body, more = message.get("body", b""), message.get("more_body", False)
        small = not more and len(body) < self.codings.minimum_size
        coding = self.choice.coding
        if coding in (None, IDENTITY) or (small and self.choice.identity):
            self.passing = True
            await self._flush_start()
            await self._send(message)
            return
        self.coder = compressor(coding, self.codings.settings)
        assert self.start is not None
        headers = MutableHeaders(scope=self.start)
        headers["Content-Encoding"] = coding
        del headers["Content-Length"]
        if not more:
            out = await _off_the_loop(_whole, self.coder, body)
            headers["Content-Length"] = str(len(out))
            await self._flush_start()
            await self._send({"type": "http.response.body", "body": out})
            return
        await self._flush_start()
        await self._body(body, more=True)

    async def _body(self, body: bytes, *, more: bool) -> None:
        assert self.coder is not None
        out = await _off_the_loop(_part if more else _whole, self.coder, body)
        if out or not more:
            await self._send({"type": "http.response.body", "body": out, "more_body": more})

    async def _flush_start(self) -> None:
        if self.start is not None:
            start, self.start = self.start, None
            await self._send(start)


def _part(coder: Compressor, data: bytes) -> bytes:
    return coder.compress(data)


def _whole(coder: Compressor, data: bytes) -> bytes:
    return coder.compress(data) + coder.flush()


async def _off_the_loop(
    work: Callable[[Compressor, bytes], bytes], coder: Compressor, data: bytes
) -> bytes:
    if len(data) < THREAD_FROM:
        return work(coder, data)
    return await anyio.to_thread.run_sync(work, coder, data)


COMPRESSIBLE_BYTES = tuple(media.encode("latin-1") for media in COMPRESSIBLE)


def _vary_compressible(start: Message) -> bool:
    """Whether the answer `start` begins is compressible (by its first Content-Type); if it
    is, its first Vary header names Accept-Encoding (added, or appended to), other Vary
    headers dropped. On the raw header list: starlette's MutableHeaders took ~5 µs of every
    request for it."""
    headers = start.get("headers", ())
    content_type = vary = None
    at = varies = 0  # where the first Vary is, and how many there are
    for i, (key, value) in enumerate(headers):
        if key == b"content-type":
            content_type = value if content_type is None else content_type
        elif key == b"vary":
            at, vary, varies = (i, value, 1) if vary is None else (at, vary, varies + 1)
    if content_type is None or not content_type.startswith(COMPRESSIBLE_BYTES):
        return False
    varied = _varied(vary)
    if varied is None:
        return True
    if vary is None:
        start["headers"] = [*headers, (b"vary", varied)]
        return True
    if varies > 1:
        headers = [h for i, h in enumerate(headers) if h[0] != b"vary" or i == at]
    start["headers"] = [*headers[:at], (b"vary", varied), *headers[at + 1 :]]
    return True


@lru_cache(maxsize=64)  # the app's own Vary values: a handful
def _varied(vary: bytes | None, name: str = "Accept-Encoding") -> bytes | None:
    """The Vary value that adds `name` to `vary`, or None if it names it (or `*`) already."""
    text = "" if vary is None else vary.decode("latin-1")
    present = {v.strip().lower() for v in text.split(",") if v.strip()}
    if name.lower() in present or "*" in present:
        return None
    return (f"{text}, {name}" if present else name).encode("latin-1")


# ---------------------------------------------------------------- wiring


def install_encodings(app: FastAPI, settings: Settings) -> None:
    """Compression for every response, and the `.npz` media type and the 406 in the OpenAPI
    document of every operation that answers through `app.answers` (the POSTs)."""
    app.add_middleware(CompressionMiddleware, settings=settings)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_npz(generate())
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _document_npz(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        post = operations.get("post")
        if post is None:
            continue
        ok = post["responses"]["200"]
        ok["description"] = ok["description"].rstrip(".") + "." + NPZ_DESCRIPTION
        ok["content"][NPZ] = {"schema": {"type": "string", "format": "binary"}}
        post["responses"]["406"] = {
            "description": "`Accept` allows neither `application/json` nor `application/x-npz`.",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
        }


NPZ_DESCRIPTION = (
    " With `Accept: application/x-npz`, the same arrays as NumPy's `.npz` "
    "(`numpy.load(io.BytesIO(r.content))`), named as the JSON fields (`axes[0]`, "
    "`estimates[central]` for nested ones); non-finite numbers are NaN and null fields absent."
)
