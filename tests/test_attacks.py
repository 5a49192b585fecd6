"""The outside attacks of the lifecycle issue, each against a real server: the answer is a
4xx (or 200), the server's peak memory stays within what the attack may cost, /health
answers within a second throughout, and the next request is answered correctly."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import Server, rss_kib
from health_watch import HealthWatch

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

MiB = 1024


def peak_rss_kib(pid: int) -> int:
    """The highest high-water mark of resident memory (VmHWM) of the process and its
    descendants (uvicorn's workers, when there are several, and the compute processes),
    from /proc: the budget holds for each process."""
    peaks = []
    for process in [pid, *_descendants(pid)]:
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:  # gone meanwhile
            continue
        peaks += [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    assert peaks, "no VmHWM"
    return max(peaks)


def _descendants(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(child) for child in path.read_text().split()] if path.exists() else []
    return [grand for child in children for grand in [child, *_descendants(child)]]


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def fresh_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A `python -m app` of its own, with 1 or 2 worker processes: the peak memory
    measured is this attack's."""
    server = Server(launcher=True, env={"NABLA_WORKERS": str(request.param)})
    server.workers = request.param
    yield server
    server.stop()


def attack(server: Server, path: str, body: bytes) -> tuple[httpx.Response, int, HealthWatch]:
    """POST `body` as it is: the answer, how far the peak RSS rose, and /health meanwhile."""
    before = peak_rss_kib(server.process.pid)
    with HealthWatch(server.url) as health:
        r = httpx.post(
            f"{server.url}{path}",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
    return r, peak_rss_kib(server.process.pid) - before, health


CUBE = {"expression": "x**3", "points": [2.0]}  # d/dx at 2: 12


def assert_still_correct(server: Server) -> None:
    r = httpx.post(f"{server.url}/derivative", json=CUBE)
    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == pytest.approx([12.0], rel=1e-9)


def test_a_million_bad_points_are_refused_at_the_first_without_a_million_errors(
    fresh_server: Server,
) -> None:
    # A 4 MB body: 422 after 5 s and 68 → 1,237 MiB, when every item's error was built.
    body = b'{"expression": "x", "points": [' + b",".join([b'"a"'] * 1_000_000) + b"]}"
    r, grown, health = attack(fresh_server, "/derivative", body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "points[0]"
    assert len(r.json()["errors"]) == 1
    assert grown < 64 * MiB, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0
    assert health.failures == 0
    assert_still_correct(fresh_server)


def test_a_parameters_map_over_the_limit_is_refused_before_it_is_parsed(
    fresh_server: Server,
) -> None:
    # 5.6M entries: 422 after 17 s and 1.5 GiB. Here 1M entries (a 15 MB body).
    entries = b",".join(b'"p%d": 1' % i for i in range(1_000_000))
    body = b'{"expression": "x", "points": [1], "parameters": {' + entries + b"}}"
    r, grown, health = attack(fresh_server, "/derivative", body)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "body"  # counted on the raw bytes: never parsed
    assert grown < 64 * MiB, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0
    assert health.failures == 0
    assert_still_correct(fresh_server)


def test_a_flood_of_python_heavy_requests_is_shed_while_health_stays_live(
    fresh_server: Server,
) -> None:
    # 64 connections of /descent (10,000 steps): /health took 19-32 s behind 40 threads
    # taking the GIL in turn. Now 2 compute (one per core), 8 wait, the rest get a 503 at
    # once, /ready says so, and /health answers within a second throughout.
    body = {"expression": "x0**2 + sin(x1)*x0 + x1**2", "init": [3.0, 4.0], "steps": 10_000}

    def ask(_: int) -> httpx.Response:
        return httpx.post(f"{fresh_server.url}/descent", json=body, timeout=120)

    with HealthWatch(fresh_server.url) as health, ThreadPoolExecutor(64) as pool:
        answers = pool.map(ask, range(64))
        time.sleep(0.5)
        readiness = probes(fresh_server.url)
        statuses = [r.status_code for r in answers]
    shed = [s for s in statuses if s == 503]
    assert sorted(set(statuses)) == [200, 503]
    places = fresh_server.workers * (2 + 8)  # threads and waiting places per process
    assert len(shed) >= 64 - places - 4  # a few may find a free place as the first finish
    assert {"status": "shedding"} in [r.json() for r in readiness if r.status_code == 503]
    if fresh_server.workers == 1:
        assert readiness[0].status_code == 503
    assert health.worst < 1.0
    assert health.failures == 0
    time.sleep(1.1)
    assert httpx.get(f"{fresh_server.url}/ready").json() == {"status": "ready"}
    assert_still_correct(fresh_server)


def probes(url: str, count: int = 20) -> list[httpx.Response]:
    """`/ready` probed `count` times, 0.1 s apart, each on a new connection (as a kubelet
    probes): with two workers each reaches either process, and the kernel may have given
    one of them too few requests to fill its line (CI saw that once), so a flood must turn
    some of them, not necessarily the first, to 503."""
    answers = []
    for _ in range(count):
        answers.append(httpx.get(f"{url}/ready"))
        time.sleep(0.1)
    return answers


def flood(
    server: Server, path: str, body: Mapping[str, object], tmp_path: Path, *, cut: bool = False
) -> str:
    """wrk's report of 500 connections posting `body` for 6 s, /health probed on new
    connections meanwhile (as the kubelet's are): it must answer within a second. With
    `cut`, write errors are expected: a request shed before its body was read is answered
    and its connection closed while the client is still sending (`Connection: close`)."""
    file = tmp_path / "body.json"
    file.write_text(json.dumps(body))
    wrk = ["wrk", "--threads=2", "--connections=500", "--duration=6s", "--timeout=10s"]
    wrk += [f"--script={ROOT / 'scripts' / 'load' / 'post.lua'}", f"{server.url}{path}"]
    with HealthWatch(server.url, new_connections=True) as health:
        time.sleep(0.2)
        done = subprocess.run(
            wrk, capture_output=True, text=True, env={**os.environ, "NABLA_BODY": str(file)}
        )
    assert done.returncode == 0, done.stderr
    errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.stdout)
    connect, read, write, timeout = map(int, errors.groups()) if errors else (0, 0, 0, 0)
    assert (connect, read, timeout) == (0, 0, 0), done.stdout
    assert cut or not write, done.stdout
    assert health.worst < 1.0
    assert health.failures == 0
    # The work in progress when the load stops is finished (the requests waiting for it
    # whose clients left are dropped at their turn); a client that honours Retry-After is
    # then answered, and correctly. (With two workers, /ready is one worker's answer.)
    deadline = time.monotonic() + 60
    while (r := httpx.post(f"{server.url}/derivative", json=CUBE)).status_code == 503:
        assert time.monotonic() < deadline, "still shedding 60 s after the load"
        time.sleep(float(r.headers["retry-after"]))
    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == pytest.approx([12.0], rel=1e-9)
    return done.stdout


def test_500_connections_of_small_requests_leave_health_answering(
    fresh_server: Server, tmp_path: Path
) -> None:
    # 500 connections of a 1-point /derivative: p99 5.4 s and /health 16.7 s before the
    # lifecycle; then, on uvloop, /health still got no answer until the load stopped (uvloop
    # served none of the new connections). On asyncio's loop: ~0.1 s.
    report = flood(
        fresh_server, "/derivative", {"expression": "sin(x)*exp(-x)", "points": [0.5]}, tmp_path
    )
    answered = int(re.search(r"(\d+) requests in", report)[1])  # type: ignore[index]
    assert answered > 1000, report


def test_500_connections_of_python_heavy_requests_leave_health_answering(
    fresh_server: Server, tmp_path: Path
) -> None:
    # A 10,000-step /descent is Python, step by step. Computed on threads of the serving
    # process, 500 connections of it kept /health waiting 3.8 s: the event loop waited for
    # the GIL after each of its socket calls. In compute processes: under a second.
    body = {"expression": "x0**2 + sin(x1)*x0 + x1**2", "init": [3.0, 4.0], "steps": 10_000}
    before = peak_rss_kib(fresh_server.process.pid)
    flood(fresh_server, "/descent", body, tmp_path)
    assert peak_rss_kib(fresh_server.process.pid) - before < 64 * MiB


def test_500_connections_of_million_point_bodies_leave_health_answering(
    fresh_server: Server, tmp_path: Path
) -> None:
    # 10^6 explicit points (17 MB of JSON) to /directional-derivative: parsing and validating
    # them held the GIL for a second at a time (/health 2.1 s), and each request shed before
    # its body was read had the body read anyway, to keep the connection (the event loop
    # spent 70% of its time receiving bodies it threw away). Now parsed in a compute process,
    # and a connection whose request is shed unread is closed.
    rows = [[0.1 * (i % 7), 0.01 * (i % 13)] for i in range(1_000_000)]
    body = {"expression": "sin(x0)*exp(-x1)", "points": rows, "direction": [1.0, 2.0]}
    before = peak_rss_kib(fresh_server.process.pid)
    flood(fresh_server, "/directional-derivative", body, tmp_path, cut=True)
    assert peak_rss_kib(fresh_server.process.pid) - before < 640 * MiB // 2 + 64 * MiB


def test_a_shed_request_gets_a_json_503_with_retry_after() -> None:
    server = Server(env={"NABLA_COMPUTE_THREADS": "1", "NABLA_MAX_QUEUED": "0"})
    body = {"expression": "x0**2 + x1**2", "init": [3.0, 4.0], "steps": 3000}
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.post(f"{server.url}/descent", json=body, timeout=60),
                    range(4),
                )
            )
    finally:
        server.stop()
    shed = [r for r in answers if r.status_code == 503]
    assert shed, [r.status_code for r in answers]
    assert shed[0].headers["retry-after"] == "1"
    assert shed[0].json()["type"] == "overloaded"
    assert shed[0].json()["reason"] == "queue"


