"""How answers travel (app/encodings.py): the content coding and the media type negotiated
from `Accept-Encoding` and `Accept`, checked against the reference decoders (zstandard,
brotli, gzip) and `numpy.load`, on a real server where clients would meet them."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import brotli
import httpx
import numpy as np
import pytest
import zstandard
from conftest import ROOT, Server, log_records, make_client
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_config import start_with

from app.config import Settings
from app.encodings import (
    NPZ,
    CompressionMiddleware,
    NotAcceptableError,
    choose_coding,
    choose_media,
    weights,
)
from app.main import create_app

OFFERED = ("zstd", "br", "gzip")
AXIS = {"start": -2.0, "stop": 2.0, "num": 400}
FIELD = {"expression": "x0**2 + sin(x1)", "grid": [AXIS, AXIS]}  # 160,000 points: streamed
POINTS = {"expression": "sin(x)", "points": np.linspace(-3, 3, 20_000).tolist()}  # one piece
DECODERS = {
    "zstd": lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw),
    "br": brotli.decompress,
    "gzip": gzip.decompress,
}


def raw_answer(server: Server, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    """The answer with its body as it came over the wire (httpx does not decode it)."""
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", f"{server.url}{path}", json=body, headers=headers) as r,
    ):
        r._content = b"".join(r.iter_raw())
        return r


# ---------------------------------------------------------------- negotiation, in process


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, "identity", id="no-header"),
        pytest.param("", "identity", id="empty-header"),
        pytest.param("gzip, deflate", "gzip", id="httpx-default"),
        pytest.param("gzip, deflate, br, zstd", "zstd", id="chromium"),
        pytest.param("gzip, deflate, zstd", "zstd", id="httpx-zstd"),
        pytest.param("br;q=1.0, gzip;q=0.8, *;q=0.1", "br", id="q-values-rank"),
        pytest.param("zstd;q=0.5, gzip", "gzip", id="higher-q-beats-preference"),
        pytest.param("gzip, br", "br", id="tie-goes-to-preference"),
        pytest.param("*", "zstd", id="star"),
        pytest.param("*, zstd;q=0", "br", id="star-but-zstd"),
        pytest.param("zstd;q=0.5, identity", "identity", id="identity-ranked-first"),
        pytest.param("identity;q=0, *;q=0.2", "zstd", id="anything-but-identity"),
        pytest.param("deflate, compress", "identity", id="none-we-have"),
        pytest.param("identity;q=0", None, id="identity-refused"),
        pytest.param("*;q=0", None, id="everything-refused"),
        pytest.param("ZSTD;Q=1", "zstd", id="case-insensitive"),
        pytest.param("zstd;q=abc, gzip", "gzip", id="garbage-q-ignored"),
        pytest.param("zstd;q=2, gzip", "gzip", id="q-over-1-ignored"),
        pytest.param("zstd;q=nan, br;q=inf, gzip;q=-1", "identity", id="non-numbers-ignored"),
        pytest.param(",,;,q=,;q=1,", "identity", id="only-separators"),
    ],
)
def test_the_coding_is_chosen_by_q_value_then_by_zstd_br_gzip(
    header: str | None, expected: str | None
) -> None:
    assert choose_coding(header, OFFERED).coding == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, "application/json", id="no-header"),
        pytest.param("*/*", "application/json", id="anything"),
        pytest.param("application/json, text/plain, */*", "application/json", id="axios"),
        pytest.param("application/x-npz", NPZ, id="npz"),
        pytest.param("application/json;q=0.5, application/x-npz", NPZ, id="npz-ranked-first"),
        pytest.param("application/*;q=0.9, application/json;q=0.1", NPZ, id="specific-q-wins"),
        pytest.param("*/*, application/json;q=0", NPZ, id="anything-but-json"),
        pytest.param("not a media type", "application/json", id="garbage-ignored"),
    ],
)
def test_the_media_type_is_chosen_from_accept(header: str | None, expected: str) -> None:
    assert choose_media(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("text/html", id="html"),
        pytest.param("application/xml, image/*", id="others"),
        pytest.param("*/*;q=0", id="nothing"),
        pytest.param("application/json;q=0, application/x-npz;q=0", id="both-refused"),
    ],
)
def test_a_media_type_nabla_cannot_produce_is_refused_naming_what_it_can(header: str) -> None:
    with pytest.raises(NotAcceptableError, match=r"application/json.*application/x-npz"):
        choose_media(header)


def test_weights_keep_the_highest_q_of_a_repeated_token() -> None:
    assert weights("gzip;q=0.2, gzip;q=0.7, br;level=3") == {"gzip": 0.7, "br": 1.0}


# Tokens clients send, and bytes they should not: q-values of every shape, separators.
TOKENS = st.sampled_from(
    [
        *["zstd", "br", "gzip", "deflate", "identity", "*", "x-gzip", "", " "],
        *["application/json", "application/x-npz", "*/*", "text/*", "a/b/c", "ä", "\t"],
    ]
)
QS = st.one_of(
    st.just(""),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda q: f";q={q}"),
    st.text(alphabet=";=q ,.0123456789eE+-abc", max_size=12),
)
HEADERS = st.lists(st.tuples(TOKENS, QS).map("".join), max_size=30).map(",".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accept=HEADERS, accept_encoding=HEADERS)
def test_no_accept_or_accept_encoding_header_gets_a_server_error(
    accept: str, accept_encoding: str
) -> None:
    headers = {
        "accept": accept.encode("latin-1"),
        "accept-encoding": accept_encoding.encode("latin-1"),
    }
    r = CLIENT.post("/derivative", json=POINTS_SMALL, headers=headers)
    assert r.status_code in (200, 406), r.content[:300]
    if r.status_code == 406:
        # Encoded if the client refused identity and allowed a coding (the TestClient does
        # not decode it): an .npz's 406 for `identity;q=0, zstd` comes in zstd.
        coding = r.headers.get("content-encoding")
        body = json.loads(DECODERS[coding](r.content) if coding else r.content)
        assert body["type"] == "not_acceptable"
        assert "Nabla" in body["detail"]


CLIENT = TestClient(create_app(Settings()), raise_server_exceptions=True)
POINTS_SMALL = {"expression": "sin(x)", "points": np.linspace(-3, 3, 200).tolist()}


def test_the_openapi_document_lists_npz_beside_json_and_the_406() -> None:
    paths = create_app(Settings()).openapi()["paths"]
    for path in ("/derivative", "/gradient", "/gradient-field", "/hessian"):
        responses = paths[path]["post"]["responses"]
        assert set(responses["200"]["content"]) == {"application/json", NPZ}, path
        assert "406" in responses, path


# ---------------------------------------------------------------- Vary, in process


def sent_headers(
    request_headers: list[tuple[bytes, bytes]], answer_headers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The headers CompressionMiddleware sends for a 3-byte answer with `answer_headers`."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": answer_headers})
        await send({"type": "http.response.body", "body": b"{}\n"})

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = CompressionMiddleware(app, settings=Settings())
    scope = {"type": "http", "method": "POST", "path": "/", "headers": request_headers}
    asyncio.run(middleware(scope, None, record))  # type: ignore[arg-type]
    return [tuple(h) for h in sent[0]["headers"]]


JSON_TYPE = (b"content-type", b"application/json")


@pytest.mark.parametrize("accept_encoding", [None, b"gzip", b"identity"])
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            [JSON_TYPE, (b"vary", b"Accept")],
            [JSON_TYPE, (b"vary", b"Accept, Accept-Encoding")],
            id="appended",
        ),
        pytest.param([JSON_TYPE], [JSON_TYPE, (b"vary", b"Accept-Encoding")], id="added"),
        pytest.param(
            [(b"vary", b" "), JSON_TYPE], [(b"vary", b"Accept-Encoding"), JSON_TYPE], id="blank"
        ),
        pytest.param([JSON_TYPE, (b"vary", b"*")], [JSON_TYPE, (b"vary", b"*")], id="star"),
        pytest.param(
            [JSON_TYPE, (b"vary", b"accept-encoding")],
            [JSON_TYPE, (b"vary", b"accept-encoding")],
            id="named",
        ),
        pytest.param(
            [(b"content-type", NPZ.encode()), (b"vary", b"Accept")],
            [(b"content-type", NPZ.encode()), (b"vary", b"Accept")],
            id="not-compressible",
        ),
    ],
)
def test_a_small_answer_names_accept_encoding_in_vary_once_where_it_could_be_compressed(
    accept_encoding: bytes | None,
    answer: list[tuple[bytes, bytes]],
    expected: list[tuple[bytes, bytes]],
) -> None:
    request = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding)]
    assert sent_headers(request, answer) == expected


# ---------------------------------------------------------------- compression, real server


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/gradient-field", FIELD, id="streamed"),
        pytest.param("/derivative", POINTS, id="one-piece"),
    ],
)
def test_a_compressed_answer_decodes_to_the_uncompressed_json(
    server: Server, coding: str, path: str, body: Any
) -> None:
    plain = raw_answer(server, path, body, {"accept-encoding": "identity"})
    packed = raw_answer(server, path, body, {"accept-encoding": coding})
    assert packed.status_code == 200, packed.content[:300]
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == coding
    assert "accept-encoding" in packed.headers["vary"].lower()
    assert DECODERS[coding](packed.content) == plain.content
    assert len(packed.content) < 0.5 * len(plain.content)


@pytest.mark.parametrize("extra", [pytest.param("", id="json"), pytest.param("zstd", id="zstd")])
def test_httpx_with_zstd_gets_the_same_json_as_without(server: Server, extra: str) -> None:
    # httpx advertises zstd when `zstandard` is installed (httpx[zstd]) and decodes it.
    with httpx.Client(timeout=120) as client:
        r = client.post(f"{server.url}/gradient-field", json=FIELD)
        plain = client.post(
            f"{server.url}/gradient-field", json=FIELD, headers={"accept-encoding": "identity"}
        )
    assert r.status_code == 200, r.text
    assert "zstd" in r.request.headers["accept-encoding"]
    assert r.headers["content-encoding"] == "zstd"
    assert r.json() == plain.json()


def test_a_small_answer_is_sent_uncompressed_but_says_it_varies(server: Server) -> None:
    r = raw_answer(server, "/derivative", {"expression": "x^2", "points": [3]}, {})
    assert r.status_code == 200, r.content
    assert len(r.content) < 1024
    assert "content-encoding" not in r.headers
    assert "accept-encoding" in r.headers["vary"].lower()


def test_a_small_answer_is_compressed_when_identity_is_refused(server: Server) -> None:
    headers = {"accept-encoding": "gzip, identity;q=0"}
    r = raw_answer(server, "/derivative", {"expression": "x^2", "points": [3]}, headers)
    assert r.status_code == 200, r.content
    assert r.headers["content-encoding"] == "gzip"
    assert b'"derivatives":[6.0' in gzip.decompress(r.content)


def test_refusing_identity_and_every_coding_we_have_is_a_406_naming_them(server: Server) -> None:
    headers = {"accept-encoding": "deflate, identity;q=0"}
    r = raw_answer(server, "/gradient-field", FIELD, headers)
    assert r.status_code == 406, r.content
    body = r.json()
    assert body["type"] == "not_acceptable"
    assert "zstd, br, gzip, identity" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("gzip;q=0.1," * 4000, id="many-values"),
        pytest.param("x" * 60_000, id="huge-token"),
        pytest.param("zstd;q=" + "9" * 5000, id="huge-q"),
        pytest.param("*;q=0, identity;q=0", id="nothing-at-all"),
        pytest.param("application/x-npz;q=0.5;q=1;;;q=," * 1500, id="repeated-parameters"),
        pytest.param("*/*;q=1e-400, a/b;q=1e400", id="q-beyond-floats"),
    ],
)
@pytest.mark.parametrize("name", ["accept-encoding", "accept"])
def test_hostile_accept_headers_get_an_answer_not_a_server_error(
    server: Server, name: str, header: str
) -> None:
    r = raw_answer(server, "/derivative", POINTS_SMALL, {name: header})
    assert r.status_code in (200, 406), r.content[:300]
    assert r.headers["content-type"] in ("application/json", NPZ)


def test_health_answers_within_a_second_while_big_answers_are_compressed(
    server: Server,
) -> None:
    big = {"expression": "x0**2 + x1**2", "grid": [{"start": -2, "stop": 2, "num": 1000}] * 2}
    done: list[int] = []

    def fetch(coding: str) -> None:
        r = raw_answer(server, "/gradient-field", big, {"accept-encoding": coding})
        done.append(r.status_code)

    threads = [threading.Thread(target=fetch, args=(c,)) for c in ("gzip", "br", "zstd")]
    for thread in threads:
        thread.start()
    slowest = 0.0
    while any(t.is_alive() for t in threads):
        start = time.perf_counter()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        slowest = max(slowest, time.perf_counter() - start)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert done == [200, 200, 200]
    assert slowest < 1.0


# ---------------------------------------------------------------- .npz, real server


def as_arrays(value: Any) -> np.ndarray:
    """The JSON's numbers as NumPy reads them from the .npz: null is NaN."""
    texts = isinstance(value, str) or (isinstance(value, list) and isinstance(value[0], str))
    return np.array(value) if texts else np.array(value, dtype=float)


