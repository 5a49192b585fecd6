"""Compute processes (app.processes): client errors cross the process boundary whole, a
request past the compute timeout is stopped with its process, and a process that dies is
replaced; all on a real `python -m app`."""

from __future__ import annotations

import math
import os
import pickle
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Server, log_records

from app.errors import InvalidBodyError, NablaError, OverloadedError, TooLargeError
from app.processes import ComputeFailed, ComputePool


@pytest.mark.parametrize(
    "error",
    [
        TooLargeError("too many points.", reason="points", limit=10),
        OverloadedError("busy.", reason="queue"),
        InvalidBodyError({"detail": "bad.", "type": "validation_error", "field": "points"}),
        NablaError("plain.", field="step"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_client_error_survives_pickling_whole(error: NablaError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert again.status_code == error.status_code
    assert again.to_json() == error.to_json()
    assert str(again) == str(error)


def _square_root_of(x: float) -> tuple[str, list[bytes]]:
    if x < 0:
        raise TooLargeError("negative.", reason="sign")
    return "head", [repr(x**0.5).encode(), b"", b"end"]


def _sleep(seconds: float) -> tuple[str, list[bytes]]:
    time.sleep(seconds)
    return "slept", []


def _divide_by_zero() -> tuple[str, list[bytes]]:
    return "never", [str(1 / 0).encode()]


def test_a_pool_runs_tasks_in_another_process_and_raises_their_client_errors() -> None:
    pool = ComputePool()
    pool.grow(1)
    try:
        assert pool.run(30, _square_root_of, 2.0) == ("head", [b"1.4142135623730951", b"", b"end"])
        with pytest.raises(TooLargeError, match="negative"):
            pool.run(30, _square_root_of, -1.0)
        with pytest.raises(ComputeFailed):
            pool.run(30, _divide_by_zero)  # a bug: logged there, a 500 here
        assert pool.run(30, _square_root_of, 9.0)[1][0] == b"3.0"  # the same process
    finally:
        pool.close()


def _counted(n: int, fail_at: int | None = None) -> tuple[str, Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError("a bug while encoding")
            yield str(i).encode() * 100_000

    return "streamed", pieces()


def test_pieces_made_as_they_are_taken_come_back_in_order_and_a_failure_among_them_raises() -> None:
    pool = ComputePool()
    pool.grow(1)
    try:
        head, pieces = pool.run(30, _counted, 12)
        assert head == "streamed"
        assert list(pieces) == [str(i).encode() * 100_000 for i in range(12)]
        head, pieces = pool.run(30, _counted, 12, 5)
        taken = iter(pieces)
        assert [next(taken) for _ in range(5)] == [str(i).encode() * 100_000 for i in range(5)]
        with pytest.raises(ComputeFailed):
            next(taken)
        assert pool.run(30, _square_root_of, 4.0)[1] == [b"2.0", b"", b"end"]  # still serves
    finally:
        pool.close()


def test_a_task_past_its_time_is_stopped_with_its_process_and_the_next_one_runs() -> None:
    pool = ComputePool()
    pool.grow(1)
    try:
        pool.run(30, _sleep, 0)  # started
        start = time.monotonic()
        with pytest.raises(TooLargeError) as stopped:
            pool.run(0.5, _sleep, 30)
        assert time.monotonic() - start < 5
        assert stopped.value.reason == "time"
        assert pool.run(30, _sleep, 0) == ("slept", [])
    finally:
        pool.close()


def _stalling(seconds: float) -> tuple[str, Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        yield b"first" * 1000
        time.sleep(seconds)  # stuck mid-answer (as a process stopped with SIGSTOP is)
        yield b"never"

    return "streamed", pieces()


def test_a_task_that_stalls_mid_answer_is_stopped_and_the_next_one_runs() -> None:
    # Its head came in time, so `compute_timeout` let it be; it then held its client, its
    # admission slot and itself for as long as it stalled.
    pool = ComputePool()
    pool.grow(1)
    try:
        pool.run(30, _sleep, 0)  # started
        head, pieces = pool.run(0.5, _stalling, 30)
        taken = iter(pieces)
        assert (head, next(taken)) == ("streamed", b"first" * 1000)
        start = time.monotonic()
        with pytest.raises(ComputeFailed, match=r"sent nothing of its answer for 0\.5 s"):
            next(taken)
        assert time.monotonic() - start < 5
        assert pool.run(30, _sleep, 0) == ("slept", [])  # on a new process
    finally:
        pool.close()


def _compute_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


DESCENT = {"expression": "x0**2 + sin(x1)*x0 + x1**2", "init": [3.0, 4.0], "steps": 10_000}
POINTS = [0.1 * i for i in range(50)]  # more than a tiny request: computed in a process


def assert_derivatives_of_sine(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/derivative", json={"expression": "sin(x)", "points": POINTS}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == pytest.approx([math.cos(x) for x in POINTS], rel=1e-9)


def test_a_request_over_the_compute_timeout_gets_a_413_and_the_server_carries_on() -> None:
    server = Server(launcher=True, env={"NABLA_COMPUTE_TIMEOUT": "0.5"})
    try:
        r = httpx.post(f"{server.url}/descent", json=DESCENT, timeout=60)
        assert r.status_code == 413, r.text
        assert r.json()["reason"] == "time"
        assert "NABLA_COMPUTE_TIMEOUT" in r.json()["detail"]
        for _ in range(3):  # on the replacement process as well as the other one
            assert_derivatives_of_sine(server)
    finally:
        server.stop()


def test_a_pool_is_starting_until_its_processes_have_imported_the_app() -> None:
    pool = ComputePool()
    pool.grow(2)
    try:
        assert not pool.starting  # not started: each starts at its first task
        pool.start()
        assert pool.starting  # the imports take about a second
        deadline = time.monotonic() + 30
        while pool.starting:
            assert time.monotonic() < deadline, "still starting after 30 s"
            time.sleep(0.02)
        started = time.monotonic()
        assert pool.run(30, _square_root_of, 4.0)[1][0] == b"2.0"
        assert time.monotonic() - started < 0.5  # no import left to wait for
    finally:
        pool.close()


def test_ready_says_starting_until_the_compute_processes_can_take_requests() -> None:
    # /health answers as soon as the server listens; the compute processes import the app
    # for about a second after that, and a request then would wait: /ready says so.
    server = Server(launcher=True, wait_for_compute=False)
    try:
        seen = []
        deadline = time.monotonic() + 30
        while not seen or seen[-1] != (200, "ready"):
            assert time.monotonic() < deadline, seen
            r = httpx.get(f"{server.url}/ready")
            seen.append((r.status_code, r.json()["status"]))
            time.sleep(0.02)
        assert seen[0] == (503, "starting")
        assert set(seen) == {(503, "starting"), (200, "ready")}
        assert seen.index((200, "ready")) == len(seen) - 1  # never starting again
        assert_derivatives_of_sine(server)
    finally:
        server.stop()


FIELD = {"expression": "x0**2 + sin(x1)", "grid": [{"start": -2, "stop": 2, "num": 1000}] * 2}


def test_a_compute_process_stopped_mid_answer_cuts_it_short_and_is_replaced() -> None:
    # SIGSTOP once the head of a 10⁶-point field is out (session 9's outside attack): its
    # client, slot and process were held until SIGCONT. Now the answer is cut short (never
    # ended as if whole) after NABLA_COMPUTE_TIMEOUT, with one line in the log saying why
    # and no traceback, and the process is replaced.
    server = Server(launcher=True, env={"NABLA_COMPUTE_TIMEOUT": "2", "NABLA_WORKERS": "1"})
    try:
        assert_derivatives_of_sine(server)
        cut = 0
        for _ in range(3):  # the stop must land before the last piece is sent
            with httpx.stream("POST", f"{server.url}/gradient-field", json=FIELD, timeout=60) as r:
                assert r.status_code == 200
                for pid in _compute_processes(server.process.pid):
                    os.kill(pid, signal.SIGSTOP)
                start = time.monotonic()
                try:
                    r.read()
                except httpx.RemoteProtocolError:  # the connection closed mid-answer
                    cut += 1
                    assert time.monotonic() - start < 10
            for pid in _compute_processes(server.process.pid):
                os.kill(pid, signal.SIGCONT)  # the idle one, stopped with the busy one
            assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
            for _ in range(3):
                assert_derivatives_of_sine(server)
            if cut:
                break
        assert cut, "every answer was whole before its process stopped"
    finally:
        server.stop()
    log = server.output()
    assert "Traceback" not in log
    records = log_records(log)
    assert any("an answer was cut short" in r["message"] for r in records)
    assert any(r.get("cut_short") and r["path"] == "/gradient-field" for r in records)


def test_a_compute_process_killed_from_outside_is_replaced() -> None:
    server = Server(launcher=True)
    try:
        assert_derivatives_of_sine(server)
        deadline = time.monotonic() + 10
        while len(_compute_processes(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        killed = _compute_processes(server.process.pid)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        for _ in range(4):
            assert_derivatives_of_sine(server)
        assert not set(killed) & set(_compute_processes(server.process.pid))
    finally:
        server.stop()


def _cache_lookups(server: Server, result: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    for line in text.splitlines():
        if line.startswith(f'nabla_expression_cache_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_parses_made_in_a_compute_process_are_counted_in_the_metrics() -> None:
    server = Server(launcher=True, env={"NABLA_COMPUTE_THREADS": "1"})  # one process: a hit
    try:
        misses, hits = _cache_lookups(server, "miss"), _cache_lookups(server, "hit")
        for _ in range(2):
            r = httpx.post(
                f"{server.url}/derivative",
                json={"expression": "x**2 + 0.987654321*x", "points": POINTS},
                timeout=60,
            )
            assert r.status_code == 200
        assert _cache_lookups(server, "miss") == misses + 1
        assert _cache_lookups(server, "hit") == hits + 1
    finally:
        server.stop()
