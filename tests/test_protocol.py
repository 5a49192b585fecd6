"""app.protocol against real uvicorn processes: what goes over the wire for requests that
uvicorn's own HTTP parser refuses, for heads over the size limit, and for heads that
arrive too slowly. Raw sockets, so that the bytes are exactly those written here."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import Server, rss_kib

from app import protocol

pytestmark = pytest.mark.slow

BODY = b'{"expression": "x**2", "points": [3.0]}'
POST = b"POST /derivative HTTP/1.1\r\nHost: nabla\r\nContent-Type: application/json\r\n"

BROKEN_FRAMING = {
    "content-length-not-a-number": POST + b"Content-Length: abc\r\n\r\n" + BODY,
    "content-length-negative": POST + b"Content-Length: -5\r\n\r\n" + BODY,
    "two-content-lengths": POST + b"Content-Length: 39\r\nContent-Length: 10\r\n\r\n" + BODY,
    "content-length-and-chunked": POST
    + b"Content-Length: 39\r\nTransfer-Encoding: chunked\r\n\r\n27\r\n"
    + BODY
    + b"\r\n0\r\n\r\n",
    "chunk-size-not-hex": POST
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    + BODY
    + b"\r\n0\r\n\r\n",
    "request-line-not-http": b"HELLO THERE\r\n\r\n",
    "unknown-http-version": b"GET /health HTTP/9.9\r\nHost: nabla\r\n\r\n",
    "space-in-a-header-name": b"GET /health HTTP/1.1\r\nHost: nabla\r\nBad Name: x\r\n\r\n",
    "control-character-in-a-header": b"GET /health HTTP/1.1\r\nHost: nabla\r\nX: a\x01b\r\n\r\n",
    "tls-handshake-on-the-plain-port": bytes.fromhex("16030102000100 01fc0303"),
}


def exchange(port: int, *pieces: bytes, pause: float = 0.0) -> tuple[int, dict[str, str], Any]:
    """Send the pieces (`pause` seconds apart) on a new connection and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        for i, piece in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            sock.sendall(piece)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One response: (status, headers, parsed JSON body), read up to its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """All the server sends until it closes the connection, and how long that took."""
    start = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - start


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data) + 1


@pytest.mark.parametrize("raw", BROKEN_FRAMING.values(), ids=BROKEN_FRAMING)
def test_a_request_uvicorn_cannot_parse_gets_a_json_400(server: Server, raw: bytes) -> None:
    status, headers, body = exchange(server.port, raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body["type"] == "malformed_http"
    assert "HTTP/1.1" in body["detail"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_the_same_request_well_framed_is_answered(server: Server) -> None:
    # The control for the cases above: only the framing differs.
    status, _, body = exchange(server.port, POST + b"Content-Length: 39\r\n\r\n" + BODY)
    assert status == 200
    assert body["derivatives"] == pytest.approx([6.0])


H2C = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
)
WEBSOCKET = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def test_a_post_that_asks_to_upgrade_gets_a_json_400_saying_what_to_change(
    server: Server,
) -> None:
    # What `curl --http2 -d ... http://` sends. uvicorn handed the body to the protocol
    # asked for, so the app saw none and answered "the request body is empty".
    status, headers, body = exchange(server.port, POST + H2C + b"Content-Length: 39\r\n\r\n" + BODY)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert body["type"] == "malformed_http"
    assert "`h2c`" in body["detail"]
    assert "--http1.1" in body["detail"]


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
def test_a_get_that_asks_to_upgrade_is_served_as_plain_http(server: Server, upgrade: bytes) -> None:
    # uvicorn answered a WebSocket handshake with an empty text/plain 403.
    status, headers, body = exchange(
        server.port, b"GET /health HTTP/1.1\r\nHost: nabla\r\n" + upgrade + b"\r\n"
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == {"status": "ok"}


def test_headers_over_the_limit_get_a_json_431(server: Server) -> None:
    # 70 KiB in one header, over the default 64 KiB, and the head never ends.
    status, headers, body = exchange(
        server.port, b"GET /health HTTP/1.1\r\nHost: nabla\r\nX-Big: " + b"a" * 70 * 1024
    )
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert body == {
        "detail": "the request line and headers are over 65536 bytes; send fewer or shorter "
        "headers.",
        "type": "too_large",
        "reason": "headers",
    }
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'nabla_rejections_total{reason="headers"}' in metrics


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X-Big: " + b"a" * 70 * 1024 + b"\r\n", id="one-70-KiB-header"),
        pytest.param(b"".join(b"X-%d: %s\r\n" % (i, b"a" * 700) for i in range(100)), id="many"),
    ],
)
def test_a_whole_head_over_the_limit_sent_in_one_write_gets_the_431(
    server: Server, headers: bytes
) -> None:
    # Complete heads that arrive in one read (up to 256 KiB) were parsed before the byte
    # count was checked, and served.
    head = b"GET /health HTTP/1.1\r\nHost: nabla\r\n" + headers + b"\r\n"
    status, headers_back, body = exchange(server.port, head)
    assert status == 431
    assert headers_back["connection"] == "close"
    assert body["reason"] == "headers"


