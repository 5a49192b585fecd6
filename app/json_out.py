"""JSON out: orjson straight from NumPy arrays (non-finite numbers become `null`); big
answers are streamed while they are encoded, grid coordinates written from the axes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import orjson
from starlette.responses import Response, StreamingResponse

from app.numerics import GridPoints

NUMPY = orjson.OPT_SERIALIZE_NUMPY
PIECE = 1 << 16  # floats per encoded piece of a large array (about 1.3 MB of JSON)
STREAM_FROM = 1 << 18  # floats in a payload from which it is streamed


class NumpyJSONResponse(Response):
    """orjson straight from NumPy arrays: no `jsonable_encoder`, NaN/inf become null."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=NUMPY, default=spelled_out)


def spelled_out(value: Any) -> Any:
    if isinstance(value, GridPoints):
        return value.materialize()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _size(value: Any) -> int:
    return value.size if isinstance(value, np.ndarray | GridPoints) else 0


def json_response(payload: Mapping[str, Any]) -> Response:
    """Small payloads in one piece; large ones streamed while they are encoded.

    Encoding a 10⁶-point field takes longer than computing it: streaming overlaps the
    encoding (in the threadpool, piece by piece) with sending and with the client's reading.
    """
    chunks = json_stream(payload)
    if chunks is None:
        return NumpyJSONResponse(payload)
    return StreamingResponse(chunks, media_type="application/json")


def json_stream(payload: Mapping[str, Any]) -> Iterator[bytes] | None:
    """The JSON of a large payload in chunks of about a megabyte, written as they are
    taken; None for a small payload, which is encoded in one piece."""
    if sum(_size(v) for v in payload.values()) < STREAM_FROM:
        return None
    return _buffered(json_pieces(payload))


def json_pieces(payload: Mapping[str, Any]) -> Iterator[bytes]:
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
    # A block of whole rows (of the first axis) at a time, never a row at a time: each
    # orjson.dumps holds a 4 KiB buffer that glibc keeps resident after it shrinks to
    # the 13 bytes of `[0.0,0.0,0.0]`, and 150,000 gradient rows took 320 MiB that way.
    rows = max(1, PIECE // (value.size // len(value)))
    yield b"["
    for start in range(0, len(value), rows):
        block = np.ascontiguousarray(value[start : start + rows])
        if block.size > PIECE:  # a single row over PIECE floats: its own pieces
            yield from _row_pieces(block[0], first=not start)
            continue
        encoded = orjson.dumps(block, option=NUMPY)
        yield (b"," if start else b"") + encoded[1:-1]  # drop the block's [ ]
    yield b"]"


def _row_pieces(row: np.ndarray, *, first: bool) -> Iterator[bytes]:
    yield b"" if first else b","
    yield from _value_pieces(row)


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
