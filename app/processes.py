"""Compute processes: the work of a request runs in a process of its own, with its own GIL.

Threads of the serving process could not keep `/health` under a second: a compute thread
holds the GIL through every Python step of a 10,000-step /descent and through each long C
call (parsing a 40 MB body, validating 10⁶ points, encoding a megabyte of JSON), and the
event loop gives the GIL up at each of its socket calls and waits for it again behind
them. With 500 clients that was 2-4 s (docs/reliability.md §5). Here the serving process
only moves bytes: it sends a task down a pipe and reads its answer back, and a task that
runs over `compute_timeout` is stopped by killing its process, which is then replaced.

The protocol, over one `multiprocessing` pipe per process:

    child → parent   "ready"                             once, when its imports are done
    parent → child   n, (function, args), n buffers      pickled (protocol 5); the
                                                         buffers (a big body) as they are
    child → parent   ("ok", head, n) then n pieces       pickled; pieces as raw bytes
                     ("ok", head, None) then pieces as they are made, b"", and a trailer:
                                ("done",) or ("bug", traceback text)
                     ("error", NablaError)               a client error, raised in the parent
                     ("bug", traceback text)             logged in the parent; a 500

`function(*args)` returns `(head, pieces)`: a small picklable head and the encoded answer,
a list of bytes or an iterator that makes them (a big answer, encoded a megabyte at a
time). Pieces are sent without being copied into a pickle; those of an iterator are read
by a relay thread as they come, so that the serving process sends the first while the
compute process encodes the next, and the compute process is free once it has written
the last (not once a slow client has read it).

Processes are started with `spawn` (a fork of a process with threads can deadlock), all
when the server starts (`ComputePool.start`, from the app's lifespan), or at first use
where there is no lifespan (an in-process test client). Each one imports the app in about
a second, holds about 80 MiB, and counts its task's time only once it says it is ready.
Between tasks it keeps its working set up to 160 MiB and gives the rest back (app.memory).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from app.errors import NablaError, TooLargeError
from app.memory import keep_working_set, trim_if_over

logger = logging.getLogger("nabla.processes")

Head = TypeVar("Head")
Task = Callable[..., tuple[Head, Iterable[Any]]]
_CONTEXT = multiprocessing.get_context("spawn")


class ComputeFailed(RuntimeError):
    """A compute process died or failed on a bug; the traceback is in the log."""


def _serve(conn: multiprocessing.connection.Connection, started: Any) -> None:
    """A compute process: run each task sent down `conn` and send its outcome back, until
    the parent closes the pipe (the server stops, or the parent died). `started` (an Event)
    is set once its imports are done, for /ready to read without touching the pipe."""
    # Ctrl-C in a terminal signals the whole process group; the parent stops gracefully
    # (finishing what is computing here) and closes the pipe, which ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # No metrics files of its own: the serving process counts what its tasks did (its
    # parse-cache lookups come back with the answer), and /metrics reads the files of the
    # serving processes only.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # What the tasks run, imported before the first one comes.
    import app.lifecycle
    import app.vector_service  # noqa: F401

    keep_working_set()
    started.set()
    conn.send("ready")  # the task's time starts once it can run
    while True:
        trim_if_over()  # after a big task, before waiting for the next
        try:
            count = conn.recv()
            task = conn.recv_bytes()
            buffers = [conn.recv_bytes() for _ in range(count)]
        except (EOFError, OSError):
            return
        try:
            function, args = pickle.loads(task, buffers=buffers)
            del task, buffers
            head, pieces = function(*args)
        except NablaError as exc:
            conn.send(("error", exc))
            continue
        except BaseException:
            conn.send(("bug", traceback.format_exc()))
            continue
        if isinstance(pieces, list):
            conn.send(("ok", head, len(pieces)))
            for piece in pieces:
                conn.send_bytes(piece)
            del head, pieces
            continue
        conn.send(("ok", head, None))
        try:
            for piece in pieces:
                if len(piece):  # an empty one ends the pieces
                    conn.send_bytes(piece)
        except (EOFError, OSError):
            return
        except BaseException:
            conn.send_bytes(b"")
            conn.send(("bug", traceback.format_exc()))
            continue
        finally:
            del head, pieces
        conn.send_bytes(b"")
        conn.send(("done",))


# Socket buffers of the pipe (a Unix socket pair): 40 MB of an answer cross in 22 ms with
# 4 MiB, in 38 ms with the default 208 KiB. The kernel allocates them as they fill.
PIPE_BUFFER = 4 << 20


def _widen(end: multiprocessing.connection.Connection) -> None:
    with socket.socket(fileno=os.dup(end.fileno())) as view:
        view.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER)
        view.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER)


class ComputeProcess:
    """One process and its pipe, started when first needed and again after it is killed."""

    def __init__(self) -> None:
        self.process: Any = None  # multiprocessing's SpawnProcess
        self.conn: multiprocessing.connection.Connection | None = None
        self.ready = False  # has said so, its imports done
        self.started: Any = None  # multiprocessing's Event, set by the process when ready
        self._starting = threading.Lock()  # the server's start and a first task may race

    def start(self) -> None:
        parent, child = _CONTEXT.Pipe()
        for end in (parent, child):
            _widen(end)
        started = _CONTEXT.Event()
        process = _CONTEXT.Process(
            target=_serve, args=(child, started), daemon=True, name="nabla-compute"
        )
        process.start()
        child.close()
        self.process, self.conn, self.started = process, parent, started
        self.ready = False

    @property
    def starting(self) -> bool:
        """Started and still importing the app: a task given now would wait for that."""
        started = self.started
        return started is not None and self.process is not None and not started.is_set()

    def start_once(self) -> None:
        with self._starting:
            if self.conn is None:
                self.start()

    def call(
        self,
        function: Task[Head],
        args: tuple[Any, ...],
        timeout: float,
        done: Callable[[], None],
    ) -> tuple[Head, Iterable[bytes]]:
        """`function(*args)` in the process: its (head, pieces), or its error raised here.
        `done()` once the process is free again (its pieces read, or it was stopped)."""
        try:
            head, count = self._head(function, args, timeout)
        except BaseException:
            done()
            raise
        assert self.conn is not None
        if count is not None:
            try:
                pieces = [self.conn.recv_bytes() for _ in range(count)]
            except (EOFError, OSError):
                self.stop()
                raise ComputeFailed("a compute process died while sending its answer") from None
            finally:
                done()
            return head, pieces
        relayed: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
        relay = threading.Thread(
            target=self._relay,
            args=(self.conn, relayed, done, timeout),
            daemon=True,
            name="relay",
        )
        relay.start()
        return head, _drained(relayed)

    def _relay(
        self,
        conn: multiprocessing.connection.Connection,
        relayed: queue.SimpleQueue[bytes | BaseException | None],
        done: Callable[[], None],
        timeout: float,
    ) -> None:
        """Read the pieces of an answer as they come, then give the process back. A process
        that sends nothing for `timeout` seconds mid-answer is stopped as one past its time
        before its head is: it held its client, its admission slot and itself for as long
        as it stalled (stopped with SIGSTOP, in session 9's outside attack)."""
        try:
            while True:
                if not conn.poll(timeout):
                    self.stop()
                    relayed.put(
                        ComputeFailed(
                            f"a compute process sent nothing of its answer for {timeout:g} s "
                            "(NABLA_COMPUTE_TIMEOUT) and was stopped"
                        )
                    )
                    return
                piece = conn.recv_bytes()
                if not piece:
                    break
                relayed.put(piece)
            trailer = conn.recv()
            if trailer[0] == "bug":
                logger.error("a compute process failed while encoding:\n%s", trailer[1])
                relayed.put(ComputeFailed("a compute process failed (traceback logged)"))
                return
            relayed.put(None)
        except (EOFError, OSError):
            self.stop()
            relayed.put(ComputeFailed("a compute process died while sending its answer"))
        except TypeError:  # multiprocessing's read on a handle `stop()` closed meanwhile
            if not conn.closed:
                raise
            # The server is stopping (`ComputePool.close`) while a client that left is
            # still being relayed its answer: nothing went wrong, and nothing is logged.
            relayed.put(ComputeFailed("the compute processes were stopped mid-answer"))
        finally:
            done()

    def _head(
        self, function: Task[Head], args: tuple[Any, ...], timeout: float
    ) -> tuple[Head, int | None]:
        if self.process is not None and not self.process.is_alive():
            self.stop()  # died while idle (killed from outside): a new one takes the task
        self.start_once()
        assert self.conn is not None
        conn = self.conn
        buffers: list[pickle.PickleBuffer] = []
        task = pickle.dumps((function, args), protocol=5, buffer_callback=buffers.append)
        try:
            if not self.ready:
                self.ready = conn.recv() == "ready"
            conn.send(len(buffers))
            conn.send_bytes(task)
            for buffer in buffers:
                conn.send_bytes(buffer.raw())
            del task, buffers
            if not conn.poll(timeout):
                self.stop()
                raise TooLargeError(
                    f"the request computed for over {timeout:g} s (NABLA_COMPUTE_TIMEOUT) "
                    "and was stopped; ask for fewer points, steps or variables.",
                    reason="time",
                )
            outcome = conn.recv()
            if outcome[0] == "error":
                raise outcome[1]
            if outcome[0] == "bug":
                logger.error("a compute process failed:\n%s", outcome[1])
                raise ComputeFailed("a compute process failed (traceback logged)")
            _, head, count = outcome
            return head, count
        except (EOFError, OSError, BrokenPipeError):
            self.stop()
            raise ComputeFailed(f"a compute process died (exit code {self._exit_code()})") from None

    def _exit_code(self) -> int | None:
        return None if self.process is None else self.process.exitcode

    def stop(self) -> None:
        """Kill the process (a task past its time, or a broken pipe) and forget it."""
        if self.conn is not None:
            self.conn.close()
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
        self.process, self.conn = None, None


def _drained(relayed: queue.SimpleQueue[bytes | BaseException | None]) -> Iterator[bytes]:
    while (piece := relayed.get()) is not None:
        if isinstance(piece, BaseException):
            raise piece
        yield piece


class ComputePool:
    """`size` compute processes of this server process, each running one task at a time.
    The callers (app.lifecycle's scheduler, on its threads) admit at most `size` tasks at
    once; more would wait here for a process."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[ComputeProcess] = queue.SimpleQueue()
        self._all: list[ComputeProcess] = []

    @property
    def size(self) -> int:
        return len(self._all)

    def grow(self, size: int) -> None:
        """At least `size` processes (each started when first used)."""
        while len(self._all) < size:
            process = ComputeProcess()
            self._all.append(process)
            self._idle.put(process)

    def run(self, timeout: float, function: Task[Head], *args: Any) -> tuple[Head, Iterable[bytes]]:
        """Blocking: call from a thread, not from the event loop. The pieces are a list, or
        an iterator that waits for them as they come."""
        process = self._idle.get()
        return process.call(function, args, timeout, lambda: self._idle.put(process))

    @property
    def starting(self) -> bool:
        """Some process is still importing the app (after the server's start, or after it
        replaced one it killed): /ready says so."""
        return any(process.starting for process in self._all)

    def start(self) -> None:
        """Start the processes not started yet, without waiting for them to be ready: each
        imports the app (about a second) while the server starts answering (/health)
        and /ready says `starting`."""
        for process in self._all:
            process.start_once()

    def close(self) -> None:
        for process in self._all:
            process.stop()


def shared_pool(size: int) -> ComputePool:
    """At least `size` compute processes of this server process (tests build many apps in
    one process: they share these rather than start processes each)."""
    with _POOL_LOCK:
        _POOL.grow(size)
    return _POOL


_POOL = ComputePool()
_POOL_LOCK = threading.Lock()