def test_headers_just_under_the_limit_are_served(server: Server) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: nabla\r\nX-Big: %s\r\n\r\n"
    status, _, body = exchange(server.port, head % (b"a" * 60 * 1024))
    assert status == 200
    assert body == {"status": "ok"}


def test_an_endless_header_does_not_grow_the_server() -> None:
    # Before app.protocol, uvicorn's parser buffered all of it: +260 MiB for 200 MiB sent.
    server = Server()
    try:
        before = rss_kib(server.process.pid)
        sent = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: nabla\r\nX-Big: ")
            try:
                while sent < 64 * 2**20:
                    sock.sendall(b"a" * 2**20)
                    sent += 2**20
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused and closed: what should happen
        grown = rss_kib(server.process.pid) - before
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        server.stop()
    assert sent < 64 * 2**20, "the server read 64 MiB of one header without refusing it"
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB"


def test_pipelined_requests_are_read_as_fast_as_they_are_answered() -> None:
    # 30,000 requests in a row, answers unread for 3 s: before app.protocol the server
    # queued all of them (+280 MiB for 100,000); now it stops reading. Then all are served.
    count, mark = 30_000, b"HTTP/1.1 200 OK"
    request = POST + b"Content-Length: 39\r\n\r\n" + BODY
    server = Server()
    try:
        before = peak = rss_kib(server.process.pid)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sender = threading.Thread(target=sock.sendall, args=(request * count,))
            sender.start()
            for _ in range(15):
                time.sleep(0.2)
                peak = max(peak, rss_kib(server.process.pid))
            answered, tail = 0, b""
            while answered < count:
                chunk = sock.recv(1 << 20)
                assert chunk, f"the server closed after {answered} answers"
                answered += (tail + chunk).count(mark)  # a mark split across two chunks too
                tail = (tail + chunk)[-len(mark) + 1 :]
                peak = max(peak, rss_kib(server.process.pid))
            sender.join(30)
    finally:
        server.stop()
    assert answered == count
    assert peak - before < 40 * 1024, f"RSS grew by {peak - before} KiB"


