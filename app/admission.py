"""At most `max_heavy_requests` big requests in memory at once, per process; others wait.

Each request is bounded by the limits (body, points, work). Concurrency multiplied them:
one 10⁶-point /derivative peaks near 100 MiB, and twelve at once took a server to 1.2 GiB,
past the 1 GiB memory limit of deploy/kubernetes. There, that is an OOM kill and every
request in flight lost. So a request takes a slot, waiting for one if none is free,
before it holds much memory:

- before its body is read, if the body is over `HEAVY_BODY_BYTES` (or of unknown length,
  chunked). Until then uvicorn holds at most 64 KiB of it and leaves the rest in the
  socket;
- before it is computed, if it asks for `HEAVY_SIZE` point-coordinates or more
  (`service.size`: a 1000×1000 grid is 2·10⁶, 1000 points is 10³).

It gives the slot back when its response has been sent, streamed ones included, or when it
fails. Waiting costs a connection and an idle coroutine. Everything below both thresholds
(most requests, every small one) never waits. With one core per process (the GIL), two
slots keep that core busy: one request computes while the other reads or sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.observability import HEAVY

HEAVY_BODY_BYTES = 64 * 1024  # about 3,500 points as JSON
HEAVY_SIZE = 1 << 16  # point-coordinates: about 5 MiB per float64 array


class Admission:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.held = 0  # slots taken now
        self.waiting = 0  # requests waiting for one
        self._semaphore: asyncio.Semaphore | None = None  # made on the loop that serves

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return self._semaphore

    async def enter(self, request: Request) -> None:
        """Hold a slot for this request, waiting for one; a request holds at most one."""
        if getattr(request.state, "admitted", False):
            return
        self._count(waiting=+1)
        try:
            await self.semaphore.acquire()
        finally:
            self._count(waiting=-1)
        self._count(held=+1)
        request.state.admitted = True

    def leave(self, request: Request) -> None:
        if getattr(request.state, "admitted", False):
            request.state.admitted = False
            self._count(held=-1)
            self.semaphore.release()

    def _count(self, *, held: int = 0, waiting: int = 0) -> None:
        self.held += held
        self.waiting += waiting
        _HELD.inc(held)
        _WAITING.inc(waiting)

    def until_sent(self, response: Response, request: Request) -> Response:
        """`response`, holding this request's slot (if any) until it has been sent."""
        if not getattr(request.state, "admitted", False):
            return response
        return _ReleasedWhenSent(response, lambda: self.leave(request))


_HELD, _WAITING = HEAVY.labels(state="held"), HEAVY.labels(state="waiting")


class _ReleasedWhenSent(Response):
    """Sends `inner`, then calls `release`: also when sending fails or is cancelled (a
    client that disconnects from a stream)."""

    def __init__(self, inner: Response, release: Callable[[], None]) -> None:
        # Not Response.__init__: this only forwards to `inner`, which has the body.
        self.inner = inner
        self.release = release
        self.status_code = inner.status_code
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            self.release()