def test_an_exact_derivative_too_big_to_evaluate_is_refused_at_once(fresh_server: Server) -> None:
    # `exact: true` on ((x)**x)**x… 50 deep over a 1M-point range, a 338-byte body: 7 s and
    # 882 MiB when only f's nodes were counted (the derivative has thousands).
    body = {
        "expression": "(" * 50 + "x" + ")**x" * 50,
        "range": {"start": 1, "stop": 2, "num": 1_000_000},
        "exact": True,
    }
    before = peak_rss_kib(fresh_server.process.pid)
    start = time.monotonic()
    r = httpx.post(f"{fresh_server.url}/derivative", json=body, timeout=60)
    took = time.monotonic() - start
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "work"
    assert "exact derivative" in r.json()["detail"]
    assert took < 2
    assert peak_rss_kib(fresh_server.process.pid) - before < 32 * MiB
    assert_still_correct(fresh_server)


def test_an_exact_derivative_within_the_budget_is_evaluated_in_blocks(
    fresh_server: Server,
) -> None:
    # 20 deep, 1M points: accepted; evaluated a block at a time, its temporaries stay small.
    depth = 20
    body = {
        "expression": "(" * depth + "x" + ")**x" * depth,
        "range": {"start": 1, "stop": 2, "num": 1_000_000},
        "exact": True,
    }
    before = peak_rss_kib(fresh_server.process.pid)
    with HealthWatch(fresh_server.url) as health:
        r = httpx.post(f"{fresh_server.url}/derivative", json=body, timeout=120)
    grown = peak_rss_kib(fresh_server.process.pid) - before
    assert r.status_code == 200, r.text
    answer = r.json()
    assert len(answer["exact"]) == 1_000_000
    # f is x^(x^depth) at x = 1: f' = 1 (d/dx of x^g at 1 is g(1) = 1).
    assert answer["exact"][0] == pytest.approx(1.0, rel=1e-12)
    assert grown < 256 * MiB, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0