AXIS_400 = {"start": -2.0, "stop": 2.0, "num": 400}
BODIES = {
    "/derivative": {"expression": "1/x", "points": [-1.0, 0.0, 2.0]},
    "/gradient": {"expression": "x0**2 + x1**3", "points": [[3, 4], [0, 2]]},
    "/gradient-field": FIELD,
    "/hessian": {"expression": "x0**2 * x1", "point": [1, 2]},
}


@pytest.mark.parametrize("path", list(BODIES))
def test_npz_holds_the_json_arrays_under_their_names(server: Server, path: str) -> None:
    body = BODIES[path]
    as_json = httpx.post(f"{server.url}{path}", json=body, timeout=60)
    r = httpx.post(f"{server.url}{path}", json=body, headers={"accept": NPZ}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == NPZ
    assert "content-encoding" not in r.headers
    arrays = np.load(io.BytesIO(r.content), allow_pickle=False)
    expected = {k: v for k, v in as_json.json().items() if v is not None}
    flat = {f"axes[{i}]": axis for i, axis in enumerate(expected.pop("axes", []))}
    assert set(arrays.files) == set(expected) | set(flat)
    for name, value in {**expected, **flat}.items():
        np.testing.assert_array_equal(arrays[name], as_arrays(value), err_msg=name)


def test_npz_writes_non_finite_values_as_nan(server: Server) -> None:
    body = {"expression": "1/x", "points": [0.0, 1.0]}
    r = httpx.post(f"{server.url}/derivative", json=body, headers={"accept": NPZ})
    derivatives = np.load(io.BytesIO(r.content))["derivatives"]
    assert httpx.post(f"{server.url}/derivative", json=body).json()["derivatives"][0] is None
    assert np.isnan(derivatives[0])
    assert derivatives[1] == pytest.approx(-1.0)


def test_npz_keeps_float32_when_asked(server: Server) -> None:
    body = FIELD | {"precision": "float32"}
    r = httpx.post(f"{server.url}/gradient-field", json=body, headers={"accept": NPZ})
    arrays = np.load(io.BytesIO(r.content))
    assert arrays["gradient"].dtype == np.float32
    assert arrays["gradient"].shape == (2, 400 * 400)


@pytest.mark.parametrize("path", list(BODIES))
def test_an_accept_nabla_cannot_produce_is_a_406_naming_what_it_can(
    server: Server, path: str
) -> None:
    r = httpx.post(f"{server.url}{path}", json=BODIES[path], headers={"accept": "text/csv"})
    assert r.status_code == 406, r.text
    assert r.json()["field"] == "Accept"
    assert "`Accept: text/csv`" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/step-study", {"expression": "sin(x)", "point": 1.0}, id="step-study"),
        pytest.param("/gradient-field", FIELD, id="gradient-field"),
    ],
)
def test_npz_is_a_zip_whose_every_crc_checks(server: Server, path: str, body: Any) -> None:
    r = httpx.post(f"{server.url}{path}", json=body, headers={"accept": NPZ}, timeout=60)
    assert r.status_code == 200, r.text
    if path == "/gradient-field":  # 6.4 MB of arrays: sent entry by entry, as written
        assert r.headers["transfer-encoding"] == "chunked"
    else:  # small: written whole
        assert int(r.headers["content-length"]) == len(r.content)
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.testzip() is None  # reads every entry and checks its CRC-32
        names = archive.namelist()
    assert all(name.endswith(".npy") for name in names)