def test_headers_that_arrive_too_slowly_get_a_json_408() -> None:
    server = Server(env={"NABLA_HEADER_TIMEOUT": "1"})
    try:
        start = time.monotonic()
        status, headers, body = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: nab")
        waited = time.monotonic() - start
        # A head in three pieces within the limit, and a keep-alive pause longer than it
        # (the clock runs from a request's first byte, not between requests), are fine.
        pieces = [b"GET /health ", b"HTTP/1.1\r\n", b"Host: a\r\n\r\n"]
        slow = exchange(server.port, *pieces, pause=0.2)
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            first = read_response(sock)
            time.sleep(1.5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            second = read_response(sock)
    finally:
        server.stop()
    assert status == 408
    assert headers["content-type"] == "application/json"
    assert body["type"] == "header_timeout"
    assert body["detail"] == "the request headers took over 1 s to arrive."
    assert 0.9 < waited < 5
    assert slow[0] == 200
    assert first[0] == second[0] == 200


def test_python_m_app_serves_with_the_same_protocol() -> None:
    server = Server(launcher=True)
    try:
        status, headers, body = exchange(server.port, BROKEN_FRAMING["two-content-lengths"])
    finally:
        server.stop()
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert body["type"] == "malformed_http"


def test_a_request_answered_before_its_body_is_closed_at_the_deadline_with_one_answer() -> None:
    # A 413 from the declared length, and no body: at the body deadline the connection is
    # closed, without a second (408) answer to the same request.
    server = Server(env={"NABLA_BODY_TIMEOUT": "1"})
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(POST + b"Content-Length: 1000000000\r\n\r\n")
            received, closed_after = read_until_closed(sock)
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 413")
    assert received.count(b"HTTP/1.1 ") == 1
    assert 0.9 < closed_after < 5


def test_a_body_that_trickles_in_gets_a_json_408_and_gives_its_slot_back() -> None:
    # One slot, taken by a big body sent 10 bytes at a time and then not at all: without a
    # deadline it would hold the slot, and every big request after it, for ever.
    server = Server(env={"NABLA_BODY_TIMEOUT": "1", "NABLA_MAX_HEAVY_REQUESTS": "1"})
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(POST + b"Content-Length: 200000\r\n\r\n" + b'{"expressi')
            received, waited = read_until_closed(sock)
        points = np.linspace(0, 1, 10_000)
        after = httpx.post(
            f"{server.url}/derivative",
            json={"expression": "x**3", "points": points.tolist()},
            timeout=30,
        )
    finally:
        server.stop()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {
        "detail": "the request body took over 1 s to arrive.",
        "type": "body_timeout",
    }
    assert 0.9 < waited < 5
    assert after.status_code == 200
    np.testing.assert_allclose(after.json()["derivatives"], 3 * points**2, atol=1e-8)


def test_connections_that_send_nothing_are_closed_when_idle_keep_alive_ones_are() -> None:
    # 5,000 connections that never sent a byte stayed open for as long as the client
    # wished; at ~20,000 the process ran out of file descriptors. uvicorn closes an idle
    # keep-alive connection after --timeout-keep-alive (5 s; 1 s here): a new one too.
    server = Server("--timeout-keep-alive", "1")
    try:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
        try:
            time.sleep(2.5)
            for sock in socks:
                sock.settimeout(5)
                assert sock.recv(1024) == b""  # closed, and nothing said: nothing was asked
        finally:
            for sock in socks:
                sock.close()
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        server.stop()


def health_at_the_cap(occupy: Callable[[list[socket.socket]], None]) -> tuple[int, bytes]:
    """Fill a server's 20 connections, let `occupy` use them, then probe /health on a new
    connection: its status, and what the first of the 20 received (b"": it was closed to
    make room)."""
    server = Server(env={"NABLA_MAX_CONNECTIONS": "20"})
    try:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        try:
            occupy(socks)
            health = httpx.get(f"{server.url}/health", timeout=5)
            socks[0].settimeout(5)
            first = socks[0].recv(1024)
        finally:
            for sock in socks:
                sock.close()
    finally:
        server.stop()
    return health.status_code, first


def test_a_new_connection_over_the_cap_takes_the_place_of_the_longest_idle_one() -> None:
    # 2048 silent connections, reopened as soon as closed, kept /health out (a 503 in 70
    # of 71 probes): the cap refused every new connection, the probe's too.
    assert health_at_the_cap(lambda socks: time.sleep(0.2)) == (200, b"")


def test_connections_over_the_cap_get_a_json_503_when_none_is_idle() -> None:
    server = Server(env={"NABLA_MAX_CONNECTIONS": "20"})
    try:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        try:
            for sock in socks:  # each has begun a request: none is idle
                sock.sendall(b"GET /health HTTP/1.1\r\n")
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra:
                received, _ = read_until_closed(extra)
        finally:
            for sock in socks:
                sock.close()
    finally:
        server.stop()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 1" in head.lower()
    assert json.loads(body) == {
        "detail": "the server has 20 connections open; retry shortly.",
        "type": "overloaded",
        "reason": "connections",
    }


def test_a_new_connection_over_the_cap_takes_the_place_of_a_head_trickling_in() -> None:
    # 2,100 connections sending their heads a byte a second (slowloris) kept every new
    # connection out at the cap, the kubelet's probes too (296 of 301 got a 503). A head
    # still arriving after a second is now closed to make room, the oldest first.
    def trickle_heads(socks: list[socket.socket]) -> None:
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nX-a: ")
        time.sleep(1.3)

    assert health_at_the_cap(trickle_heads) == (200, b"")


def test_requests_over_the_cap_in_progress_get_a_503_before_their_body_is_read() -> None:
    # Two requests in progress (NABLA_MAX_REQUESTS=2): a third is refused by the protocol,
    # without the app reading its body; the probes still answer.
    server = Server(env={"NABLA_MAX_REQUESTS": "2", "NABLA_MAX_QUEUED": "4"})
    body = {"expression": "x0**2 + sin(x1)*x0", "init": [3.0, 4.0], "steps": 3000}
    try:
        with ThreadPoolExecutor(2) as pool:
            busy = [
                pool.submit(httpx.post, f"{server.url}/descent", json=body, timeout=60)
                for _ in range(2)
            ]
            time.sleep(0.3)  # both in progress
            third = httpx.post(f"{server.url}/descent", json=body, timeout=60)
            health = httpx.get(f"{server.url}/health", timeout=5)
            ready = httpx.get(f"{server.url}/ready", timeout=5)
            answered = [future.result().status_code for future in busy]
    finally:
        server.stop()
    assert third.status_code == 503, third.text
    assert third.headers["retry-after"] == "1"
    assert third.headers["connection"] == "close"
    assert third.json() == {
        "detail": "the server is answering 2 requests; retry shortly.",
        "type": "overloaded",
        "reason": "requests",
    }
    assert health.status_code == 200
    assert ready.status_code == 503  # shedding: readiness says so (it said 200)
    assert ready.json() == {"status": "shedding"}
    assert answered == [200, 200]


@contextlib.contextmanager
def one_slot_held(server: Server) -> Iterator[None]:
    """The server's one request slot (NABLA_MAX_REQUESTS=1) held by a body that has not
    come (for the body idle timeout, 10 s)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as busy:
        busy.sendall(POST + b"Content-Length: 100\r\n\r\n{")
        time.sleep(0.2)
        yield


def post_at_once(url: str, body: bytes, count: int) -> list[Any]:
    """`count` POSTs of `body` at once from httpx's async client: responses or exceptions."""
    import asyncio

    async def post_all() -> list[Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            headers = {"content-type": "application/json"}
            posts = [client.post(url, content=body, headers=headers) for _ in range(count)]
            return await asyncio.gather(*posts, return_exceptions=True)

    return asyncio.run(post_all())


def big_gradient_body() -> bytes:
    rows = [[0.1 * (i % 7), 0.01 * (i % 13)] for i in range(400_000)]  # 6.9 MB
    return json.dumps({"expression": "sin(x0)*exp(-x1)", "points": rows}).encode()


def test_big_bodies_shed_unread_get_their_503_not_a_reset() -> None:
    # 16 POSTs of 6.9 MB at once from httpx's async client, shed at the request cap (one
    # slot, held by a body that has not come). The 503 went out before the body was read,
    # and the connection was closed with the body unread: the kernel then resets it, and
    # the client, still sending, lost the 503 (a ReadError for 96 of 96). The connection
    # now stays open while the body comes, read and thrown away (`HttpProtocol._linger`).
    server = Server(env={"NABLA_MAX_REQUESTS": "1"})
    try:
        with one_slot_held(server):
            answers = post_at_once(f"{server.url}/gradient", big_gradient_body(), 16)
            health = httpx.get(f"{server.url}/health", timeout=5)
    finally:
        server.stop()
    assert [getattr(a, "status_code", repr(a)) for a in answers] == [503] * 16
    assert all(a.headers["retry-after"] == "1" for a in answers if isinstance(a, httpx.Response))
    assert health.status_code == 200


def test_big_bodies_the_app_sheds_unread_get_their_503_not_a_reset() -> None:
    # Every admission slot for big bodies taken and no line (NABLA_MAX_QUEUED=0): the app
    # answers 503 with `Connection: close` before reading the body, and uvicorn closed the
    # connection at once, with the body unread (6 of 8 raw clients saw the 503 and then
    # a reset; httpx's async client, a ReadError). It now lingers (`ShedCycle`).
    server = Server(env={"NABLA_COMPUTE_THREADS": "1", "NABLA_MAX_QUEUED": "0"})
    body = b'{"expression": "x**2", "points": [' + b"1.000000," * (5 * 2**20 // 9) + b"1.0]}"
    try:
        answers = post_at_once(f"{server.url}/derivative", body, 8)
    finally:
        server.stop()
    statuses = [getattr(a, "status_code", repr(a)) for a in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)  # type: ignore[union-attr]


def test_a_client_that_never_sends_its_shed_body_is_closed_after_the_linger() -> None:
    # Shed at the request cap with 1 MB declared and 10 bytes sent: the 503 comes at once,
    # then the end of the server's side, and the connection, read for a body that comes a
    # byte at a time, is closed after 5 s (LINGER_SECONDS), not at the client's pleasure:
    # a send fails from then on.
    server = Server(env={"NABLA_MAX_REQUESTS": "1"})
    try:
        with (
            one_slot_held(server),
            socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock,
        ):
            sock.sendall(POST + b"Content-Length: 1000000\r\n\r\n" + b"[" * 10)
            received, _ = read_until_closed(sock)
            start = time.monotonic()
            with contextlib.suppress(OSError):  # reset, once the server has closed
                while time.monotonic() - start < 10:
                    sock.send(b"[")
                    time.sleep(0.1)
            took = time.monotonic() - start
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 503 ")
    assert 4.0 < took < 6.5


def test_a_refusal_pipelined_behind_an_answer_comes_after_it() -> None:
    # GET /health and a POST shed at the request cap, in one write: the 503 went out
    # before /health's answer (the client took it for that one), and once the shed
    # connection lingered, its half-close cut /health's answer off (an error in the log).
    server = Server(env={"NABLA_MAX_REQUESTS": "1"})
    try:
        with (
            one_slot_held(server),
            socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock,
        ):
            sock.sendall(
                b"GET /health HTTP/1.1\r\nHost: nabla\r\n\r\n"
                + POST
                + b"Content-Length: 100\r\n\r\n"
                + b"[" * 100
            )
            received, _ = read_until_closed(sock)
    finally:
        log = server.output()
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 "), received[:300]
    assert rest.startswith(b'{"status":"ok"}HTTP/1.1 503 '), received[:400]
    assert "unhandled error" not in log


def test_connections_over_the_cap_evict_a_different_one_each() -> None:
    # 100 silent connections at a cap of 20: each new one closes the longest-idle one, but
    # a closed connection leaves the server's set only on a later turn of its loop, and a
    # burst of arrivals all closed the same one: 100 stayed open (400 of 400 at a cap of
    # 100, in an outside attack), and with them the file descriptors the cap is for.
    server = Server(env={"NABLA_MAX_CONNECTIONS": "20"})
    try:
        before = len(os.listdir(f"/proc/{server.process.pid}/fd"))
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(100)]
        try:
            time.sleep(0.5)
            during = len(os.listdir(f"/proc/{server.process.pid}/fd"))
        finally:
            for sock in socks:
                sock.close()
    finally:
        server.stop()
    assert during - before <= 20 + 2


def test_the_drain_budget_takes_what_is_read_within_its_rate() -> None:
    budget = protocol.DrainBudget(rate=100.0, burst=100.0)
    assert budget.holds(60, now=0.0)
    assert budget.holds(60, now=0.0)  # asking takes nothing: a head's declared length
    assert budget.take(60, now=0.0)
    assert not budget.holds(60, now=0.0)  # 40 left
    assert not budget.take(60, now=0.0)
    assert budget.take(60, now=0.2)  # 20 more came in 0.2 s
    assert not budget.holds(101, now=10.0)  # never more than the burst


def test_a_retry_storm_is_refused_at_the_pace_and_the_probes_still_answer() -> None:
    # One request in progress (NABLA_MAX_REQUESTS=1: a body that has not come yet) and
    # clients that retry every 503 at once: they made 1,500-3,000 refusals a second, the
    # event loop's whole time. Past a burst of 100, refusals now go out at 400 a second.
    server = Server(env={"NABLA_MAX_REQUESTS": "1"})
    small = POST + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY

    def retry(_: int) -> list[int]:
        return [exchange(server.port, small)[0] for _ in range(100)]

    try:
        with one_slot_held(server):
            start = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                storms = [pool.submit(retry, i) for i in range(8)]
                time.sleep(0.5)
                health = httpx.get(f"{server.url}/health", timeout=5)
                statuses = [status for storm in storms for status in storm.result()]
            took = time.monotonic() - start
    finally:
        server.stop()
    assert statuses == [503] * 800
    assert health.status_code == 200
    assert took >= (800 - 100) / 400 - 0.1  # 1.65 s; sent as fast as they came: 0.3 s


def test_an_upload_that_stalls_gets_a_408_and_gives_its_slot_back_at_the_idle_timeout() -> None:
    # One slot, taken by a big body that sends 10 bytes and stops. The body may take 60 s
    # in all, but a body that stops arriving is refused after NABLA_BODY_IDLE_TIMEOUT (1 s
    # here): the slot is not held for the whole minute.
    env = {"NABLA_BODY_IDLE_TIMEOUT": "1", "NABLA_MAX_HEAVY_REQUESTS": "1"}
    server = Server(env=env)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(POST + b"Content-Length: 200000\r\n\r\n" + b'{"expressi')
            received, waited = read_until_closed(sock)
        after = httpx.post(
            f"{server.url}/derivative",
            json={"expression": "x**3", "points": np.linspace(0, 1, 10_000).tolist()},
            timeout=30,
        )
    finally:
        server.stop()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body) == {
        "detail": "the request body stopped arriving: nothing came for 1 s.",
        "type": "body_timeout",
    }
    assert 0.9 < waited < 5
    assert after.status_code == 200, after.text


def answer_to_a_trickle(
    env: dict[str, str], length: bytes, piece: bytes, every: float
) -> tuple[bytes, float]:
    """POST a body of `length` declared bytes as `piece` every `every` seconds, for at
    most 10 s: the server's first answer (b"" if none), and when it came."""
    server = Server(env=env)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(POST + b"Content-Length: " + length + b"\r\n\r\n[")
            start = time.monotonic()
            received = b""
            try:
                while not received and time.monotonic() - start < 10:
                    sock.sendall(piece)
                    sock.settimeout(every)
                    try:
                        received = sock.recv(65536)
                    except TimeoutError:
                        continue
            except (BrokenPipeError, ConnectionResetError):
                pass
            return received, time.monotonic() - start
    finally:
        server.stop()


def test_a_body_trickled_in_below_the_minimum_rate_gets_a_408() -> None:
    # A byte every 0.2 s never stops arriving, so the idle timeout never fires; once reading
    # it has taken NABLA_BODY_IDLE_TIMEOUT (1 s here), it must have come at
    # NABLA_MIN_BODY_RATE (1000 bytes/s here) on average.
    env = {"NABLA_BODY_IDLE_TIMEOUT": "1", "NABLA_MIN_BODY_RATE": "1000"}
    received, took = answer_to_a_trickle(env, b"100000", b" ", 0.2)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert json.loads(body)["type"] == "body_timeout"
    assert "send it at 1000 bytes/s or more" in json.loads(body)["detail"]
    assert took < 4


def test_a_new_connection_over_the_cap_takes_the_place_of_a_body_trickling_in() -> None:
    # 2,100 connections sending their bodies a few bytes at a time kept new connections out
    # at the cap (130 of 301 probes failed): below NABLA_MIN_BODY_RATE they are refused
    # only after NABLA_BODY_IDLE_TIMEOUT (10 s). At the cap, the slowest body slower than
    # the minimum rate, read for over a second, is closed to make room.
    def trickle_bodies(socks: list[socket.socket]) -> None:
        for sock in socks:
            sock.sendall(POST + b"Content-Length: 1000\r\n\r\n{")
        for _ in range(6):
            time.sleep(0.25)
            for sock in socks[1:]:
                sock.sendall(b" ")  # 4 bytes a second; the first sends nothing more

    assert health_at_the_cap(trickle_bodies) == (200, b"")


def test_a_body_too_slow_to_arrive_within_the_body_timeout_gets_a_408_early() -> None:
    # 8 KB/s is over NABLA_MIN_BODY_RATE, but a 1 MB body at that pace takes 125 s, past
    # NABLA_BODY_TIMEOUT (60 s): two such uploads held both admission slots for the whole
    # minute. It is refused once NABLA_BODY_IDLE_TIMEOUT (1 s here) of reading shows it.
    env = {"NABLA_BODY_IDLE_TIMEOUT": "1"}
    received, took = answer_to_a_trickle(env, b"1000000", b" " * 800, 0.1)  # 8,000 bytes/s
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    detail = json.loads(body)["detail"]
    assert "too slow for its 1000000 bytes to arrive within 60 s" in detail
    assert took < 4
