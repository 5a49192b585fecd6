"""An answer's arrays as NumPy's `.npz`: a zip of `.npy` files, sent straight from the
arrays' memory (by app.answers, from the compute process that made them), those that
repeat deflated.

`numpy.savez` copies every array into the zip (50 ms for the 40 MB of a 1000×1000 field)
and the response copies it again; here each entry's CRC is computed first (ISA-L's CRC-32,
3 ms for 40 MB), so that its header can be written before its bytes, sent as they lie.
`numpy.load` reads the result as any `.npz`.

A big answer is sent entry by entry as they are written, the stored ones first: their
bytes cross to the client while the rest are deflated. Of a 1000×1000 field of
x0² + x1² (`numpy.load` on the client, both on this 2-core machine), the first bytes
leave 20-30 ms sooner and the arrays are in the client's hands 10-20 ms sooner than when
the whole zip was written before any of it was sent. Its length is then unknown when the
headers go (sent chunked, or to an HTTP/1.0 client to the close of the connection); a
small answer (WHOLE) is written whole and keeps its `Content-Length`.

An array that deflates to less than DEFLATE_BELOW of its size is deflated. On this
2-core machine httpx receives about 250 MB/s, so every megabyte left out saves the client
~4 ms. Values and derivatives of most expressions are float64 noise to deflate (0.9 of
their size at best): a sample of each array (SAMPLE bytes from four places, deflated by
ISA-L: 0.3 ms for noise) decides. Two coders deflate what the sample chose:
- A grid's `coordinates` (16 of the 40 MB of a 1000×1000 field) are its axes repeated
  exactly. zlib-ng's level 3, the first of its levels that finds the long matches a
  repeated row makes, deflates them to 0.7% in 3.7 ms (ISA-L's level 1: 7% in 4.5 ms),
  and the client's `numpy.load` inflates them in 2.3 ms instead of 7.4: inflating costs
  per match, and long matches are few.
- A computed array that repeats (x0² + x1²'s gradient, 2·x0 and 2·x1 along the grid)
  differs in its last bits from row to row, its rounding: there zlib-ng's level 3 takes
  3× ISA-L's level 1 (24 ms against 8 for 16 MB) and saves little (7% of the size
  against 9%), so ISA-L deflates it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from isal import isal_zlib
from zlib_ng import zlib_ng

from app.numerics import GridPoints

Entry = np.ndarray | GridPoints  # an array, or a grid's points to be made into one

LOCAL = struct.Struct("<IHHHHHIIIHH")  # the zip's local file header
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # its central directory entry
END = struct.Struct("<IHHHHIIH")  # its end of central directory
DOS_DATE = (1 << 5) | 1  # 1980-01-01, the zip epoch: entries carry no meaningful date
VERSION = 20  # zip 2.0: stored and deflated entries, no zip64 (an answer is far below 4 GiB)
STORED, DEFLATED = 0, 8  # the entry's method
DEFLATE_BELOW = 0.25  # an array is deflated if its sample deflates to less than this share
SAMPLE = 1 << 18  # bytes of the array that decide it, in SAMPLES slices
SAMPLES = 4
CHUNK = 1 << 20  # bytes deflated at a time, so that a misjudged array is given up early
LEVEL = 1  # ISA-L's, judging a sample and deflating a computed array
TILED_LEVEL = 3  # zlib-ng's, deflating a grid's coordinates (levels 1-2 leave them at 2-3%)


WHOLE = 1 << 20  # array bytes of an answer written whole, and sent with its Content-Length


def npz_file(payload: Mapping[str, Any]) -> list[bytes | memoryview] | Iterator[bytes | memoryview]:
    """The `.npz` of an answer's fields: whole if its arrays are small, else a piece at a
    time as it is written (sent without a Content-Length: the deflated entries' sizes are
    known only once they are written, and the stored ones go first; chunked to HTTP/1.1,
    to the connection's close to HTTP/1.0, app.protocol)."""
    arrays = dict(npz_arrays(payload))
    parts = npz_parts(arrays)
    small = sum(_nbytes(entry) for entry in arrays.values()) <= WHOLE
    return list(parts) if small else parts


def _nbytes(entry: Entry) -> int:
    if isinstance(entry, GridPoints):
        return entry.size * entry.axes[0].itemsize
    return entry.nbytes


def npz_arrays(payload: Mapping[str, Any], name: str = "") -> Iterator[tuple[str, Entry]]:
    """(name, array) of every field, nested ones as `axes[0]` and `estimates[central]`;
    non-finite numbers are NaN (JSON writes them as null), null fields are left out. A
    grid's points stay GridPoints (finite: their axes are), made into an array when they
    are written."""
    for key, value in payload.items():
        label = f"{name}[{key}]" if name else str(key)
        if isinstance(value, Mapping):
            yield from npz_arrays(value, label)
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            yield from npz_arrays({str(i): item for i, item in enumerate(value)}, label)
        elif isinstance(value, GridPoints):
            yield label, value
        elif value is not None:
            yield label, _finite_or_nan(value)


def _finite_or_nan(value: Any) -> np.ndarray:
    """The array with ±inf as NaN, in place where it can be: the answer's arrays are made
    for this answer alone (np.where and a cast took two copies of the largest of them,
    72 MB each for a 9-D grid of 10⁶ points)."""
    array = np.asarray(value)  # not ascontiguousarray, which makes a 0-d array 1-d
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    if array.dtype.kind == "f":
        infinite = np.isinf(array)
        if infinite.any():
            if not array.flags.writeable:
                array = array.copy()
            array[infinite] = np.nan
    return array


def npz_parts(arrays: Mapping[str, Entry]) -> Iterator[bytes | memoryview]:
    """The `.npz` a piece at a time: each entry's headers, then its bytes (a stored
    array's own memory, uncopied). Stored entries come first, so that their bytes are on
    their way to the client while the others are deflated; the zip's directory, last,
    lists the entries in the order of `arrays` (numpy.load's `files`)."""
    chosen = [
        (name, _array_of(entry), isinstance(entry, GridPoints)) for name, entry in arrays.items()
    ]
    deflating = {name: _deflates(_bytes_of(array)) for name, array, _ in chosen}
    directory: dict[str, bytes] = {}
    offset = 0
    for name, array, tiled in sorted(chosen, key=lambda item: deflating[item[0]]):
        filename = f"{name}.npy".encode()
        head = _npy_header(array)
        data = _bytes_of(array)
        crc = isal_zlib.crc32(data, isal_zlib.crc32(head))
        size = len(head) + len(data)
        method, first, rest = STORED, head, [data]
        if deflating[name] and (deflated := _deflated(head, data, tiled)) is not None:
            method, first, rest = DEFLATED, deflated, []
        packed = len(first) + sum(len(piece) for piece in rest)
        local = LOCAL.pack(
            0x04034B50, VERSION, 0x800, method, 0, DOS_DATE, crc, packed, size, len(filename), 0
        )
        yield local + filename + first
        yield from rest
        central = CENTRAL.pack(
            0x02014B50, VERSION, VERSION, 0x800, method, 0, DOS_DATE, crc, packed, size,
            len(filename), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        directory[name] = central + filename
        offset += len(local) + len(filename) + packed
    listing = b"".join(directory[name] for name in arrays)
    count = len(directory)
    yield listing
    yield END.pack(0x06054B50, 0, 0, count, count, len(listing), offset, 0)


def _array_of(entry: Entry) -> np.ndarray:
    return entry.materialize() if isinstance(entry, GridPoints) else entry


def _bytes_of(array: np.ndarray) -> memoryview:
    return memoryview(array.reshape(-1).view(np.uint8).data)


def _deflates(data: memoryview) -> bool:
    """Whether the array's bytes are worth deflating, judged by SAMPLES slices of them
    spread from the first byte to the last (an expression may be flat in a corner)."""
    if len(data) < 4 * SAMPLE:  # small: stored, as its bytes cost the client little
        return False
    piece = SAMPLE // SAMPLES
    starts = np.linspace(0, len(data) - piece, SAMPLES).astype(int)
    sample = b"".join(data[start : start + piece] for start in starts)
    return len(isal_zlib.compress(sample, LEVEL, -15)) < DEFLATE_BELOW * len(sample)


def _deflated(head: bytes, data: memoryview, tiled: bool) -> bytes | None:
    """The entry deflated (raw, as a zip has it), a megabyte at a time; None as soon as it
    would take more than DEFLATE_BELOW of its size (the sample misjudged it): a deflated
    copy never adds more than that share of the array to the answer's memory."""
    coder: Any = (
        zlib_ng.compressobj(TILED_LEVEL, zlib_ng.DEFLATED, -15)
        if tiled
        else isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    )
    limit = DEFLATE_BELOW * (len(head) + len(data))
    out = [coder.compress(head)]
    taken = len(out[0])
    for start in range(0, len(data), CHUNK):
        out.append(coder.compress(data[start : start + CHUNK]))
        taken += len(out[-1])
        if taken > limit:
            return None
    out.append(coder.flush())
    return b"".join(out) if taken + len(out[-1]) <= limit else None


def _npy_header(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
    return buffer.getvalue()