def hessian_body(n: int, d: int, *, error_estimate: bool = False) -> bytes:
    points = b"[" + b",".join([b"[" + b",".join([b"0.5"] * d) + b"]"] * n) + b"]"
    variables = json.dumps([f"x{i}" for i in range(d)]).encode()
    body = b'{"expression": "x0*x1 + x2", "variables": %s, "points": %s' % (variables, points)
    return body + (b', "error_estimate": true}' if error_estimate else b"}")


def test_a_hessian_whose_answer_would_not_fit_is_refused_before_it_is_computed(
    fresh_server: Server,
) -> None:
    # 100,000 points × 20 variables: 4·10⁷ numbers to answer, inside the work budget. It was
    # computed (and the process grew past a GiB); now the memory it needs is estimated from
    # the engine's plan (d² estimates per point, the steps, the request's own lists) first.
    r, grown, _ = attack(fresh_server, "/hessian", hessian_body(100_000, 20))
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "memory"
    assert grown < 200 * MiB, f"peak RSS grew by {grown // MiB} MiB"  # the parse only
    assert_still_correct(fresh_server)


def test_a_hessian_whose_error_bounds_would_not_fit_is_refused_before_it_is_computed(
    fresh_server: Server,
) -> None:
    # 30,000 points × 20 with error bounds: counted 175 MiB without the bounds (accepted),
    # it would hold about 400 MiB; counted with them, 450 MiB: over the 320 a request may hold.
    body = hessian_body(30_000, 20, error_estimate=True)
    r, grown, _ = attack(fresh_server, "/hessian", body)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "memory"
    assert grown < 160 * MiB, f"peak RSS grew by {grown // MiB} MiB"  # the parse only
    assert_still_correct(fresh_server)


