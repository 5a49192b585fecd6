"""uvicorn's HTTP/1.1 protocol, with limits on request heads and JSON for its own errors.

uvicorn parses HTTP itself (httptools), before the application sees a request. Served
with `--http app.protocol:HttpProtocol` (as `python -m app`, the Docker image, the tests
and the benchmarks serve), these things change:

- A request whose framing is broken (`Content-Length: abc`, two Content-Length headers, a
  chunk size that is not hex, a request line that is not one) gets the JSON 400 every
  other client error gets, instead of uvicorn's plain text.
- The request line and headers are limited to `max_header_bytes`: httptools buffers a
  header until it ends, so a client sending one endless header grew the process by the
  size it sent (200 MiB in a test). Over the limit: JSON 431, connection closed. Checked
  as bytes arrive (a head that never ends) and again on the parsed head (one that came
  whole in a single read of up to 256 KiB).
- They must arrive within `header_timeout` seconds of the request's first byte: a client
  trickling a header byte by byte (slowloris) would otherwise hold its connection open
  forever. Late: JSON 408, connection closed.
- A connection that sends no byte is closed after uvicorn's `timeout_keep_alive` (5 s), as
  an idle keep-alive one is: 5,000 silent connections stayed open for as long as their
  client wished, and at ~20,000 the process ran out of file descriptors.
- A request that would be shed anyway gets its JSON 503 (with `Retry-After`) here, before
  the app reads its body, and the connection is closed: more than `max_requests` in
  progress, or a POST while every compute process is busy and their line full
  (app.lifecycle). Probes (`/health`, `/ready`) always go through. The close waits for
  the body the client has begun to send, read and thrown away (`HttpProtocol._linger`):
  closed with it unread, the connection is reset, and the 503 lost with it.
- Open connections are capped at `max_connections` (within the open-file limit): one more
  takes the place of the longest-idle connection (one that has sent nothing of a next
  request), or, if none is idle, gets a JSON 503 with `Retry-After` and is closed at once.
- A body that stops arriving (no byte for `body_idle_timeout` seconds while the server
  reads) gets the same JSON 408: a stalled upload holds its admission slot that long at
  most, not the whole `body_timeout`.
- A body trickled in (a byte a second) never stops arriving: once reading it has taken
  `body_idle_timeout`, it must have come at `min_body_rate` on average, or it gets the
  same JSON 408.
- A body must arrive within `body_timeout` seconds of the end of the headers, for the same
  reason (and a big body holds an admission slot while it is read). Late: JSON 408,
  connection closed; the app, waiting for the rest, sees the client gone. Here rather
  than around the app's read: a timer costs about 1 µs, an `asyncio.timeout` in the app
  9 µs, a twentieth of a small request. The clocks start only for a head or body that
  one read did not finish (a small request, whole in one read, needs none).
  Both clocks stop while uvicorn has stopped reading: a big body waiting for an admission
  slot (uvicorn holds 64 KiB of it, and the client cannot send more), or a request behind
  a pipelined one. The client is not late for bytes the server is not taking.
- An answer must be taken: a client that leaves more than 64 KiB unread for
  `send_timeout` seconds at a stretch is disconnected (the app sees it gone: a streamed
  answer stops, its memory and admission slot are freed).
- And a client that reads, but slowly, must keep up: once writing has waited on it for
  `send_timeout` in all, it must have read at `min_send_rate` meanwhile, or it is
  disconnected the same way.
- Pipelined requests are read only as fast as they are answered. uvicorn read on after
  every answer, so a client that pipelined without reading its answers queued everything
  it sent (+280 MiB for 100,000 small requests); the queue now holds one read's worth.
- An HTTP/1.0 client gets an answer of unknown length (a streamed one) as it is, ended by
  the close of the connection, as HTTP/1.0 has it: uvicorn sent it chunked, which HTTP/1.0
  does not know (a client read `ab\r\n{"variables"...` with chunk sizes inside its JSON,
  and an .npz that was not a zip).
- `Upgrade` is ignored (RFC 9110 allows it): Nabla speaks HTTP/1.1 only. uvicorn answered
  every WebSocket handshake with an empty plain-text 403; such a GET is now served as the
  plain request it also is. A request that asks to upgrade *and* has a body can't be:
  httptools hands everything after its headers to the new protocol, so the app saw no
  body, and `curl --http2 -d '{...}' http://...` got "the request body is empty". It now
  gets a JSON 400 that says what to change.

`send_400_response` is the method uvicorn calls for its 400; it is not public API, so
tests/test_server.py checks the bytes on the wire against a real uvicorn.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from app.config import Settings, get_settings
from app.errors import (
    BodyTimeoutError,
    HeadersTooLargeError,
    HeaderTimeoutError,
    MalformedHTTPError,
    NablaError,
    OverloadedError,
)
from app.lifecycle import Lifecycle
from app.observability import REJECTIONS


class HttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The app's own settings, handed over in its lifespan state (app.main); the
        # process's environment only when the server runs without a lifespan.
        settings: Settings = self.app_state.get("settings") or get_settings()
        self.lifecycle: Lifecycle | None = self.app_state.get("lifecycle")
        self.max_connections = connection_cap(settings.max_connections)
        self.max_requests = settings.max_requests
        self.max_head_bytes = settings.max_header_bytes
        self.head_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.body_idle_timeout = settings.body_idle_timeout
        self.stall: Deadline | None = None  # of a body that stops arriving
        self.send_timeout = settings.send_timeout
        self.min_send_rate = settings.min_send_rate
        # While writing is paused the client is the bottleneck: how long it has been, in
        # all, during this answer, and how many bytes it took meanwhile.
        self.paused_at: float | None = None
        self.buffered_at_pause = 0
        self.behind = 0.0
        self.drained = 0
        self.send_timer: asyncio.TimerHandle | None = None
        # Between requests and inside a head, bytes count against the head's limit; from
        # the end of the headers to the end of the body, they are body (limited by the app).
        self.in_head = True
        self.in_body = False  # from the end of a head with a body to the end of the body
        self.body_bytes = 0  # of the body being read, as received
        self.body_length: int | None = None  # its Content-Length, if it has one
        self.min_body_rate = settings.min_body_rate
        self.head_bytes = 0
        self.head_began = 0.0  # loop time of the first byte of the head being read
        self.deadline: Deadline | None = None  # of the head, then of the body
        self.ws_protocol_class = None  # HTTP only (module docstring)
        self.upgrade_refused = False
        self.refused = False  # answered with an error; the rest of what was read is ignored
        self.refusal_timer: asyncio.TimerHandle | None = None  # of a refusal kept to its pace
        self.lingering = False  # a 503 sent before the body: reading it to throw it away
        self.linger_left = 0  # bytes it may still send (its declared length)
        self.max_body_bytes = settings.max_body_bytes
        # A refusal held until the answers to the requests before it have gone out
        self.deferred: NablaError | None = None
        self.linger_after_response = False  # the app shed this request unread (`ShedCycle`)
        self.linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = WatchedFlow(transport, self)  # before any request has taken uvicorn's
        self.opened = self.loop.time()
        if len(self.connections) > self.max_connections and not self._evict_an_idle_one():
            # Past the cap the process would run out of file descriptors (accept fails,
            # /health with it); an answer and a close keep the count where it is.
            self.refuse(
                OverloadedError(
                    f"the server has {self.max_connections} connections open; retry shortly.",
                    reason="connections",
                )
            )
            return
        # A connection that sends nothing is closed when an idle keep-alive one would be
        # (uvicorn's --timeout-keep-alive): otherwise it stays open for ever.
        self._start_deadline(self.timeout_keep_alive, self._silent_too_long)

    @property
    def idle(self) -> bool:
        """Between requests, nothing of the next one received: closing loses no work."""
        cycle = self.cycle
        waiting = cycle is None or cycle.response_complete
        return self.in_head and self.head_bytes == 0 and waiting and not self.pipeline

    def trickling(self, now: float) -> bool:
        """In a head that has been arriving for over `TRICKLE_SECONDS` with no answer
        owed: a client sends its head in one write; one that sends it a byte at a time
        (slowloris) is no more use to keep than an idle connection."""
        cycle = self.cycle
        waiting = cycle is None or cycle.response_complete
        return (
            self.in_head
            and self.head_bytes > 0
            and waiting
            and not self.pipeline
            and now - self.head_began > TRICKLE_SECONDS
        )

    def body_rate(self) -> float | None:
        """Bytes per second of the body being read, once it has been read for over
        `TRICKLE_SECONDS`; None otherwise."""
        deadline = self.deadline
        if not self.in_body or deadline is None or deadline.expire != self._body_too_slow:
            return None
        elapsed = deadline.elapsed()
        return self.body_bytes / elapsed if elapsed > TRICKLE_SECONDS else None

    def _evict_an_idle_one(self) -> bool:
        """Close the longest-idle connection to make room for this one, or else the one
        whose head has been trickling in longest, or else the one whose body comes slowest
        if slower than `min_body_rate`: a flood of silent, slowloris or slow-upload
        connections then cannot keep a probe (or anyone) out; False if there is none."""
        # (not those closing already: a connection closed here leaves `connections` only
        # on a later turn of the loop, and a burst of arrivals all closed the same one,
        # 1 distinct connection for 50 evictions, and went over the cap)
        others = [
            c
            for c in self.connections
            if c is not self and isinstance(c, HttpProtocol) and not c.transport.is_closing()
        ]
        lingering = [c for c in others if c.lingering]  # answered already
        if lingering:
            min(lingering, key=lambda c: c.opened).transport.close()
            return True
        idle = [c for c in others if c.idle]
        if idle:
            min(idle, key=lambda c: c.opened).transport.close()
            return True
        now = self.loop.time()
        trickling = [c for c in others if c.trickling(now)]
        if trickling:
            min(trickling, key=lambda c: c.head_began).transport.close()
            return True
        rates = [(rate, c) for c in others if (rate := c.body_rate()) is not None]
        slow = [(rate, c) for rate, c in rates if rate < self.min_body_rate]
        if slow:
            min(slow, key=lambda pair: pair[0])[1].transport.close()
            return True
        return False

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self.linger_left -= len(data)
            # more than the body it declared, or than the process may throw away
            if self.linger_left < 0 or not DRAIN.take(len(data), self.loop.time()):
                self.transport.close()
            return
        if self.stall is not None:  # the body moves: its idle clock starts again
            self._start_stall(self.body_idle_timeout)
        if self.in_head:
            if self.deadline is not None and self.deadline.expire == self._silent_too_long:
                self._stop_deadline()
            if not self.head_bytes:
                self.head_began = self.loop.time()
            self.head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing, so that a chunk that ends the head is not held against
        # it; httptools has then buffered at most the limit plus one read (256 KiB).
        if self.in_head and self.head_bytes > self.max_head_bytes:
            self.refuse(self._too_large())
        if self.in_body:
            self.body_bytes += len(data)
            self._check_body_rate()
        if self.refused or self.deadline is not None:
            return
        # Clocks only for what this read left unfinished: most requests come whole in one
        # read, and a timer made and cancelled for each cost them 3-5 µs.
        if self.in_head and self.head_bytes:
            self._start_deadline(self.head_timeout, self._head_too_slow)
        elif self.in_body:
            self._start_deadline(self.body_timeout, self._body_too_slow)
            self._start_stall(self.body_idle_timeout)

    def _overloaded(self) -> OverloadedError | None:
        """A refusal for a request that would be shed anyway, made here for ~30 µs: made by
        the app (body read, parsed, validated, scheduled) it cost the event loop and the
        GIL ten times that, and clients retrying at once kept /health waiting seconds.
        Probes (`/health`, `/ready`) always go through."""
        if _is_probe(self.url):
            return None
        if len(self.tasks) >= self.max_requests:
            if self.lifecycle is not None:
                self.lifecycle.shed()  # readiness says so, as for a full line
            return OverloadedError(
                f"the server is answering {len(self.tasks)} requests; retry shortly.",
                reason="requests",
            )
        if self.lifecycle is not None and self.parser.get_method() == b"POST":
            return self.lifecycle.scheduler.full()
        return None

    def _too_large(self) -> HeadersTooLargeError:
        return HeadersTooLargeError(
            f"the request line and headers are over {self.max_head_bytes} bytes; send fewer "
            "or shorter headers.",
            reason="headers",
        )

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._stop_deadline()
        if self.refused:
            return
        # A head that came in one read is checked here, whatever its size.
        if _head_size(self.url, self.headers) > self.max_head_bytes:
            self.refuse(self._too_large())
            return
        refusal = self._overloaded()
        if refusal is not None:
            self.refuse_at_pace(refusal)
            return
        has_body = _has_body(self.headers)
        if self.parser.should_upgrade() and has_body:
            self.upgrade_refused = True  # answered by `_unsupported_upgrade_warning`
            return
        self.in_body = has_body  # its clocks start if this read does not finish it
        self.body_bytes = 0
        self.body_length = _declared_length(self.headers)
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            # Before its task first runs (the next turn of the loop), which looks `send` up.
            if self.scope["http_version"] == "1.0":
                cycle.__class__ = CloseDelimitedCycle
            elif has_body:
                cycle.__class__ = ShedCycle
                cycle.protocol = self  # type: ignore[attr-defined]

    def on_message_complete(self) -> None:
        self.in_body = False
        self._stop_deadline()
        self._stop_stall()
        if not (self.upgrade_refused or self.refused):
            super().on_message_complete()
        self.in_head, self.head_bytes = True, 0

    def on_response_complete(self) -> None:
        # uvicorn resumes reading after every response, even with pipelined requests still
        # queued: each answer let another read's worth (up to 256 KiB, thousands of small
        # requests) join the queue. A client that pipelines without reading its answers
        # grew the process by 280 MiB for 100,000 requests. Read on once the queue is empty.
        super().on_response_complete()
        self.behind, self.drained = 0.0, 0  # the next answer's pace is measured afresh
        if self.pipeline:
            self.flow.pause_reading()
        elif self.deferred is not None:
            error, self.deferred = self.deferred, None
            self.refuse(error)
        if self.linger_after_response:
            self.linger_after_response = False
            self._linger(self._unread())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refusal_timer is not None:
            self.refusal_timer.cancel()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        self._stop_deadline()
        self._stop_stall()
        self.writing_resumed()
        super().connection_lost(exc)

    def writing_paused(self) -> None:
        # The client has left more than uvicorn's high-water mark (64 KiB) unread. It gets
        # send_timeout to take some: a client that requested a big answer and never reads
        # it would otherwise hold the answer's memory and its admission slot for as long as
        # it stays connected.
        if self.send_timer is None:
            self.send_timer = self.loop.call_later(self.send_timeout, self._send_too_slow)
        self.paused_at = self.loop.time()
        self.buffered_at_pause = self.transport.get_write_buffer_size()

    def writing_resumed(self) -> None:
        if self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None
        if self.paused_at is not None and not self.transport.is_closing():
            # Nothing is written while paused: what left the buffer, the client took.
            self.behind += self.loop.time() - self.paused_at
            self.drained += self.buffered_at_pause - self.transport.get_write_buffer_size()
            self._check_send_rate()
        self.paused_at = None

    def _check_send_rate(self) -> None:
        """A client reading a big answer at 64 KiB/s is never idle for `send_timeout`, and
        held its slot and the answer's memory for the 25 minutes 96 MB take: once it has
        been the bottleneck (writing paused) for `send_timeout` in all, it must have read
        at `min_send_rate` meanwhile."""
        if self.behind > self.send_timeout and self.drained < self.min_send_rate * self.behind:
            self.transport.abort()  # as `_send_too_slow`: the app sees the client gone

    def _send_too_slow(self) -> None:
        self.send_timer = None
        self.transport.abort()  # drops what is buffered; the app sees the client gone

    def reading_paused(self) -> None:
        if self.deadline is not None:
            self.deadline.hold()
        if self.stall is not None:
            self.stall.hold()

    def reading_resumed(self) -> None:
        if self.deadline is not None:
            self.deadline.run()
        if self.stall is not None:
            self._start_stall(self.body_idle_timeout)  # a fresh count: the pause was ours

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn calls this once httptools has stopped at an upgrade request's headers.
        # (Its own warning here blames a missing WebSocket library; none is wanted.)
        if not self.upgrade_refused:
            return  # a body-less request, already on its way to the app as plain HTTP
        upgrade = dict(self.headers).get(b"upgrade", b"").decode("latin-1")[:40]
        self.refuse(
            MalformedHTTPError(
                f"the request asks to switch to `{upgrade}` and has a body; Nabla speaks "
                "HTTP/1.1 only: send it without `Upgrade` (curl: `--http1.1` instead of "
                "`--http2`)."
            )
        )

    def send_400_response(self, msg: str) -> None:
        # `msg` is uvicorn's text for its log ("Invalid HTTP request received."), which
        # uvicorn has already written there.
        self.refuse(
            MalformedHTTPError(
                "the request is not valid HTTP/1.1: its request line, headers or body framing "
                "could not be parsed (for example `Content-Length: abc`, or two "
                "Content-Length headers)."
            )
        )

    def refuse_at_pace(self, error: OverloadedError) -> None:
        """`refuse`, once its turn at the lifecycle's pace of refusals has come; reading
        stops meanwhile, and the rest of the request is ignored."""
        delay = 0.0 if self.lifecycle is None else self.lifecycle.pace.delay()
        if not delay:
            self.refuse(error)
            return
        self._stop_deadline()
        self.refused = True
        self.flow.pause_reading()
        self.refusal_timer = self.loop.call_later(delay, self.refuse, error)

    def refuse(self, error: NablaError) -> None:
        """Answer `error` as JSON and close: the connection's framing can't be trusted.
        A 503 for a request whose body has not been read closes once the body has come
        (`_linger`)."""
        self._stop_deadline()
        self.refused = True
        if self.transport.is_closing() or self.lingering:
            return
        cycle = self.cycle
        earlier = self.pipeline or (cycle is not None and not cycle.response_complete)
        if earlier and not self.in_body:
            # A request after one still being answered (pipelined): its answer goes after
            # theirs (`on_response_complete`). Written now, it came first, where the client
            # takes it for the earlier request's; and a lingering close cut their answers
            # off (an error in the log, the client left with the 503 alone).
            self.deferred = error
            self.flow.pause_reading()
            return
        if cycle and cycle.response_started and not cycle.response_complete:
            # This request's own answer is on the wire, given before its whole body: an
            # error written now would land inside it.
            self.transport.close()
            return
        REJECTIONS.labels(reason=getattr(error, "reason", error.kind)).inc()
        body = orjson.dumps(error.to_json())
        head = [STATUS_LINE[error.status_code]]
        for name, value in self.server_state.default_headers:  # server, date
            head += [name, b": ", value, b"\r\n"]
        if isinstance(error, OverloadedError):
            head.append(b"retry-after: %d\r\n" % error.retry_after)
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Lingering holds the connection's file descriptor for up to LINGER_SECONDS: with
        # a quarter of the cap open already, the connection is closed at once, as before.
        # (600 shed clients stalling after their heads, 100 at a time, against an open-file
        # limit of 256: lingering up to the cap, the process ran out of descriptors, logged
        # 26,000 failed accepts and /health took 1.9 s; up to half, 8,000 and 1.4 s; up to
        # a quarter, 2,000 and 1.1 s, as without lingering.)
        if isinstance(error, OverloadedError) and self.roomy and _has_body(self.headers or []):
            declared = _declared_length(self.headers)
            self._linger(min(declared or self.max_body_bytes, self.max_body_bytes))
        else:
            self.transport.close()

    @property
    def roomy(self) -> bool:
        """Under a quarter of the connection cap open: room to linger."""
        return len(self.connections) < self.max_connections // 4

    def _unread(self) -> int:
        """Bytes of the body being read still to come, at most `max_body_bytes`."""
        if self.body_length is None:
            return self.max_body_bytes
        return max(0, min(self.body_length - self.body_bytes, self.max_body_bytes))

    def shed_unread(self) -> bool:
        """Whether a 503 the app gives now, with the body still arriving, lingers."""
        if not (self.in_body and self.roomy and DRAIN.holds(self._unread(), self.loop.time())):
            return False
        self.linger_after_response = True
        return True

    def _linger(self, length: int) -> None:
        """Close only once the client has sent the body it had begun, at most `length`
        bytes (it closes its side when it has read the 503), or after LINGER_SECONDS: what
        comes meanwhile is thrown away, each read charged to the process's `DRAIN` budget.
        Closed with bytes unread, a connection is reset, and a client still sending may
        lose the 503 already on its way: httpx's async client reported a ReadError for 96
        of 96 such 7 MB requests. A body the budget could not take now is not lingered for:
        the connection is closed at once, as before. (The budget is charged for what is
        read, not for what a head declares: heads declaring 4 MiB and sending nothing, 40
        KB/s of them, kept it empty, and honest uploads were reset again.)"""
        if not DRAIN.holds(length, self.loop.time()):
            self.transport.close()
            return
        self.lingering, self.linger_left = True, length
        self._stop_deadline()
        self._stop_stall()
        self.transport.write_eof()  # after the answer: the client reads it, then the end
        if self.flow.read_paused:  # (a refusal kept to its pace stopped reading)
            self.flow.resume_reading()
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _silent_too_long(self) -> None:
        self.deadline = None
        self.transport.close()  # nothing was asked: nothing to answer

    def _head_too_slow(self) -> None:
        self.deadline = None
        if self.in_head:
            seconds = f"{self.head_timeout:g}"
            self.refuse(HeaderTimeoutError(f"the request headers took over {seconds} s to arrive."))

    def _check_body_rate(self) -> None:
        """A body trickled in (a byte a second) never stops arriving, and held its slot for
        the whole `body_timeout`: past the idle timeout's worth of reading, a body must
        have come at `min_body_rate` on average, and, if its length is declared, at a pace
        that brings all of it within `body_timeout` (two uploads at 4.5 KB/s held both
        admission slots for the whole minute before their 408)."""
        deadline = self.deadline
        if deadline is None or deadline.expire != self._body_too_slow or self.refused:
            return
        elapsed = deadline.elapsed()
        if elapsed <= self.body_idle_timeout:
            return
        rate = self.body_bytes / elapsed
        remaining = (self.body_length or 0) - self.body_bytes
        finish = elapsed + remaining / rate if rate else float("inf")
        late = self.body_length is not None and finish > self.body_timeout
        if rate >= self.min_body_rate and not late:
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (a 413 on the declared length)
            return
        detail = (
            f"the request body arrives at {rate:.0f} bytes/s; send it at "
            f"{self.min_body_rate} bytes/s or more."
        )
        if rate >= self.min_body_rate:
            detail = (
                f"the request body arrives at {rate:.0f} bytes/s, too slow for its "
                f"{self.body_length} bytes to arrive within {self.body_timeout:g} s; send "
                "it faster, or split it."
            )
        self.refuse(BodyTimeoutError(detail))

    def _start_stall(self, seconds: float) -> None:
        self._stop_stall()
        self.stall = Deadline(self.loop, seconds, self._body_stalled)
        if self.flow.read_paused:
            self.stall.hold()

    def _stop_stall(self) -> None:
        if self.stall is not None:
            self.stall.hold()
            self.stall = None

    def _body_stalled(self) -> None:
        self.stall = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (a 413 on the declared length)
            return
        seconds = f"{self.body_idle_timeout:g}"
        self.refuse(
            BodyTimeoutError(f"the request body stopped arriving: nothing came for {seconds} s.")
        )

    def _body_too_slow(self) -> None:
        self.deadline = None
        if self.cycle.response_started:
            # Answered already, before its whole body came (a 413 from the declared length,
            # say): a 408 would be a second answer to the same request.
            self.transport.close()
            return
        seconds = f"{self.body_timeout:g}"
        self.refuse(BodyTimeoutError(f"the request body took over {seconds} s to arrive."))

    def _start_deadline(self, seconds: float, expire: Callable[[], None]) -> None:
        self.deadline = Deadline(self.loop, seconds, expire)
        if self.flow.read_paused:  # parsing what was read before reading stopped
            self.deadline.hold()

    def _stop_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.hold()
            self.deadline = None


class CloseDelimitedCycle(RequestResponseCycle):
    """uvicorn's request-response cycle for an HTTP/1.0 request (whose connection uvicorn
    closes after the answer): an answer with neither Content-Length nor Transfer-Encoding
    goes as it is, its end the connection's close (RFC 1945 §7.2.2), where uvicorn would
    chunk it. uvicorn chunks only while `chunked_encoding` is None, and checks the bytes
    sent against `expected_content_length`: here the length is open until the last piece,
    which then closes it."""

    delimited_by_close = False

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            named = {name.lower() for name, _ in message.get("headers", [])}
            bodyless = self.scope["method"] == "HEAD" or message["status"] in (204, 304)
            if not bodyless and not named & {b"content-length", b"transfer-encoding"}:
                self.delimited_by_close = True
                self.chunked_encoding = False
                self.expected_content_length = sys.maxsize
        elif (
            self.delimited_by_close
            and message["type"] == "http.response.body"
            and not message.get("more_body", False)
        ):
            self.expected_content_length = len(message.get("body", b""))
        await super().send(message)


class ShedCycle(RequestResponseCycle):
    """uvicorn's request-response cycle for an HTTP/1.1 request with a body: where the app
    answers 503 with `Connection: close` before reading the body (every admission slot
    taken and the line full: app.json_in), the connection lingers as the protocol's own
    refusals do (`HttpProtocol._linger`). uvicorn closed it at once, and the kernel reset
    it: 6 of 8 clients sending 5 MiB saw the 503 and then a reset, and httpx's async
    client a ReadError."""

    protocol: HttpProtocol
    status = 0

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif (
            message["type"] == "http.response.body"
            and not message.get("more_body", False)
            and not self.keep_alive
            and self.status == 503
            and self.protocol.shed_unread()
        ):
            self.keep_alive = True  # uvicorn would close now: the protocol lingers instead
        await super().send(message)


class Deadline:
    """A countdown that runs only while the server reads: `hold` stops it, `run` goes on
    with what is left."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, expire: Callable[[], None]
    ) -> None:
        self.loop = loop
        self.seconds = seconds
        self.left = seconds
        self.expire = expire
        self.timer: asyncio.TimerHandle | None = None
        self.since = 0.0
        self.run()

    def run(self) -> None:
        if self.timer is None:
            self.since = self.loop.time()
            self.timer = self.loop.call_later(self.left, self.expire)

    def hold(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.left -= self.loop.time() - self.since

    def elapsed(self) -> float:
        """Seconds counted so far (those while it ran)."""
        running = self.loop.time() - self.since if self.timer is not None else 0.0
        return self.seconds - self.left + running


class WatchedFlow(FlowControl):
    """uvicorn's read/write flow control, telling the protocol when reading stops and
    starts again (its deadlines do not run meanwhile), and when the client stops taking
    what is written (the send deadline runs meanwhile)."""

    def __init__(self, transport: asyncio.Transport, protocol: HttpProtocol) -> None:
        super().__init__(transport)
        self.protocol = protocol

    def pause_reading(self) -> None:
        super().pause_reading()
        self.protocol.reading_paused()

    def resume_reading(self) -> None:
        super().resume_reading()
        self.protocol.reading_resumed()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.protocol.writing_paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.protocol.writing_resumed()


def connection_cap(configured: int) -> int:
    """`max_connections`, within the open-file limit less room for the listening socket,
    the log, the metrics files and NumPy's own."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - 64))


PROBES = (b"/health", b"/ready")
# A connection answered 503 before its body was read stays open this long at most, reading
# the body to throw it away (`HttpProtocol._linger`; nginx's lingering_timeout is 5 s).
LINGER_SECONDS = 5.0


class DrainBudget:
    """Bytes a process may read only to throw them away: `rate` a second, in a bucket of
    `burst`, charged as they are read. Past it a lingering connection is closed (and
    reset) as it was before it lingered: reading every body of a flood of shed 17 MB
    requests took 70% of the event loop's time
    (`test_500_connections_of_million_point_bodies_leave_health_answering`). Reading and
    throwing away cost the process 9-14% more of a core at 274 MiB a second (16 clients
    sending 1 and 8 MiB bodies as fast as they could, an outside attack): 128 MiB a second
    is about 5%, the burst of 256 MiB 0.2 s of a core once (with a burst of 128 MiB, 20
    shed 5 MiB uploads one after another over the loopback saw 5 resets; with 256, none).
    Shed uploads faster than the rate for longer than the burst lasts are reset again."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at: float | None = None

    def holds(self, size: int, now: float) -> bool:
        """Whether `size` bytes could be taken now."""
        self._refill(now)
        return size <= self.tokens

    def take(self, size: int, now: float) -> bool:
        self._refill(now)
        if size > self.tokens:
            return False
        self.tokens -= size
        return True

    def _refill(self, now: float) -> None:
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now


DRAIN = DrainBudget(rate=128 * 2**20, burst=256 * 2**20)
# A head still arriving after this long may be closed to make room at the connection cap:
# a client sends its request line and headers in one write (a few ms on a slow network).
TRICKLE_SECONDS = 1.0


def _is_probe(url: bytes) -> bool:
    """Liveness and readiness are answered however busy the server is."""
    return url.split(b"?", 1)[0] in PROBES


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The request line and headers as sent, to within the spaces around each colon."""
    return len(url) + len(b"POST  HTTP/1.1\r\n\r\n") + sum(len(n) + len(v) + 4 for n, v in headers)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # refused by the parser before this is asked
                return None
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0")
        for name, value in headers
    )
