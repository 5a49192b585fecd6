"""A /health prober in a process of its own, as a kubelet's is: the time it measures is the
server's, not the time its thread waited for the GIL behind the attack's own client threads
(64 threads each opening an httpx client made a probe in the same process wait 1.3 s once
in CI, while the server answered /health in well under that)."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import httpx

_CONTEXT = multiprocessing.get_context("spawn")


def _poll(
    url: str, new_connections: bool, started: Any, stop: Any, worst: Any, failures: Any
) -> None:
    limits = httpx.Limits(max_keepalive_connections=0 if new_connections else None)
    with httpx.Client(timeout=5, limits=limits) as client:
        while True:
            start = time.monotonic()
            try:
                ok = client.get(f"{url}/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            worst.value = max(worst.value, time.monotonic() - start)
            failures.value += not ok
            started.set()
            if stop.wait(0.05):
                return


class HealthWatch:
    """Polls /health every 50 ms from another process; `worst` is the slowest answer seen
    and `failures` the probes that got no 200. With `new_connections`, each probe opens its
    own connection, as the kubelet's do. The watch has made its first probe when the
    `with` block starts."""

    def __init__(self, url: str, *, new_connections: bool = False) -> None:
        self.url, self.new_connections = url, new_connections
        self._started, self._stop = _CONTEXT.Event(), _CONTEXT.Event()
        self._worst, self._failures = _CONTEXT.Value("d", 0.0), _CONTEXT.Value("i", 0)
        self._process = _CONTEXT.Process(
            target=_poll,
            args=(url, new_connections, self._started, self._stop, self._worst, self._failures),
            daemon=True,
            name="health-watch",
        )

    @property
    def worst(self) -> float:
        return float(self._worst.value)

    @property
    def failures(self) -> int:
        return int(self._failures.value)

    def __enter__(self) -> HealthWatch:
        self._process.start()
        deadline = time.monotonic() + 30
        while not self._started.wait(0.1):
            if not self._process.is_alive() or time.monotonic() > deadline:
                self._process.kill()
                raise RuntimeError("the /health watch made no probe")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.exitcode is None:
            self._process.kill()
            raise RuntimeError("the /health watch did not stop")