@pytest.mark.parametrize(
    ("points", "error_estimate"),
    [pytest.param(40_000, False, id="values"), pytest.param(15_000, True, id="error-bounds")],
)
def test_a_hessian_that_fits_stays_within_the_memory_a_request_may_hold(
    fresh_server: Server, points: int, error_estimate: bool
) -> None:
    # With its error bounds a Hessian holds four d×d arrays per point, not one: 20,000
    # points of 20 variables took 264 MiB where 117 were counted.
    body = hessian_body(points, 20, error_estimate=error_estimate)
    r, grown, health = attack(fresh_server, "/hessian", body)
    assert r.status_code == 200, r.text
    hessians = r.json()["hessians"]
    assert len(hessians) == points
    expected = np.zeros((20, 20))
    expected[0, 1] = expected[1, 0] = 1.0  # ∂²(x0·x1 + x2)
    np.testing.assert_allclose(hessians[-1], expected, atol=1e-6)
    assert grown < 320 * MiB, f"peak RSS grew by {grown // MiB} MiB"  # 640 MiB / 2 slots
    assert health.worst < 1.0


def test_tiny_looking_requests_that_are_expensive_do_not_hold_the_event_loop(
    fresh_server: Server,
) -> None:
    # 64 coordinates of a 164-character expression at 1e-300 with accuracy 8: "tiny" by
    # size, it took 8.7 s on the event loop, and /health with it. 16 at once now, of a
    # shorter one (about 2 s each).
    body = {
        "expression": "sum(" + "+".join(["1/x"] * 10) + ")",
        "point": [1e-300] * 64,
        "error_estimate": True,
        "accuracy": 8,
    }

    def ask(_: int) -> httpx.Response:
        return httpx.post(f"{fresh_server.url}/gradient", json=body, timeout=120)

    with HealthWatch(fresh_server.url) as health, ThreadPoolExecutor(16) as pool:
        statuses = [r.status_code for r in pool.map(ask, range(16))]
    assert set(statuses) <= {200, 503}
    assert 200 in statuses
    assert health.worst < 1.0
    assert health.failures == 0


@pytest.mark.parametrize(
    "points",
    [
        pytest.param(b",".join([b"[" * 32 + b"]" * 32] * 78_226), id="nested-empty-arrays"),
        pytest.param(b",".join([b"[[]]"] * 1_001_470), id="a-million-list-pairs"),
    ],
)
def test_a_body_of_more_arrays_than_points_is_refused_before_it_is_parsed(
    fresh_server: Server, points: bytes
) -> None:
    # 5 MB of brackets: parsing them held the GIL (and /health) for 1.1-2.3 s.
    body = b'{"expression": "x", "points": [' + points + b"]}"
    r, _, health = attack(fresh_server, "/derivative", body)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "body"
    assert health.worst < 1.0


