"""A request's life in one place: its limits, its admission (memory), its turn at a
compute process, its refusal when the server is full (503), and the release of all it held.

**Limits first.** `Lifecycle.answer` checks the endpoint's `limits` (app.service: what the
request's size decides, from its model and the engine's plan) before anything else, so a
request over them gets its 413 at once, not after a wait for a slot or a thread.

**Admission.** At most `max_heavy_requests` big requests in memory at once, per process;
others wait. Each request is bounded by the limits (body, points, work). Concurrency
multiplied them: one 10⁶-point /derivative peaks near 100 MiB, and twelve at once took a
server to 1.2 GiB, past the 1 GiB memory limit of deploy/kubernetes. There, that is an OOM
kill and every request in flight lost. So a request takes a slot, waiting for one if none
is free, before it holds much memory:

- before its body is read, if the body is over `app.json_in.HEAVY_BODY_BYTES` (or of
  unknown length, chunked). Until then uvicorn holds at most 64 KiB of it and leaves the rest in the
  socket;
- before it is computed, if it asks for `HEAVY_SIZE` point-coordinates or more
  (its model's `size()`: a 1000×1000 grid is 2·10⁶, 1000 points is 10³).

It gives the slot back when its response has been sent, streamed ones included, or when it
fails. Everything below both thresholds (most requests, every small one) never waits.

**Scheduling.** Work that would block the event loop (parsing big bodies, computing,
encoding the answer) runs in `compute_threads` compute processes (app.processes), one per
core by default, each driven from a thread of this process that waits on its pipe without
the GIL. Threads alone were not enough: with 40 of them (anyio's) /health took 16-30 s
under 64 connections of Python-heavy requests, and with one per core still 2-4 s under
500 (the event loop waits for the GIL after each of its socket calls).
`NABLA_COMPUTE_PROCESSES=false` computes on those threads instead. At most `max_queued`
requests wait for a compute process, none longer than `max_queue_wait` seconds so far;
one more is answered 503 with `Retry-After` at once (load shedding), and readiness
(`/ready`) turns false for a second, so that a load balancer sends new requests to other
replicas, while liveness (`/health`, on the event loop) keeps answering. Refusals keep a
pace (`RefusalPace`): clients that retry at once cannot take the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.answers import Head, Piece, Reply, response, size
from app.config import Settings
from app.errors import ClientGoneError, OverloadedError
from app.expressions import parse_cache_lookups
from app.json_in import RawBody
from app.memory import give_back_memory
from app.observability import HEAVY, QUEUED, record_parses
from app.payloads import Payload
from app.processes import shared_pool
from app.schemas import ComputeRequest, Size
from app.service import Endpoint

HEAVY_SIZE = 1 << 16  # point-coordinates: about 5 MiB per float64 array
HELD_ANSWER_BYTES = 1 << 20  # an answer's bytes: more are sent with an admission slot


# Refusals the event loop makes per second before it makes them wait. A refusal costs the
# loop (and the GIL) 150-300 µs: accepting the connection, parsing the head, the 503, the
# close. Clients that retry a 503 at once (wrk does; a retry loop without a pause does)
# made 1,500-3,000 a second from 64 connections, and the compute threads, waiting for the
# GIL behind them, finished no 10,000-step /descent in 8 s (a 3.4 s request alone).
REFUSALS_PER_SECOND = 400
REFUSAL_BURST = 100  # refused at once, before the pace starts


class RefusalPace:
    """At most `rate` refusals a second after a burst of `burst`: `delay()` says how long
    the next one waits before it is sent (0 while within the pace). The client waits
    without costing anything; it sends its next request only once it has its answer, so a
    retry storm slows to the pace. The wait is at most connections / rate (1.25 s for 500).
    A generic cell rate algorithm: `due` is when the next refusal is due at the pace."""

    def __init__(self, rate: float = REFUSALS_PER_SECOND, burst: int = REFUSAL_BURST) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval  # `burst` at once, then the pace
        self.due = 0.0

    def delay(self) -> float:
        now = time.monotonic()
        due = max(self.due, now)
        self.due = due + self.interval
        return max(0.0, due - now - self.tolerance)


class WaitingLine:
    """Requests waiting for a turn (at one of `servers` compute processes, or admission
    slots): one more is refused at once, at the `pace` of refusals, when the line holds
    `length`, when its first has waited `max_wait` seconds, or when the work ahead of it
    would take `max_wait` seconds. The work is each waiting request's expected seconds
    (`Scheduler` learns them by kind); a request of a kind not timed yet counts as an
    eighth of `max_wait` on each server, so that a line of those stops at eight. A count
    alone shed work of a millisecond in a line of eight (a third of `make load`'s mix at
    64 connections) and let a line of 10,000-step /descents grow to seconds each."""

    def __init__(
        self,
        length: int,
        max_wait: float,
        pace: RefusalPace | None = None,
        servers: int = 1,
    ) -> None:
        self.length = length
        self.max_wait = max_wait
        self.pace = pace or RefusalPace()
        self.served_by(servers)
        self.arrivals: dict[int, float] = {}  # of the requests waiting, oldest first
        self.work: dict[int, float] = {}  # their expected seconds of work
        self.shed_at = -SHEDDING_SECONDS  # monotonic time of the last refusal
        self._tickets = itertools.count()

    def served_by(self, servers: int) -> None:
        self.servers = servers
        self.unknown = self.max_wait * servers / UNTIMED_IN_LINE

    def ahead(self) -> float:
        """Seconds a request joining now would expect to wait."""
        return sum(self.work.values()) / self.servers

    @property
    def shedding(self) -> bool:
        return time.monotonic() - self.shed_at < SHEDDING_SECONDS

    def _waited(self, now: float) -> float:
        return now - next(iter(self.arrivals.values())) if self.arrivals else 0.0

    @property
    def full(self) -> bool:
        """One more waiting request would be refused now."""
        waited = self._waited(time.monotonic())
        over = waited >= self.max_wait or self.ahead() >= self.max_wait
        return over or len(self.arrivals) >= self.length

    def refusal(self, busy: str) -> OverloadedError | None:
        """The refusal one more waiting request gets now, if the line is full."""
        now = time.monotonic()
        waited = self._waited(now)
        if not self.full:
            return None
        self.shed_at = now
        return OverloadedError(
            f"the server is busy ({busy}, {len(self.arrivals)} waiting, the first for "
            f"{waited:.1f} s); retry shortly.",
            reason="queue",
        )

    async def refuse(self, refusal: OverloadedError) -> NoReturn:
        """Raise `refusal` once its turn at the pace of refusals has come."""
        await anyio.sleep(self.pace.delay())
        raise refusal

    @contextlib.contextmanager
    def joined(self, work: float | None = None) -> Iterator[None]:
        """In the line while the block waits, expecting `work` seconds (None: untimed); out
        when its turn comes or it is cancelled."""
        ticket = next(self._tickets)
        self.arrivals[ticket] = time.monotonic()
        self.work[ticket] = self.unknown if work is None else work
        try:
            yield
        finally:
            del self.arrivals[ticket]
            del self.work[ticket]


UNTIMED_IN_LINE = 8  # requests of a kind not timed yet that a line holds at most
LEARNING = 0.3  # weight of the newest time in a kind's expected seconds


class Admission:
    def __init__(self, slots: int, line: WaitingLine) -> None:
        self.slots = slots
        self.line = line
        line.served_by(slots)
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
        if self.semaphore.locked():
            refusal = self.line.refusal(f"{self.slots} big requests in memory")
            if refusal is not None:
                await self.line.refuse(refusal)
        self._count(waiting=+1)
        try:
            with self.line.joined():
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
            if not self.held:
                give_back_memory()  # ~1 ms, once no big request is in memory

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


T = TypeVar("T")
SHEDDING_SECONDS = 1.0  # readiness stays false this long after a request was shed
# How long a thread keeps the GIL when another wants it (CPython's default: 5 ms). The event
# loop wants it for every request it reads, answers or sheds; behind two compute threads
# running Python-heavy work (a one-point Hessian of 30 variables, 500 clients) it waited
# in 5 ms turns and /health took 1.7 s; in 1 ms turns, 0.4 s (scripts/stress.py).
SWITCH_INTERVAL = 0.001


class Scheduler:
    """At most `threads` pieces of work at once, the others in a `WaitingLine`."""

    def __init__(self, threads: int, line: WaitingLine) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.line = line
        line.served_by(self.threads)
        self.seconds: dict[Hashable, float] = {}  # expected seconds of work, by kind
        self._limiter: anyio.CapacityLimiter | None = None  # made on the loop that serves

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    async def run(
        self,
        work: Callable[..., T],
        *args: object,
        gone: Callable[[], Awaitable[bool]] | None = None,
        kind: Hashable = None,
    ) -> T:
        """`work(*args)` on a scheduler thread (which hands it to a compute process, or
        computes it), or OverloadedError if the line is full; or
        ClientGoneError if, once its turn has come after a wait, `gone()` says its client
        has left: a flood's clients leave, and the work they left in the line was done
        anyway, seconds of it for nobody (twenty of a 10,000-step /descent)."""
        limiter = self.limiter
        QUEUED.inc()
        try:
            try:
                limiter.acquire_nowait()
            except anyio.WouldBlock:
                refusal = self.full()
                if refusal is not None:
                    await self.line.refuse(refusal)
                with self.line.joined(self.seconds.get(kind)):
                    await limiter.acquire()
                if gone is not None and await gone():
                    limiter.release()
                    raise ClientGoneError(
                        "the client left while its request waited for a compute process."
                    ) from None
            start = time.monotonic()
            try:
                return await anyio.to_thread.run_sync(work, *args)
            finally:
                limiter.release()
                self._timed(kind, time.monotonic() - start)
        finally:
            QUEUED.dec()

    def _timed(self, kind: Hashable, seconds: float) -> None:
        """Learn how long work of this kind takes (`kind` None: not learnt)."""
        if kind is not None:
            known = self.seconds.get(kind, seconds)
            self.seconds[kind] = known + LEARNING * (seconds - known)

    def would_shed(self) -> bool:
        """A request that came now would be shed (the line is full, or has waited too long)."""
        busy = self._limiter is not None and self._limiter.available_tokens == 0
        return busy and self.line.full

    def full(self) -> OverloadedError | None:
        """The refusal a request that must wait for a thread gets now, if it would be shed."""
        if self._limiter is None or self._limiter.available_tokens > 0:
            return None
        return self.line.refusal(f"{self.threads} requests computing")


# A request this small (point-coordinates, expression characters, default options) costs
# less than a thread hop, 20-50 µs; the worst of them found (a 200-character sum of 1/x at
# 1e-300, its steps laddered) takes ~40 ms, and at 64 coordinates 7 s, on the event loop.
LIGHT_COORDINATES = 4
LIGHT_EXPRESSION = 200
# And the event loop computes at most half of each INLINE_WINDOW: past it, tiny
# requests go to the compute processes too, so that crafted ones cannot hold /health.
INLINE_SHARE = 0.05
INLINE_WINDOW = 0.1

Body = TypeVar("Body", bound=ComputeRequest)


class Lifecycle:
    """The admission slots and the compute processes of one app, and the one way every
    compute route answers (`answer`)."""

    def __init__(
        self,
        *,
        heavy_slots: int,
        threads: int,
        queue: int,
        max_wait: float,
        processes: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.pace = RefusalPace()  # of all refusals for want of a thread or a slot
        self.admission = Admission(heavy_slots, WaitingLine(queue, max_wait, self.pace))
        self.scheduler = Scheduler(threads, WaitingLine(queue, max_wait, self.pace))
        # Blocking, on a scheduler thread: a function's (head, pieces), computed in a
        # compute process (killed past `timeout`) or on the thread itself.
        self.compute: Callable[..., tuple[Head, Iterable[Any]]] = _here
        self.pool = shared_pool(self.scheduler.threads) if processes else None
        if self.pool is not None:
            self.compute = functools.partial(self.pool.run, timeout)
        self.shed_at = -SHEDDING_SECONDS  # the last refusal made before the lines
        self.window = 0.0  # when the current INLINE_WINDOW began
        self.inline_seconds = 0.0  # computed on the event loop since

    def start(self) -> None:
        """Start the compute processes now (the server is starting), not at first use."""
        if self.pool is not None:
            self.pool.start()

    def close(self) -> None:
        """Stop the compute processes (the server is stopping)."""
        if self.pool is not None:
            self.pool.close()

    @property
    def starting(self) -> bool:
        """Some compute process is still importing the app: a request now would wait."""
        return self.pool is not None and self.pool.starting

    @property
    def shedding(self) -> bool:
        """A request was refused for want of a thread, a slot or a place among the requests
        in progress (`app.protocol`) within the last second, or one would be now."""
        recently = time.monotonic() - self.shed_at < SHEDDING_SECONDS
        lines = self.scheduler.line.shedding or self.admission.line.shedding
        return recently or lines or self.scheduler.would_shed()

    def shed(self) -> None:
        """A request was refused before it reached a line (`NABLA_MAX_REQUESTS`)."""
        self.shed_at = time.monotonic()

    def _inline_allowed(self) -> bool:
        now = time.monotonic()
        if now - self.window > INLINE_WINDOW:
            self.window, self.inline_seconds = now, 0.0
        return self.inline_seconds < INLINE_SHARE

    async def answer(
        self, request: Request, body: Body | RawBody, endpoint: Endpoint[Body, Payload]
    ) -> Response:
        """The endpoint's answer to `body`: refused at once if its size is over the limits
        (`endpoint.limits`), else computed inline if the request is tiny, or in a compute
        process (or shed), holding an admission slot if it is big; the slot comes back when
        the answer has been sent (`app.json_in.StrictJSONRoute`). A big body (`RawBody`) is
        read with its slot, and parsed and checked where it is computed."""
        settings: Settings = request.app.state.settings
        reply = Reply.negotiate(request)  # a 406 before any work
        if isinstance(body, RawBody):
            head, pieces = await self._computed(request, endpoint, body, settings, reply)
            request.state.points = head.points  # for the access log
            return await self._sent(request, head, pieces)
        endpoint.limits(body, settings)  # on the event loop: arithmetic on the model
        size = body.size()
        request.state.points = size.points
        if runs_inline(body, size) and self._inline_allowed():
            start = time.monotonic()
            try:
                return response(*reply.render(endpoint.compute(body, settings), settings))
            finally:
                self.inline_seconds += time.monotonic() - start
        if size.coordinates >= HEAVY_SIZE:
            await self.admission.enter(request)
        head, pieces = await self._computed(request, endpoint, body, settings, reply)
        return await self._sent(request, head, pieces)

    async def _computed(
        self,
        request: Request,
        endpoint: Endpoint[Body, Payload],
        body: Body | RawBody,
        settings: Settings,
        reply: Reply,
    ) -> tuple[Head, Iterable[Any]]:
        """`answered` in a compute process (or on a thread), in its turn."""
        work = (self.compute, answered, endpoint, body, settings, reply)
        # Its kind, for the time it is expected to take: the endpoint, and the size (in
        # powers of two) of its points or of its body.
        size = len(body.raw) if isinstance(body, RawBody) else body.size().coordinates
        kind = (endpoint.compute, isinstance(body, RawBody), size.bit_length())
        return await self.scheduler.run(*work, gone=request.is_disconnected, kind=kind)

    async def _sent(self, request: Request, head: Head, pieces: Iterable[Any]) -> Response:
        """The response of an answer computed off the event loop. An answer over
        HELD_ANSWER_BYTES is sent with an admission slot (the request's own, if it is big):
        sixty clients that asked for 5.6 MB answers and read none held them all, past the
        budget (1.1 GiB). The parses it made are counted here if it was computed in
        another process."""
        if self.pool is not None:
            hits, misses = head.parses
            record_parses(hits=hits, misses=misses)
        if not isinstance(pieces, list) or size(pieces) > HELD_ANSWER_BYTES:
            await self.admission.enter(request)  # a streamed answer: big
        return response(head, pieces)


def answered(
    endpoint: Endpoint[Body, Payload], body: Body | RawBody, settings: Settings, reply: Reply
) -> tuple[Head, list[Piece] | Iterator[Piece]]:
    """All the work of an answer, where it is done (a compute process, or inline): a big
    body parsed, validated and held to the limits, the computation, the encoding."""
    hits, misses = parse_cache_lookups()
    points = None
    if isinstance(body, RawBody):
        model: Body = body.parsed(settings)
        endpoint.limits(model, settings)
        points = model.size().points
    else:
        model = body
    head, pieces = reply.render(endpoint.compute(model, settings), settings, points)
    now_hits, now_misses = parse_cache_lookups()
    return replace(head, parses=(now_hits - hits, now_misses - misses)), pieces


def _here(function: Callable[..., T], *args: object) -> T:
    return function(*args)


def runs_inline(body: ComputeRequest, size: Size) -> bool:
    """Cheap enough to compute on the event loop: well under a millisecond of NumPy, but
    for points that need their steps laddered (tens of ms at worst)."""
    expression = getattr(body, "expression", "")
    plain = not getattr(body, "error_estimate", False) and getattr(body, "accuracy", 2) <= 2
    return (
        body.may_run_inline()
        and plain
        and len(expression) <= LIGHT_EXPRESSION
        and 0 < size.coordinates <= LIGHT_COORDINATES
    )
