"""What a client waits for: the 1000×1000 `/gradient-field` from request to NumPy arrays.

Each kind of client asks as it would by default and decodes as its users do: the time to
bytes (the decoded body in hand: request, transfer, decompression) and the time to arrays
(+ parsing into float64 NumPy arrays), against the in-process floor of bench.http (NumPy
central differences + `orjson.dumps` of the same arrays) measured between the requests.

    python -m bench.clients [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from bench.http import AXIS, FIELD_BODY, floor, server

REQUESTS = 7
ARRAYS = ("coordinates", "values", "gradient")  # and each of `axes`


@dataclass
class Client:
    """One way of asking for the field and reading it."""

    name: str
    headers: dict[str, str]
    parse: Callable[[bytes], dict[str, np.ndarray]]
    body: dict[str, Any] = field(default_factory=lambda: FIELD_BODY)
    f: Callable[[list[np.ndarray]], np.ndarray] = lambda r: r[0] ** 2 + r[1] ** 2  # the body's
    to_bytes: list[float] = field(default_factory=list)
    to_arrays: list[float] = field(default_factory=list)
    floors: list[float] = field(default_factory=list)
    # The same answer's bytes served from memory by bench.wire: transfer and decoding alone.
    wire_to_bytes: list[float] = field(default_factory=list)
    wire_to_arrays: list[float] = field(default_factory=list)
    encoding: str = ""
    wire_bytes: int = 0

    @property
    def bytes_time(self) -> float:
        return statistics.median(self.to_bytes)

    @property
    def arrays_time(self) -> float:
        return statistics.median(self.to_arrays)

    @property
    def floor(self) -> float:
        return statistics.median(self.floors)

    @property
    def wire_bytes_floor(self) -> float:
        return statistics.median(self.wire_to_bytes)

    @property
    def wire_floor(self) -> float:
        return statistics.median(self.wire_to_arrays)


def arrays_of_json(document: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays = {n: np.asarray(document[n], dtype=np.float64) for n in ARRAYS if n in document}
    arrays |= {
        f"axes[{i}]": np.asarray(a, dtype=np.float64) for i, a in enumerate(document["axes"])
    }
    return arrays


def with_json(body: bytes) -> dict[str, np.ndarray]:
    return arrays_of_json(json.loads(body))


def with_orjson(body: bytes) -> dict[str, np.ndarray]:
    return arrays_of_json(orjson.loads(body))


def with_numpy(body: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(body)) as npz:
        return {name: npz[name] for name in npz.files}  # np.load reads lazily: read them all


def clients() -> list[Client]:
    """httpx's default `Accept-Encoding` is `gzip, deflate` without extras; with `zstandard`
    installed (`httpx[zstd]`) it adds `zstd` (and `br` with `brotli`)."""
    return [
        Client("JSON, uncompressed (identity)", {"accept-encoding": "identity"}, with_json),
        Client("JSON, httpx default (gzip)", {"accept-encoding": "gzip, deflate"}, with_json),
        Client("JSON, httpx[zstd]", {}, with_json),
        Client("JSON, httpx[zstd] + orjson.loads", {}, with_orjson),
        Client(".npz (Accept: application/x-npz)", {"accept": "application/x-npz"}, with_numpy),
        Client(
            '.npz without coordinates (include: ["axes", "values", "gradient"])',
            {"accept": "application/x-npz"},
            with_numpy,
            body=FIELD_BODY | {"include": ["axes", "values", "gradient"]},
        ),
        # x0² + x1²'s gradient (2·x0, 2·x1) repeats along the grid's rows and columns, and
        # compresses as its coordinates do; most fields' values and slopes do not.
        Client(
            f"JSON, httpx[zstd] + orjson.loads, {GENERIC_LABEL}",
            {},
            with_orjson,
            body=GENERIC_BODY,
            f=generic,
        ),
        Client(
            f".npz, {GENERIC_LABEL}",
            {"accept": "application/x-npz"},
            with_numpy,
            body=GENERIC_BODY,
            f=generic,
        ),
    ]


GENERIC_BODY = FIELD_BODY | {"expression": "sin(3*x0)*exp(-x1**2/3) + log(1 + x0**2*x1**2)"}
GENERIC_LABEL = "sin(3x0)·exp(−x1²/3) + log(1 + x0²x1²)"


def generic(r: list[np.ndarray]) -> np.ndarray:
    """GENERIC_BODY's expression, for the floor."""
    return np.sin(3 * r[0]) * np.exp(-(r[1] ** 2) / 3) + np.log(1 + r[0] ** 2 * r[1] ** 2)