def test_big_requests_beyond_the_slots_and_their_line_are_shed(fresh_server: Server) -> None:
    # 16 at once of a big request (a slot each, 2 slots, 8 may wait): they all waited, the
    # last for 21 s, and /ready stayed true. Now the excess gets a 503 and /ready says so.
    body = {
        "expression": "sin(" * 30 + "x" + ")" * 30,
        "range": {"start": 0.1, "stop": 0.9, "num": 100_000},
        "exact": True,
    }

    def ask(_: int) -> httpx.Response:
        return httpx.post(f"{fresh_server.url}/derivative", json=body, timeout=120)

    count = 16 * fresh_server.workers
    with ThreadPoolExecutor(count) as pool:
        answers = pool.map(ask, range(count))
        time.sleep(0.3)
        readiness = probes(fresh_server.url)
        statuses = [r.status_code for r in answers]
    assert sorted(set(statuses)) == [200, 503]
    places = fresh_server.workers * (2 + 8)  # slots and waiting places per process
    assert statuses.count(503) >= count - places - 2  # a few find a place as the first finish
    assert 503 in [r.status_code for r in readiness], readiness
    if fresh_server.workers == 1:
        assert readiness[0].status_code == 503


def test_two_gradients_of_many_explicit_points_at_once_stay_within_the_budget(
    fresh_server: Server,
) -> None:
    # Each raised the peak by ~320 MiB, two at once took a process to ~720 MiB: the answer
    # was encoded a 3-number row at a time, and glibc kept a 4 KiB page for each.
    rows = b",".join([b"[0.5,-1.5,2]"] * 150_000)
    body = b'{"expression": "x0*x1*x2", "points": [' + rows + b"]}"
    before = peak_rss_kib(fresh_server.process.pid)

    def ask(_: int) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        url = f"{fresh_server.url}/gradient"
        return httpx.post(url, content=body, headers=headers, timeout=120)

    with HealthWatch(fresh_server.url) as health, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ask, range(2)))
    grown = peak_rss_kib(fresh_server.process.pid) - before
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.json()["gradients"][-1] == pytest.approx([-3.0, 1.0, -0.75], rel=1e-9)
    budget = Settings().memory_budget // 1024  # KiB, for both requests together
    assert grown < budget, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0


def test_memory_is_given_back_once_the_big_requests_are_answered(fresh_server: Server) -> None:
    # glibc kept what two big requests had freed: 489-623 MiB resident when idle again.
    body = b'{"expression": "x0*x1*x2", "points": [' + b",".join([b"[0,0,0]"] * 150_000) + b"]}"
    baseline = rss_kib(fresh_server.process.pid)

    def ask(_: int) -> int:
        headers = {"Content-Type": "application/json"}
        url = f"{fresh_server.url}/gradient"
        return httpx.post(url, content=body, headers=headers, timeout=120).status_code

    for _ in range(2):
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(ask, range(2))) == [200, 200]
    time.sleep(0.5)
    idle = rss_kib(fresh_server.process.pid)
    assert idle - baseline < 64 * MiB, f"{(idle - baseline) // MiB} MiB kept when idle"


def _jacobian_body() -> dict[str, object]:
    # 32 expressions at 20,000 points of 10 coordinates: a 6.4·10⁶-number answer.
    expressions = [f"x{i % 10}**2*x{(i + 1) % 10} + sin(x{(i + 3) % 10})" for i in range(32)]
    points = [[0.1 * (i % 7) + 0.01 * j for j in range(10)] for i in range(20_000)]
    return {"expressions": expressions, "points": points}


def _directional_body() -> dict[str, object]:
    points = [[0.1 * (i % 7), 0.01 * (i % 13)] for i in range(1_000_000)]
    return {"expression": "sin(x0)*exp(-x1)", "points": points, "direction": [1.0, 2.0]}


