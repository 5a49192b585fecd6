"""The adversarial corpus against a real uvicorn server: every entry gets a JSON 4xx within a
second, and the server is healthy afterwards.

`tests/data/malformed_requests.jsonl` holds one request per line:

    {"id": ..., "path": "/derivative", "content_type": "application/json" or null,
     "body_b64": base64 of the exact bytes, "expect": [statuses]}

with, instead of `body_b64`, `"generate": [[text, times], ...]` for bodies too large to
store (the body is each text repeated `times` times, in order), and optionally
`"content_length": n` (declare n bytes, send none), `"chunked": true` (no Content-Length)
and `"http_method"` (default POST). Requests go out on a raw socket so that the bytes,
headers and framing are exactly those of the file. The second is timed from the last byte
sent to the last byte of the answer: the server's own time, not the upload's.

`tests/data/hostile_expressions.txt` (format in its header) is sent line by line as the
`expression` of a /derivative request, spliced in as the JSON literal it is.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import Server, log_records
from fastapi.testclient import TestClient

from app.expressions import parsing

DATA = Path(__file__).resolve().parent / "data"
BLOCK = 64 * 1024


def load_requests() -> list[dict[str, Any]]:
    lines = (DATA / "malformed_requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_expressions() -> list[tuple[int, str]]:
    lines = (DATA / "hostile_expressions.txt").read_text().splitlines()
    return [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.startswith("#")
    ]


REQUESTS = load_requests()
EXPRESSIONS = load_expressions()


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[Server]:
    """A real server of its own: the last test reads its whole log."""
    running = Server()
    yield running
    running.stop()


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def segments(entry: dict[str, Any]) -> Iterator[bytes]:
    """The body in blocks of about 64 KiB, expanded lazily from `generate`."""
    if "body_b64" in entry:
        yield base64.b64decode(entry["body_b64"])
        return
    for text, times in entry.get("generate", ()):
        unit = text.encode()
        per_block = max(1, BLOCK // len(unit))
        full, rest = divmod(times, per_block)
        for _ in range(full):
            yield unit * per_block
        if rest:
            yield unit * rest


def body_length(entry: dict[str, Any]) -> int:
    if "body_b64" in entry:
        return len(base64.b64decode(entry["body_b64"]))
    return sum(len(text.encode()) * times for text, times in entry.get("generate", ()))


def send(server: Server, entry: dict[str, Any]) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(
            entry.get("http_method", "POST"), entry["path"], skip_accept_encoding=True
        )
        if entry["content_type"] is not None:
            connection.putheader("Content-Type", entry["content_type"])
        chunked = entry.get("chunked", False)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            length = entry.get("content_length", body_length(entry))
            connection.putheader("Content-Length", str(length))
        connection.endheaders()
        if "content_length" not in entry:
            for block in segments(entry):
                connection.send(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            if chunked:
                connection.send(b"0\r\n\r\n")
        start = time.perf_counter()
        response = connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, body, seconds)
    finally:
        connection.close()


def assert_json_4xx(reply: Reply, expected: list[int]) -> dict[str, Any]:
    assert reply.status in expected, reply.body[:500]
    assert reply.headers.get("content-type") == "application/json", reply.headers
    body = json.loads(reply.body)
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert reply.seconds < 1.0, f"answered in {reply.seconds:.2f} s"
    return body


def test_the_corpora_are_as_large_as_issue_5_asks() -> None:
    assert len(EXPRESSIONS) >= 150
    assert len(REQUESTS) >= 80
    assert len({entry["id"] for entry in REQUESTS}) == len(REQUESTS)


@pytest.mark.parametrize("entry", REQUESTS, ids=[entry["id"] for entry in REQUESTS])
def test_a_malformed_request_gets_a_json_4xx_within_a_second(
    corpus_server: Server, entry: dict[str, Any]
) -> None:
    reply = send(corpus_server, entry)
    assert_json_4xx(reply, entry["expect"])
    if reply.status == 405:
        assert "POST" in reply.headers["allow"]


@pytest.mark.parametrize(("line", "literal"), EXPRESSIONS, ids=[f"line{n}" for n, _ in EXPRESSIONS])
def test_a_hostile_expression_gets_a_json_422_within_a_second(
    corpus_server: Server, line: int, literal: str
) -> None:
    body = b'{"expression":%s,"points":[1.0]}' % literal.encode()
    entry = {"path": "/derivative", "content_type": "application/json"}
    reply = send(corpus_server, entry | {"body_b64": base64.b64encode(body).decode()})
    error = assert_json_4xx(reply, [422])
    assert len(reply.body) < 2048, "the error echoes too much of the expression"
    assert error["type"] in {"invalid_expression", "malformed_json"}, error


def test_the_server_is_healthy_after_the_whole_corpus(corpus_server: Server) -> None:
    health = send(corpus_server, {"path": "/health", "content_type": None, "http_method": "GET"})
    assert health.status == 200
    assert json.loads(health.body) == {"status": "ok"}
    assert corpus_server.process.poll() is None  # the same process: it never crashed
    log = corpus_server.log_so_far().splitlines()
    assert any("Application startup complete" in line for line in log)  # the log is read
    errors = [r for r in log_records("\n".join(log)) if r["level"] == "error"]
    errors += [line for line in log if "Traceback" in line]
    assert not errors, errors[:5]


def test_the_expression_cache_stays_bounded_after_2000_distinct_expressions(
    client: TestClient,
) -> None:
    before = parsing._parse_cached.cache_info()
    for i in range(2000):
        r = client.post("/derivative", json={"expression": f"x + {i}.5", "points": [1.0]})
        assert r.status_code == 200, r.text
    after = parsing._parse_cached.cache_info()
    assert after.maxsize is not None
    assert after.misses - before.misses >= 2000
    assert after.currsize <= after.maxsize
