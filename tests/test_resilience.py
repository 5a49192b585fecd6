"""Faults and overload against real uvicorn processes: the event loop stays free, shutdown
is graceful, disconnects cost nothing lasting, crashed workers come back."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server, log_records, rss_kib

FIELD_640K = {
    "expression": "sin(x0)*cos(x1) + x0**2*x1",
    "grid": [{"start": -2, "stop": 2, "num": 800}, {"start": -2, "stop": 2, "num": 800}],
}
FIELD_1M = {
    "expression": "sin(x0)*cos(x1) + x0**2*x1",
    "grid": [{"start": -2, "stop": 2, "num": 1000}, {"start": -2, "stop": 2, "num": 1000}],
}


def workers(pid: int) -> set[int]:
    """uvicorn's worker processes: spawned children (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = set()
    for child in path.read_text().split() if path.exists() else ():
        cmdline = Path(f"/proc/{child}/cmdline")
        if cmdline.exists() and b"spawn_main" in cmdline.read_bytes():
            found.add(int(child))
    return found


@pytest.fixture
def fresh_server() -> Server:
    return Server()


def test_health_answers_within_a_second_while_a_640k_field_is_computed(
    fresh_server: Server,
) -> None:
    result: dict[str, httpx.Response] = {}

    def big() -> None:
        result["field"] = httpx.post(
            f"{fresh_server.url}/gradient-field", json=FIELD_640K, timeout=120
        )

    worker = threading.Thread(target=big)
    worker.start()
    latencies = []
    try:
        time.sleep(0.05)
        while worker.is_alive():
            start = time.perf_counter()
            assert httpx.get(f"{fresh_server.url}/health", timeout=5).status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.02)
        worker.join()
    finally:
        fresh_server.stop()
    assert result["field"].status_code == 200
    assert len(result["field"].json()["values"]) == 640_000
    assert len(latencies) >= 3, "the field finished before /health could be measured"
    assert max(latencies) < 1.0, latencies


def test_sigterm_lets_the_in_flight_request_finish(fresh_server: Server) -> None:
    result: dict[str, httpx.Response] = {}

    def big() -> None:
        result["field"] = httpx.post(
            f"{fresh_server.url}/gradient-field", json=FIELD_1M, timeout=120
        )

    worker = threading.Thread(target=big)
    worker.start()
    time.sleep(0.3)  # the request is in flight
    fresh_server.process.send_signal(signal.SIGTERM)
    worker.join(60)
    fresh_server.process.wait(30)  # no second signal: it must stop by itself
    log = fresh_server.output()
    assert result["field"].status_code == 200
    assert len(result["field"].json()["values"]) == 1_000_000
    # uvicorn re-raises the signal after a clean shutdown, so the status is -SIGTERM.
    assert fresh_server.process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in log


def test_a_request_cut_short_by_the_end_of_the_graceful_shutdown_gets_a_503_not_a_500() -> None:
    # When the graceful period ran out, uvicorn cancelled the requests still computing:
    # each was a 500 in the log and the metrics, with an error-level traceback.
    server = Server("--timeout-graceful-shutdown", "1")
    body = {"expression": "x0**2 + sin(x1)*x0 + x1**2", "init": [3.0, 4.0], "steps": 10_000}
    result: dict[str, httpx.Response] = {}

    def ask() -> None:
        result["descent"] = httpx.post(f"{server.url}/descent", json=body, timeout=60)

    worker = threading.Thread(target=ask)
    worker.start()
    time.sleep(0.5)  # computing: the 10,000 steps take seconds
    server.process.send_signal(signal.SIGTERM)
    worker.join(60)
    log = server.output()
    r = result["descent"]
    assert r.status_code == 503, r.text
    assert r.json()["reason"] == "shutdown"
    assert r.headers["retry-after"] == "1"
    assert "Traceback" not in log
    records = log_records(log)
    assert [rec["status"] for rec in records if rec.get("path") == "/descent"] == [503]
    assert not [rec for rec in records if rec["level"] == "error"]


def test_clients_that_disconnect_mid_request_cost_nothing_lasting(fresh_server: Server) -> None:
    url = f"{fresh_server.url}/gradient-field"
    try:
        httpx.post(url, json=FIELD_640K, timeout=60)  # warm up: allocator pools, caches
        baseline = rss_kib(fresh_server.process.pid)
        for _ in range(3):
            # Gone while the field is computed: no byte of the response has been sent yet.
            with pytest.raises(httpx.TimeoutException):
                httpx.post(url, json=FIELD_640K, timeout=0.005)
            # Gone in the middle of the streamed response.
            with httpx.stream("POST", url, json=FIELD_640K, timeout=60) as response:
                assert response.status_code == 200
                next(response.iter_raw())
        time.sleep(3)  # let the abandoned computations finish
        assert httpx.get(f"{fresh_server.url}/health").status_code == 200
        after = httpx.post(url, json=FIELD_640K, timeout=60)
        assert after.status_code == 200
        assert len(after.json()["values"]) == 640_000
        grown = rss_kib(fresh_server.process.pid) - baseline
    finally:
        fresh_server.stop()
    assert grown < 200 * 1024, f"RSS grew by {grown} KiB"


def test_a_crashed_worker_is_restarted() -> None:
    server = Server(env={"NABLA_WORKERS": "2"}, launcher=True)
    try:
        deadline = time.monotonic() + 30
        while len(workers(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        before = workers(server.process.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = workers(server.process.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2, now
        assert victim not in now
        server.wait_until_healthy()
        r = httpx.post(f"{server.url}/gradient", json={"expression": "x0*x1", "point": [2, 3]})
        assert r.status_code == 200
    finally:
        server.stop()