def _curl_body() -> dict[str, object]:
    axis = {"start": -2.0, "stop": 2.0, "num": 100}
    expressions = ["x1*x2**2", "sin(x0)*x2", "x0*exp(x1)"]
    return {"expressions": expressions, "operator": "curl", "grid": [axis] * 3}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/jacobian", _jacobian_body, id="jacobian"),
        pytest.param("/directional-derivative", _directional_body, id="directional"),
        pytest.param("/vector-field", _curl_body, id="curl"),
    ],
)
def test_the_vector_endpoints_largest_requests_stay_within_the_memory_a_request_may_hold(
    fresh_server: Server, path: str, body: Callable[[], dict[str, object]]
) -> None:
    # The most expensive requests of scripts/stress.py for the endpoints of the vector
    # calculus, one at a time: answered, within one request's share of the budget.
    r, grown, health = attack(fresh_server, path, json.dumps(body()).encode())
    assert r.status_code == 200, r.text[:300]
    assert grown < Settings().request_memory // 1024, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0
    assert_still_correct(fresh_server)


def test_answers_left_unread_stay_within_the_budget(fresh_server: Server) -> None:
    # Forty clients ask, one after another, for a 6 MB answer (below the big-request
    # thresholds) and read none of it: each answer was held, twice (by its response, and
    # copied into the transport's buffer), until NABLA_SEND_TIMEOUT: +246 MiB for sixty.
    # Now an answer over 1 MiB is sent with an admission slot: two are held, eight wait,
    # the others are shed; and each is held once, sent a megabyte at a time.
    body = json.dumps(
        {"expression": "sin(x)*exp(-x)", "range": {"start": 0, "stop": 1, "num": 60_000}}
    ).encode()
    head = (
        f"POST /derivative HTTP/1.1\r\nHost: nabla\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    before = peak_rss_kib(fresh_server.process.pid)
    clients = []
    with HealthWatch(fresh_server.url) as health:
        for _ in range(40):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing
            client.connect(("127.0.0.1", fresh_server.port))
            client.sendall(head + body)
            clients.append(client)
            time.sleep(0.15)  # each computed before the next comes
        time.sleep(1)
    grown = peak_rss_kib(fresh_server.process.pid) - before
    for client in clients:
        client.close()
    assert grown < 128 * MiB, f"peak RSS grew by {grown // MiB} MiB"
    assert health.worst < 1.0
    assert health.failures == 0
    assert_still_correct(fresh_server)


def test_a_burst_of_big_requests_to_a_tolerance_leaves_health_answering(
    fresh_server: Server,
) -> None:
    # An outside attack (session 16) saw /health take 3.1 s once while 40 clients each sent
    # a big request to a tolerance; 48 bursts of 40 at 150,000 to 10⁶ points (session 17)
    # left it under 0.35 s. Here 40 at once of 300,000 points (6 MB each) on new
    # connections: each is answered, correctly, or shed with a 503; /health within a second.
    rng = np.random.default_rng(17)
    x = rng.uniform(-3, 3, 300_000)
    body = json.dumps(
        {"expression": "sin(x)*exp(x)", "points": x.tolist(), "tolerance": {"rtol": 1e-10}}
    ).encode()
    before = peak_rss_kib(fresh_server.process.pid)

    def ask(_: int) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        url = f"{fresh_server.url}/derivative"
        return httpx.post(url, content=body, headers=headers, timeout=120)

    with (
        HealthWatch(fresh_server.url, new_connections=True) as health,
        ThreadPoolExecutor(40) as pool,
    ):
        answers = list(pool.map(ask, range(40)))
    grown = peak_rss_kib(fresh_server.process.pid) - before
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    exact = np.exp(x[:1000]) * (np.sin(x[:1000]) + np.cos(x[:1000]))
    for r in answers:
        if r.status_code == 200:
            answer = r.json()
            np.testing.assert_allclose(answer["derivatives"][:1000], exact, rtol=1e-8)
    assert health.worst < 1.0
    assert health.failures == 0
    budget = Settings().memory_budget // 1024  # KiB, for the whole burst
    assert grown < budget, f"peak RSS grew by {grown // MiB} MiB"
    assert_still_correct(fresh_server)
