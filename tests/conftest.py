"""Shared fixtures: an in-process client, and a real uvicorn server on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent
HTTP_PROTOCOL = ["--http", "app.protocol:HttpProtocol", "--loop", "asyncio"]  # as `python -m app`


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def make_client(**settings: object) -> TestClient:
    """An in-process client of an app built with non-default settings."""
    return TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)  # type: ignore[arg-type]


def rss_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def log_records(log: str) -> list[dict[str, Any]]:
    """The JSON lines of a server's log (Nabla's own), parsed; uvicorn's plain lines are
    left out."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real `uvicorn app.main:app` process, as `make run` starts it."""

    def __init__(
        self,
        *extra: str,
        env: dict[str, str] | None = None,
        launcher: bool = False,
        factory: str | None = None,
        wait_for_compute: bool = True,
    ) -> None:
        self._output = ""
        self.workers = 1  # uvicorn worker processes (set by those who start more)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if launcher:  # `python -m app`, as `make run` and the image start it
            command = [sys.executable, "-m", "app"]
            env = {"NABLA_HOST": "127.0.0.1", "NABLA_PORT": str(self.port), **(env or {})}
        else:
            # `factory`: a function of tests/servable_apps.py that builds the app to serve.
            target = ["--factory", f"servable_apps:{factory}", "--app-dir", "tests"]
            command = [sys.executable, "-m", "uvicorn", *(target if factory else ["app.main:app"])]
            command += ["--no-access-log", "--host", "127.0.0.1", "--port", str(self.port)]
            command += HTTP_PROTOCOL
        # A file, not a pipe: a pipe nobody reads fills up (64 KiB) and blocks the server.
        # The server appends through its own descriptor (O_APPEND): sharing ours, it would
        # write wherever our last seek left the shared offset, over the start of the log.
        self.log = tempfile.NamedTemporaryFile(mode="w+", suffix=".log", delete=False)  # noqa: SIM115
        with open(self.log.name, "a") as server_log:
            self.process = subprocess.Popen(
                [*command, *extra],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=server_log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.wait_until_healthy()
        if wait_for_compute:
            self.wait_until_computing()

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not become healthy:\n{self.output()}")

    def wait_until_computing(self, timeout: float = 60.0) -> None:
        """Until /ready stops saying `starting` (the compute processes have imported the
        app), four times in a row: with two workers each answer is either's. A test's first
        big request would otherwise wait for the imports (0.8 s on a quiet machine)."""
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while in_a_row < 4:
            if time.monotonic() > deadline:
                raise RuntimeError(f"compute processes still starting:\n{self.output()}")
            r = httpx.get(f"{self.url}/ready", timeout=5.0)
            starting = r.status_code == 503 and "starting" in r.text
            in_a_row = 0 if starting else in_a_row + 1
            time.sleep(0.05)

    def log_so_far(self) -> str:
        """What the server has printed until now, while it keeps running."""
        self.log.seek(0)
        return self.log.read()

    def output(self) -> str:
        """Everything the server printed; stops it first."""
        self.stop()
        return self._output

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.seek(0)
            self._output = self.log.read()
            self.log.close()
            os.unlink(self.log.name)
        return self.process.returncode


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()
