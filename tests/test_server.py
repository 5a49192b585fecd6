"""End to end against a real `uvicorn app.main:app` process on a free port, as `make run` starts it.

What the in-process client cannot show: uvicorn's own HTTP parsing, real sockets, and the
body limit answering from the Content-Length header before any body is sent.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import Server, log_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


def test_server_health_answers_ok(server: Server) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}


def test_server_computes_the_notebook_derivative(server: Server) -> None:
    request = {"expression": "0.01*x**2 + 0.1*x", "points": [5, 10], "step": 1e-4}
    r = httpx.post(f"{server.url}/derivative", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variable": "x",
        "method": "central",
        "points": [5.0, 10.0],
        "values": [0.75, 2.0],
        "derivatives": [0.1999999999990898, 0.2999999999986347],
        "intercepts": pytest.approx([-0.25, -1.0], abs=1e-10),
        "steps": [1e-4, 1e-4],
    }


def test_server_computes_a_gradient(server: Server) -> None:
    r = httpx.post(f"{server.url}/gradient", json={"expression": "sum(x**2)", "point": [3, 4]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x[0]", "x[1]"],
        "value": 25.0,
        "gradient": pytest.approx([6.0, 8.0], rel=1e-8),
    }


def test_server_computes_the_notebook_gradient_field(server: Server) -> None:
    axis = {"start": -2, "stop": 2.5, "step": 0.25}
    request = {"expression": "x0**2 + x1**2", "grid": [axis, axis]}
    r = httpx.post(f"{server.url}/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    x = np.arange(-2, 2.5, 0.25)
    coordinates = np.array([grid.ravel() for grid in np.meshgrid(x, x)])
    assert body["shape"] == [18, 18]
    assert body["coordinates"] == coordinates.tolist()
    np.testing.assert_allclose(body["gradient"], 2 * coordinates, atol=1e-8)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b'{"expression": "x", "points": [NaN]}', "NaN", id="nan"),
        pytest.param(b'{"expression": "x", "points": [1', "not valid JSON", id="truncated"),
    ],
)
def test_server_refuses_a_malformed_body_as_json(
    server: Server, content: bytes, fragment: str
) -> None:
    r = httpx.post(
        f"{server.url}/derivative", content=content, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json"
    assert fragment in r.json()["detail"]


def test_server_refuses_a_body_that_is_not_json(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/derivative",
        content=b"expression=x&points=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == "application/json"
    assert "application/json" in r.json()["detail"]


def test_server_refuses_an_over_limit_content_length_before_reading_the_body(
    server: Server,
) -> None:
    # Announce 1 GB (the default limit is 64 MiB) and send nothing: the answer must come
    # from the header alone, as JSON, not as uvicorn's plain-text error.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", "/derivative")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10**9))
        connection.endheaders()
        response = connection.getresponse()
        status, content_type, body = (
            response.status,
            response.getheader("content-type"),
            json.loads(response.read()),
        )
    finally:
        connection.close()
    assert status == 413, body
    assert content_type == "application/json"
    assert body["reason"] == "body"
    assert "bytes" in body["detail"]


def _field(server: Server, accept_encoding: str) -> httpx.Response:
    axis = {"start": -2, "stop": 2, "num": 400}  # 160,000 points: a streamed response
    request = {"expression": "x0**2 + sin(x1)", "grid": [axis, axis]}
    with httpx.Client(timeout=60) as client:
        headers = {"accept-encoding": accept_encoding}
        return client.post(f"{server.url}/gradient-field", json=request, headers=headers)


def test_server_gzips_a_streamed_field_for_clients_that_accept_it(server: Server) -> None:
    plain, gzipped = _field(server, "identity"), _field(server, "gzip")
    assert plain.status_code == gzipped.status_code == 200, gzipped.text
    assert "content-encoding" not in plain.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    # httpx decodes gzip: the same bytes arrive, in a fraction of them on the wire.
    assert gzipped.content == plain.content
    assert gzipped.num_bytes_downloaded < 0.3 * plain.num_bytes_downloaded


def test_server_sends_small_responses_uncompressed(server: Server) -> None:
    r = httpx.get(f"{server.url}/health", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert "content-encoding" not in r.headers


def test_gzip_level_0_turns_compression_off() -> None:
    running = Server(env={"NABLA_GZIP_LEVEL": "0"})
    try:
        r = _field(running, "gzip")
        assert r.status_code == 200, r.text
        assert "content-encoding" not in r.headers
    finally:
        running.stop()


def test_a_client_that_leaves_mid_body_is_a_499_in_the_log_not_a_500() -> None:
    # Before: ClientDisconnect escaped as an unhandled error, a traceback at error level
    # and a 500 in the metrics, for what the client did.
    server = Server()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(
                b"POST /derivative HTTP/1.1\r\nHost: nabla\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"expressi'
            )
            time.sleep(0.3)
        time.sleep(0.5)
        metrics = httpx.get(f"{server.url}/metrics").text
        log = server.log_so_far()
    finally:
        server.stop()
    records = log_records(log)
    assert any(r.get("status") == 499 for r in records), log
    assert "Traceback" not in log
    assert not [r for r in records if r["level"] == "error"]
    assert 'route="/derivative",status="499"' in metrics
    assert 'status="500"' not in metrics


@pytest.mark.parametrize("path", ["/health", "/", "/docs", "/redoc", "/openapi.json", "/metrics"])
def test_head_on_a_get_route_answers_its_headers_without_a_body(server: Server, path: str) -> None:
    get = httpx.get(f"{server.url}{path}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: nabla\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert body == b""
    headers = dict(line.lower().split(": ", 1) for line in head.decode().split("\r\n")[1:])
    assert headers["content-type"] == get.headers["content-type"]


def test_head_on_a_post_route_is_a_json_405_naming_post(server: Server) -> None:
    r = httpx.head(f"{server.url}/derivative")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("gzip", gzip.compress(b'{"expression": "x", "points": [1]}'), id="gzip-body"),
        pytest.param("gzip", b'{"expression": "x", "points": [1]}', id="plain-body-said-gzip"),
        pytest.param("br", b"\x0b\x02\x80", id="br"),
    ],
)
def test_a_body_with_a_content_encoding_gets_a_415_that_says_send_it_plain(
    server: Server, encoding: str, body: bytes
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    r = httpx.post(f"{server.url}/derivative", content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert r.json() == {
        "detail": f"the body is sent with `Content-Encoding: {encoding}`; Nabla reads "
        "uncompressed JSON only: send it without `Content-Encoding`.",
        "type": "unsupported_media_type",
    }


def test_an_identity_content_encoding_is_read_as_plain_json(server: Server) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    body = b'{"expression": "x**2", "points": [3]}'
    r = httpx.post(f"{server.url}/derivative", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == pytest.approx([6.0], rel=1e-9)


def test_metrics_count_docs_metrics_and_static_files_under_their_routes(server: Server) -> None:
    for path in ("/openapi.json", "/metrics", "/static/favicon.svg"):
        assert httpx.get(f"{server.url}{path}").status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    for route in ("/openapi.json", "/metrics", "/static/{path}"):
        assert f'method="GET",route="{route}",status="200"' in metrics, route
    assert 'route="unmatched",status="200"' not in metrics


def test_an_unexpected_error_closes_the_connection_and_says_so() -> None:
    # A bug (a route of tests/servable_apps.py that raises) is a JSON 500; uvicorn then
    # drops the connection, so the answer must say `Connection: close`, or the client's
    # next request on it fails with a reset.
    server = Server(factory="broken")
    try:
        with httpx.Client(base_url=server.url) as client:
            r = client.get("/bug")
            assert r.status_code == 500
            assert r.headers["connection"] == "close"
            assert r.json() == {"detail": "Internal server error.", "type": "internal_error"}
            after = client.get("/health")  # same client: a new connection, no reset
            assert after.status_code == 200, after.text
    finally:
        log = server.output()
    assert "RuntimeError: a bug" in log  # logged in full for whoever fixes it


def test_the_protocol_takes_the_head_limit_of_the_app_it_serves() -> None:
    # tests/servable_apps.small_heads builds the app with a 2 KiB head limit while the
    # environment says nothing (64 KiB): a 4 KiB header must get the 431.
    server = Server(factory="small_heads")
    try:
        big = httpx.get(f"{server.url}/health", headers={"X-Big": "a" * 4096})
        small = httpx.get(f"{server.url}/health", headers={"X-Small": "a" * 1024})
    finally:
        server.stop()
    assert big.status_code == 431, big.text
    assert big.json()["reason"] == "headers"
    assert small.status_code == 200, small.text


def test_concurrent_requests_with_signed_zero_parameters_each_get_their_own_answer(
    server: Server,
) -> None:
    # Parameter maps that compare equal but are not the same numbers, sent at once from
    # several threads, each checked against NumPy evaluating the formula itself.
    values = [0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0] * 8

    def ask(a: float) -> tuple[float, list[float]]:
        body = {"expression": "arctan2(a, -1) + x", "points": [1.0], "parameters": {"a": a}}
        r = httpx.post(f"{server.url}/derivative", json=body, timeout=30)
        assert r.status_code == 200, r.text
        return a, r.json()["values"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, values))
    for a, got in answers:
        assert got == [float(np.arctan2(a, -1.0) + 1.0)], a


PARAMETER = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64),
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    maps=st.lists(st.fixed_dictionaries({"a": PARAMETER, "b": PARAMETER}), min_size=8, max_size=24)
)
def test_random_parameter_maps_sent_at_once_each_get_their_own_function(
    server: Server, maps: list[dict[str, float]]
) -> None:
    # The cache of bound functions is keyed by the parameters' bits; each answer is checked
    # against NumPy evaluating the formula with that request's own numbers.
    x = 1.5

    def ask(parameters: dict[str, float]) -> dict[str, Any]:
        body = {"expression": "arctan2(a, -1) + b*x", "points": [x], "parameters": parameters}
        r = httpx.post(f"{server.url}/derivative", json=body, timeout=30)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, maps))
    for parameters, answer in zip(maps, answers, strict=True):
        a, b = parameters["a"], parameters["b"]
        assert answer["values"] == [float(np.arctan2(a, -1.0) + b * x)], parameters
        np.testing.assert_allclose(answer["derivatives"], [b], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("range_header", ["bytes=zz", "bytes=999999999-", "bytes=0-10"])
def test_a_range_header_is_ignored_and_the_whole_file_is_sent(
    server: Server, range_header: str
) -> None:
    whole = httpx.get(f"{server.url}/static/favicon.svg")
    r = httpx.get(f"{server.url}/static/favicon.svg", headers={"Range": range_header})
    assert r.status_code == 200
    assert r.content == whole.content
