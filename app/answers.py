"""A request's answer, from its payload to the bytes sent: negotiated on the event loop
before anything is computed (`Reply.negotiate`: a 406 costs no work), written where the
payload was computed (`Reply.render`: in a compute process for all but tiny requests,
app.processes), and sent from those bytes (`response`).

A small answer is one piece of JSON, which `CompressionMiddleware` compresses if it is big
enough. A big one (`json_stream`) is written in pieces of about a megabyte and compressed
as it is written, in the coding the middleware would have chosen; an `.npz` is its arrays'
own bytes, a big one sent entry by entry as they are written (app/npz.py). Each piece is
forgotten once sent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from app.config import Settings
from app.encodings import (
    IDENTITY,
    JSON,
    NPZ,
    NotAcceptableError,
    choose_coding,
    choose_media,
    compressed,
    compressor,
    joined,
    offered_codings,
    shown,
)
from app.json_out import NUMPY, json_stream, spelled_out
from app.npz import npz_file
from app.processes import ComputeFailed

logger = logging.getLogger("nabla.answers")

Piece = bytes | memoryview


@dataclass(frozen=True)
class Head:
    """What is sent before the pieces of an answer."""

    media_type: str
    headers: dict[str, str]
    streamed: bool  # in pieces, compressed here if at all (not by the middleware)
    points: int | None = None  # for the access log, when only the computation knew it
    # Parse-cache hits and misses of the computation, for /metrics when it ran elsewhere.
    parses: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Reply:
    """How this request's answer is to be written: its media type and, for a streamed JSON
    answer, its content coding."""

    media: str
    coding: str | None  # None: no coding is acceptable (CompressionMiddleware's 406)

    @classmethod
    def negotiate(cls, request: Request) -> Reply:
        """From `Accept` (a 406 if neither JSON nor .npz is acceptable) and
        `Accept-Encoding`, before the work is spent."""
        media = choose_media(joined(request.headers.getlist("accept")))
        header = joined(request.headers.getlist("accept-encoding"))
        if media == NPZ:
            if choose_coding(header, ()).coding is None:  # an .npz is sent as it is
                raise NotAcceptableError(
                    f"`Accept-Encoding: {shown(header)}` refuses identity, and Nabla sends an .npz "
                    "as it is (its repeating arrays are deflated inside it): allow identity, "
                    f"or ask for JSON (`Accept: {JSON}`), which is compressed.",
                    field="Accept-Encoding",
                )
            return cls(NPZ, IDENTITY)
        settings: Settings = request.app.state.settings
        return cls(JSON, choose_coding(header, offered_codings(settings)).coding)

    def render(
        self, payload: Mapping[str, Any], settings: Settings, points: int | None = None
    ) -> tuple[Head, list[Piece] | Iterator[Piece]]:
        """The answer's head and its bytes: one piece, or for a big answer an iterator that
        encodes (and compresses) it as it is taken."""
        if self.media == NPZ:
            return Head(NPZ, {"Vary": "Accept"}, True, points), npz_file(payload)
        chunks = json_stream(payload)
        if chunks is None:
            body = orjson.dumps(payload, option=NUMPY, default=spelled_out)
            return Head(JSON, {"Vary": "Accept"}, False, points), [body]
        if self.coding in (None, IDENTITY):  # the middleware answers 406 for None
            return Head(JSON, {"Vary": "Accept"}, True, points), chunks
        coder = compressor(self.coding, settings)
        headers = {"Content-Encoding": self.coding, "Vary": "Accept, Accept-Encoding"}
        return Head(JSON, headers, True, points), compressed(chunks, self.coding, coder)


def size(pieces: list[Piece]) -> int:
    return sum(len(piece) for piece in pieces)


def response(head: Head, pieces: Iterable[Piece]) -> Response:
    """The Response that sends `pieces` a megabyte at a time, each dropped once it has been
    sent: an answer is held once while it waits for its client (in one piece, it was held
    twice: by the Response, and copied into the transport's buffer). An iterator's pieces
    are taken as they come, on a thread (they may be encoded as they are taken, or wait
    for a compute process to send them)."""
    if not isinstance(pieces, list):
        return Relayed(_sliced(pieces), media_type=head.media_type, headers=head.headers)
    if not head.streamed and size(pieces) <= PIECE:
        return Response(pieces[0], media_type=head.media_type, headers=head.headers)
    headers = {**head.headers, "Content-Length": str(size(pieces))}
    return StreamingResponse(_sent(pieces), media_type=head.media_type, headers=headers)


PIECE = 1 << 20  # bytes per body message: an .npz is a few arrays of many megabytes


class Relayed(StreamingResponse):
    """An answer whose pieces a compute process sends as it makes them. Where they stop
    coming (the process died, or stalled past its time, app.processes), the answer is left
    unfinished: uvicorn then closes the connection without the chunked answer's last
    chunk, so the client sees it cut short, never a shorter answer that looks whole. One
    line says why, where the error, raised past a started answer, was logged with two
    tracebacks (the app's unhandled error, uvicorn's) under an access line of 200."""

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except ComputeFailed as failure:
            logger.error("an answer was cut short: %s", failure)


async def _sliced(pieces: Iterable[Piece]) -> AsyncIterator[Piece]:
    """Each piece taken on a thread, and sent in slices from the event loop: one thread hop
    per piece (an .npz's array: 8 MB), not per megabyte."""
    async for piece in iterate_in_threadpool(pieces):
        view = memoryview(piece)
        for start in range(0, len(view), PIECE):
            yield view[start : start + PIECE]


async def _sent(pieces: list[Piece]) -> AsyncIterator[Piece]:
    pieces.reverse()
    while pieces:
        view = memoryview(pieces.pop())
        for start in range(0, len(view), PIECE):
            yield view[start : start + PIECE]
