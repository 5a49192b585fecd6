"""Metrics, logs and worker processes."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import Server
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def sample(client: TestClient, name: str, **labels: str) -> float:
    """The current value of one metric sample, 0 when it does not exist yet."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE nabla_requests_total counter" in r.text


def test_requests_are_counted_by_route_and_status(client: TestClient) -> None:
    before = sample(client, "nabla_requests_total", route="/derivative", status="200")
    client.post("/derivative", json={"expression": "x**2", "points": [1.0]})
    after = sample(client, "nabla_requests_total", route="/derivative", status="200")
    assert after == before + 1


def test_latency_is_a_histogram_per_route_and_status(client: TestClient) -> None:
    client.post("/gradient", json={"expression": "x0*x1", "point": [1, 2]})
    count = sample(client, "nabla_request_duration_seconds_count", route="/gradient", status="200")
    assert count >= 1


def test_points_computed_are_counted(client: TestClient) -> None:
    before = sample(client, "nabla_points_computed_total", route="/derivative")
    client.post("/derivative", json={"expression": "x**3", "points": [1.0, 2.0, 3.0]})
    assert sample(client, "nabla_points_computed_total", route="/derivative") == before + 3


def test_expression_cache_hits_and_misses_are_counted(client: TestClient) -> None:
    text = "x**2 + 0.123456789*x"  # not used by any other test
    misses = sample(client, "nabla_expression_cache_total", result="miss")
    hits = sample(client, "nabla_expression_cache_total", result="hit")
    for _ in range(3):
        client.post("/derivative", json={"expression": text, "points": [1.0]})
    assert sample(client, "nabla_expression_cache_total", result="miss") == misses + 1
    assert sample(client, "nabla_expression_cache_total", result="hit") == hits + 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            {"expression": "foo(x)", "points": [1]}, "invalid_expression", id="expression"
        ),
        pytest.param(
            {"expression": "x0", "grid": [{"start": 0, "stop": 1e10, "step": 1}]}, "grid", id="grid"
        ),
        pytest.param({"expression": "x", "points": "1"}, "validation_error", id="validation"),
    ],
)
def test_rejections_are_counted_by_reason(client: TestClient, body: dict, reason: str) -> None:
    path = "/gradient-field" if "grid" in body else "/derivative"
    before = sample(client, "nabla_rejections_total", reason=reason)
    assert client.post(path, json=body).status_code in (413, 422)
    assert sample(client, "nabla_rejections_total", reason=reason) == before + 1


def test_one_structured_log_line_per_request_without_the_body() -> None:
    server = Server()
    marker = "0.987654321"
    httpx.post(f"{server.url}/derivative", json={"expression": f"{marker}*x", "points": [1, 2]})
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "nabla.access"]
    assert access, "no access log line"
    line = next(a for a in access if a["path"] == "/derivative")
    assert line["method"] == "POST"
    assert line["status"] == 200
    assert line["points"] == 2
    assert line["duration_ms"] > 0
    assert all(marker not in json.dumps(a) for a in access)


def test_an_answer_its_client_leaves_is_logged_cut_short() -> None:
    # A 640,000-point field is streamed; the client reads one piece and leaves. Its access
    # line says so, where a whole answer's does not.
    server = Server()
    field = {"expression": "x0**2 + x1**2", "grid": [{"start": -2, "stop": 2, "num": 800}] * 2}
    with httpx.stream("POST", f"{server.url}/gradient-field", json=field, timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    time.sleep(1)  # the server notices the client gone
    whole = httpx.post(f"{server.url}/derivative", json={"expression": "x", "points": [1]})
    assert whole.status_code == 200
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    access = {a["path"]: a for a in lines if a["logger"] == "nabla.access"}
    assert access["/gradient-field"]["cut_short"] is True
    assert access["/gradient-field"]["message"].endswith("200 cut short")
    assert "cut_short" not in access["/derivative"]


def served_by(metrics_dir: Path) -> set[str]:
    """PIDs of the workers that have counted a request (one file per process)."""
    return {p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}


def test_two_workers_both_serve_requests(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"NABLA_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    server = Server(env=env, launcher=True)
    body = {"expression": "sin(x)", "range": {"start": 0, "stop": 1, "num": 20000}}
    sent = 0
    try:
        deadline = time.monotonic() + 60
        # New connections each time: the kernel hands each accept() to either worker.
        while len(served_by(metrics_dir)) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                responses = list(
                    pool.map(lambda _: httpx.post(f"{server.url}/derivative", json=body), range(16))
                )
            assert [r.status_code for r in responses] == [200] * 16
            sent += 16
        families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
        total = sum(
            s.value
            for f in families
            for s in f.samples
            if s.name == "nabla_requests_total" and s.labels["route"] == "/derivative"
        )
    finally:
        server.stop()
    assert len(served_by(metrics_dir)) == 2
    assert total == sent  # /metrics adds up both workers' counters