def http_1_0_post(
    server: Server, path: str, body: dict[str, Any], accept: str
) -> tuple[dict[str, str], bytes]:
    """A POST over HTTP/1.0 on a raw socket, read to the close of the connection: the
    answer's headers and its body, as the bytes came."""
    host, port = server.url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.0\r\nHost: {host}\r\nAccept: {accept}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(request)
        received = b"".join(iter(lambda: connection.recv(1 << 16), b""))
    head, _, content = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split()[1] == "200", lines[0]
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return headers, content


def test_an_http_1_0_client_gets_a_big_npz_to_the_close_of_the_connection(
    server: Server,
) -> None:
    # HTTP/1.0 has no chunked encoding: a streamed .npz read to the end of the connection
    # was not a zip (b"ab\r\nPK..." and chunk sizes between its pieces).
    headers, content = http_1_0_post(server, "/gradient-field", FIELD, NPZ)
    assert "transfer-encoding" not in headers
    assert "content-length" not in headers  # streamed as written: its end is the close
    assert headers["connection"] == "close"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
    arrays = np.load(io.BytesIO(content))
    axis = np.linspace(AXIS["start"], AXIS["stop"], AXIS["num"])
    x0, x1 = np.meshgrid(axis, axis)
    np.testing.assert_allclose(arrays["gradient"][0], 2 * x0.ravel(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(arrays["gradient"][1], np.cos(x1).ravel(), rtol=1e-7, atol=1e-9)


def test_an_http_1_0_client_gets_a_big_json_answer_to_the_close_of_the_connection(
    server: Server,
) -> None:
    # The same for a streamed JSON answer: it came chunked, and a client that reads to the
    # close (as HTTP/1.0 has it) found chunk sizes inside the JSON.
    headers, content = http_1_0_post(server, "/gradient-field", FIELD, "application/json")
    assert "transfer-encoding" not in headers
    assert headers["connection"] == "close"
    answer = json.loads(content)
    axis = np.linspace(AXIS["start"], AXIS["stop"], AXIS["num"])
    x0, x1 = np.meshgrid(axis, axis)
    gradient = np.array(answer["gradient"])
    np.testing.assert_allclose(gradient[0], 2 * x0.ravel(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gradient[1], np.cos(x1).ravel(), rtol=1e-7, atol=1e-9)


def test_an_http_1_0_client_gets_a_small_answer_with_its_length(server: Server) -> None:
    # Written whole, it keeps its Content-Length (the connection still closes after it).
    body = {"expression": "1/x", "points": [1.0, 2.0]}
    headers, content = http_1_0_post(server, "/derivative", body, "application/json")
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(content)
    assert json.loads(content)["derivatives"] == pytest.approx([-1.0, -0.25])


def test_an_npz_to_a_client_that_refuses_identity_is_a_406_naming_the_header(
    server: Server,
) -> None:
    # An .npz goes as it is: a client that allows only gzip cannot have it.
    headers = {"accept": NPZ, "accept-encoding": "identity;q=0, gzip"}
    r = httpx.post(f"{server.url}/derivative", json=POINTS, headers=headers, timeout=60)
    assert r.status_code == 406, r.content[:200]
    assert r.json()["field"] == "Accept-Encoding"
    assert "refuses identity" in r.json()["detail"]


def test_a_fields_npz_deflates_its_coordinates_and_stores_its_values(server: Server) -> None:
    # A grid's coordinates are its axes repeated: deflated, they cost the wire 7% of their
    # 8·2·n bytes; the values of sin·exp do not repeat and stay stored.
    body = {"expression": "sin(3*x0)*exp(-x1**2/3)", "grid": [AXIS_400, AXIS_400]}
    r = httpx.post(f"{server.url}/gradient-field", json=body, headers={"accept": NPZ})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.testzip() is None
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
        coordinates = archive.getinfo("coordinates.npy")
    assert kinds["coordinates.npy"] == zipfile.ZIP_DEFLATED
    assert coordinates.compress_size < coordinates.file_size / 5
    assert kinds["values.npy"] == zipfile.ZIP_STORED
    arrays = np.load(io.BytesIO(r.content))
    axis = np.linspace(-2.0, 2.0, 400)
    x0, x1 = np.meshgrid(axis, axis)
    np.testing.assert_array_equal(arrays["coordinates"], np.stack([x0.ravel(), x1.ravel()]))
    exact = np.cos(3 * x0) * 3 * np.exp(-(x1**2) / 3)  # ∂f/∂x0
    np.testing.assert_allclose(arrays["gradient"][0], exact.ravel(), rtol=1e-6, atol=1e-8)


def test_npz_names_nested_fields_by_their_json_path(server: Server) -> None:
    body = {"expression": "sin(x)", "point": 1.0}
    as_json = httpx.post(f"{server.url}/step-study", json=body).json()
    r = httpx.post(f"{server.url}/step-study", json=body, headers={"accept": NPZ})
    arrays = np.load(io.BytesIO(r.content))
    for method, estimates in as_json["estimates"].items():
        np.testing.assert_array_equal(arrays[f"estimates[{method}]"], as_arrays(estimates))
    assert str(arrays["derivative"]) == as_json["derivative"]


def test_the_fast_arrays_example_gets_the_same_arrays_both_ways(server: Server) -> None:
    script = ROOT / "examples" / "fast_arrays.py"
    done = subprocess.run(
        [sys.executable, str(script), "--url", server.url, "--num", "200"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "(2, 40000) gradient" in done.stdout
    assert "the same arrays" in done.stdout


@pytest.mark.parametrize("coding", ["zstd", "gzip", "br", "npz"])
def test_a_client_leaving_mid_answer_leaves_no_error_and_a_healthy_server(coding: str) -> None:
    # npz: the answer is sent entry by entry as the compute process writes it.
    headers = {"accept": NPZ} if coding == "npz" else {"accept-encoding": coding}
    running = Server()
    try:
        big = {"expression": "x0**2 + x1**2", "grid": [{"start": -2, "stop": 2, "num": 1000}] * 2}
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", f"{running.url}/gradient-field", json=big, headers=headers) as r,
        ):
            if coding == "npz":
                assert r.headers["content-type"] == NPZ
            else:
                assert r.headers["content-encoding"] == coding
            next(r.iter_raw())  # one piece, then hang up
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200
        r = raw_answer(running, "/derivative", POINTS, headers)
        assert r.status_code == 200
        if coding == "npz":
            derivative = np.load(io.BytesIO(r.content))["derivatives"]
            np.testing.assert_allclose(derivative, np.cos(POINTS["points"]), rtol=1e-8, atol=1e-9)
    finally:
        log = running.output()
    assert "Traceback" not in log
    assert not [r for r in log_records(log) if r["level"] == "error"]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param(
            {"NABLA_ZSTD_LEVEL": "25"}, ["NABLA_ZSTD_LEVEL='25'", "from 0 to 19"], id="zstd"
        ),
        pytest.param(
            {"NABLA_BROTLI_QUALITY": "best"},
            ["NABLA_BROTLI_QUALITY='best'", "a whole number from 0 to 11", "brotli quality"],
            id="brotli",
        ),
        pytest.param(
            {"NABLA_COMPRESS_FROM_BYTES": "-1"},
            ["NABLA_COMPRESS_FROM_BYTES='-1'", "≥ 0", "sent uncompressed"],
            id="threshold",
        ),
    ],
)
def test_a_bad_compression_setting_stops_the_start_with_one_line(
    env: dict[str, str], words: list[str]
) -> None:
    started = start_with(env)
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"zstd_level": 0}, "br", id="zstd-off"),
        pytest.param({"zstd_level": 0, "brotli_quality": 0}, "gzip", id="zstd-and-br-off"),
        pytest.param({"compress_from_bytes": 10**8}, "identity", id="threshold"),
    ],
)
def test_compression_settings_are_honoured(overrides: dict[str, int], expected: str) -> None:
    with make_client(**overrides) as client:
        r = client.get("/openapi.json", headers={"accept-encoding": "gzip, br, zstd"})
    assert r.status_code == 200
    assert r.headers.get("content-encoding", "identity") == expected


