"""Settings from `NABLA_*` variables: a mistake stops the process at start with one clear
line per variable (its name, its value, what it takes), and every setting is honoured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from conftest import ROOT, Server, free_port

from app.config import Settings


def start_with(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """The server's start-up with these variables, as an operator would see it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NABLA_")}
    argv = list(command) or [sys.executable, "-m", "app", "--port", str(free_port())]
    return subprocess.run(
        argv, env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param(
            {"NABLA_MAX_POINTS": "abc"},
            ["NABLA_MAX_POINTS='abc'", "a whole number ≥ 1", "points per request"],
            id="not-a-number",
        ),
        pytest.param(
            {"NABLA_GZIP_LEVEL": "12"}, ["NABLA_GZIP_LEVEL='12'", "from 0 to 9"], id="range"
        ),
        pytest.param(
            {"NABLA_HEADER_TIMEOUT": "0"}, ["NABLA_HEADER_TIMEOUT='0'", "a number > 0"], id="zero"
        ),
        pytest.param(
            {"NABLA_CORS_ORIGINS": '["https://plots.example"'},
            ["NABLA_CORS_ORIGINS=", "a comma-separated list or a JSON list"],
            id="broken-json-list",
        ),
        pytest.param(
            {"NABLA_LOG_LEVEL": "loud"},
            ["NABLA_LOG_LEVEL='loud'", "one of debug, info, warning, error, critical"],
            id="log-level",
        ),
        pytest.param({"NABLA_PORT": "99999"}, ["NABLA_PORT='99999'", "from 0 to 65535"], id="port"),
        pytest.param(
            {"NABLA_MAX_POINT": "10"},
            ["NABLA_MAX_POINT is not a Nabla setting", "did you mean NABLA_MAX_POINTS?"],
            id="misspelt-name",
        ),
        pytest.param(
            {"nabla_max_point": "10"},
            ["nabla_max_point is not a Nabla setting", "did you mean NABLA_MAX_POINTS?"],
            id="misspelt-name-in-lower-case",
        ),
        pytest.param(
            {"NABLA_HOST": "999.1.1.1"},
            ["NABLA_HOST='999.1.1.1'", "cannot be listened on", "an address of this machine"],
            id="host-that-is-no-address",
        ),
        pytest.param(
            {"NABLA_HOST": "192.0.2.1"},
            ["NABLA_HOST='192.0.2.1'", "cannot be listened on"],
            id="host-of-another-machine",
        ),
        pytest.param(
            {"NABLA_MEMORY_BUDGET": str(16 << 20)},
            ["leaves 8 MiB per request", "at least 64 MiB"],
            id="budget-too-small-for-a-request",
        ),
        pytest.param(
            {"NABLA_MAX_HEAVY_REQUESTS": "20"},
            ["leaves 32 MiB per request"],
            id="too-many-heavy-requests-for-the-budget",
        ),
    ],
)
def test_a_bad_variable_stops_the_start_with_one_line_naming_it(
    env: dict[str, str], words: list[str]
) -> None:
    started = start_with(env)
    assert started.returncode == 1
    assert started.stdout == ""
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    for word in words:
        assert word in lines[0]


def test_kubernetes_service_links_are_not_taken_for_misspelt_settings() -> None:
    # What a pod gets from a Service named `nabla` when service links are on.
    links = {
        "NABLA_SERVICE_HOST": "10.96.0.12",
        "NABLA_SERVICE_PORT": "80",
        "NABLA_SERVICE_PORT_HTTP": "80",
        "NABLA_PORT_80_TCP": "tcp://10.96.0.12:80",
        "NABLA_PORT_80_TCP_PROTO": "tcp",
    }
    started = start_with({**links, "NABLA_PORT": "tcp://10.96.0.12:80"})
    assert started.returncode == 1
    (line,) = started.stderr.strip().splitlines()
    assert line.startswith("NABLA_PORT='tcp://10.96.0.12:80' is invalid")
    assert "enableServiceLinks: false" in line


def test_many_bad_variables_take_at_most_three_lines() -> None:
    env = {
        "NABLA_MAX_POINTS": "a",
        "NABLA_MAX_GRID_POINTS": "b",
        "NABLA_MAX_DIMENSIONS": "c",
        "NABLA_WORKERS": "d",
    }
    started = start_with(env)
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 3, started.stderr
    assert lines[2].endswith("(and 1 more)")


def test_uvicorn_started_by_hand_reports_a_bad_variable_the_same_way() -> None:
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(free_port())]
    started = start_with({"NABLA_MAX_POINTS": "abc"}, *command)
    assert started.returncode != 0
    assert "Traceback" not in started.stderr
    assert "NABLA_MAX_POINTS='abc' is invalid" in started.stderr


def test_cors_origins_may_be_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NABLA_CORS_ORIGINS", "https://plots.example, https://b.example")
    assert Settings().cors_origins == ["https://plots.example", "https://b.example"]


def test_cors_origins_may_be_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NABLA_CORS_ORIGINS", '["https://plots.example"]')
    assert Settings().cors_origins == ["https://plots.example"]


@pytest.mark.slow
def test_the_launcher_serves_on_nabla_host_and_nabla_port_with_cors_from_a_plain_list() -> None:
    # Server(launcher=True) gives `python -m app` its address as NABLA_HOST and NABLA_PORT.
    server = Server(
        launcher=True, env={"NABLA_CORS_ORIGINS": "https://a.example,https://b.example"}
    )
    try:
        r = httpx.get(f"{server.url}/health", headers={"Origin": "https://b.example"})
    finally:
        server.stop()
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://b.example"


def test_a_port_in_use_stops_the_start_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"NABLA_HOST": "127.0.0.1", "NABLA_PORT": str(port)}
        started = start_with(env, sys.executable, "-m", "app")
    assert started.returncode == 1
    (line,) = started.stderr.strip().splitlines()
    assert f"NABLA_PORT={port} cannot be listened on" in line
    assert "free port" in line