def one_request(http: httpx.Client, url: str, client: Client) -> None:
    start = time.perf_counter()
    r = http.post(f"{url}/gradient-field", json=client.body, headers=client.headers)
    received = time.perf_counter()
    if r.status_code != 200:
        raise RuntimeError(f"/gradient-field answered {r.status_code}: {r.text[:300]}")
    arrays = client.parse(r.content)
    done = time.perf_counter()
    assert arrays["gradient"].shape == (2, int(AXIS["num"]) ** 2), arrays["gradient"].shape
    client.to_bytes.append(received - start)
    client.to_arrays.append(done - start)
    client.encoding = r.headers.get("content-encoding", "identity")
    client.wire_bytes = r.num_bytes_downloaded


def wire_request(http: httpx.Client, url: str, index: int, client: Client) -> None:
    """The client's answer, as Nabla sent it, from bench.wire: to arrays, as `one_request`."""
    start = time.perf_counter()
    r = http.get(f"{url}/{index}", headers=client.headers)
    received = time.perf_counter()
    arrays = client.parse(r.content)
    client.wire_to_bytes.append(received - start)
    client.wire_to_arrays.append(time.perf_counter() - start)
    assert arrays["gradient"].shape == (2, int(AXIS["num"]) ** 2), arrays["gradient"].shape


def as_sent(http: httpx.Client, url: str, client: Client, folder: Path, index: int) -> None:
    """Writes the answer's bytes on the wire (still compressed) and their headers for
    bench.wire to serve."""
    with http.stream(
        "POST", f"{url}/gradient-field", json=client.body, headers=client.headers
    ) as r:
        body = b"".join(r.iter_raw())
        kept = ("content-type", "content-encoding")
        headers = {name: r.headers[name] for name in kept if name in r.headers}
    (folder / f"{index}.body").write_bytes(body)
    (folder / f"{index}.json").write_text(json.dumps(headers))


def run(*, quick: bool = False) -> list[Client]:
    axes = [np.linspace(AXIS["start"], AXIS["stop"], AXIS["num"])] * 2
    kinds = clients()
    with tempfile.TemporaryDirectory() as folder, httpx.Client(timeout=300) as http:
        with server() as url:
            for index, client in enumerate(kinds):
                as_sent(http, url, client, Path(folder), index)
                one_request(http, url, client)  # warm-up
                client.to_bytes.clear()
                client.to_arrays.clear()
        wire = server(app="bench.wire:app", http="httptools", env={"NABLA_WIRE_DIR": folder})
        with server() as url, wire as wire_url:
            for _ in range(3 if quick else REQUESTS):  # interleaved: client, wire, floor
                for index, client in enumerate(kinds):
                    one_request(http, url, client)
                    wire_request(http, wire_url, index, client)
                    compute, encode, _ = floor(axes, client.body.get("include"), f=client.f)
                    client.floors.append(compute + encode)
    return kinds


def small_answer() -> tuple[int, str]:
    """A 1-point /derivative asked for with every coding a browser takes: (bytes, coding)."""
    with server() as url:
        r = httpx.post(
            f"{url}/derivative",
            json={"expression": "0.01*x**2 + 0.1*x", "points": [5.0]},
            headers={"accept-encoding": "gzip, deflate, br, zstd"},
        )
    return r.num_bytes_downloaded, r.headers.get("content-encoding", "identity")


def report(kinds: list[Client]) -> None:
    for c in kinds:
        print(
            f"    {c.name:36s} bytes {c.bytes_time:.3f} s ({c.bytes_time / c.floor:.2f}× floor), "
            f"arrays {c.arrays_time:.3f} s ({c.arrays_time / c.floor:.2f}×; "
            f"the same bytes from memory {c.wire_bytes_floor / c.floor:.2f}× to bytes, "
            f"{c.wire_floor / c.floor:.2f}× to arrays), "
            f"{c.wire_bytes / 1e6:.1f} MB {c.encoding}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 requests per client")
    report(run(quick=parser.parse_args().quick))


if __name__ == "__main__":
    main()