def test_the_readme_npz_example_runs(server: Server, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```py\n(.*?)```", readme, flags=re.DOTALL)  # the .npz example
    code = block.replace("http://127.0.0.1:8000", server.url)
    script = tmp_path / "npz_example.py"  # its last line, shown as a value, printed
    script.write_text(code.replace('field["gradient"].shape', 'print(field["gradient"].shape)'))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 1000000)"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_compressed_gets_zstd_and_the_same_json(server: Server, tmp_path: Path) -> None:
    body = tmp_path / "field.json"
    body.write_text(json.dumps(FIELD))
    command = ["curl", "--compressed", "-s", "-D", str(tmp_path / "headers"), "-o", "-"]
    command += ["-H", "Content-Type: application/json", "--data-binary", f"@{body}"]
    done = subprocess.run(
        [*command, f"{server.url}/gradient-field"], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    headers = (tmp_path / "headers").read_text().lower()
    features = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    best = next(c for c in ("zstd", "brotli", "libz") if c in features.lower())
    coding = {"zstd": "zstd", "brotli": "br", "libz": "gzip"}[best]
    assert f"content-encoding: {coding}" in headers
    plain = raw_answer(server, "/gradient-field", FIELD, {"accept-encoding": "identity"})
    assert done.stdout == plain.content
