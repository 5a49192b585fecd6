"""The uvicorn internals that app/protocol.py relies on, checked against the installed uvicorn.

protocol.py subclasses uvicorn's httptools protocol: it overrides hooks that uvicorn calls,
replaces the protocol's flow control, and reads the protocol's state, none of it public API.
pyproject.toml admits only the uvicorn minor version these tests have passed on. A failure
names the internal that changed: re-check protocol.py against that uvicorn before widening
the pin. The tests drive uvicorn's own protocol (not Nabla's) over a fake transport.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

import app.protocol
from app.errors import NablaError

UVICORN = importlib.metadata.version("uvicorn")
ROOT = Path(__file__).resolve().parent.parent
# The hooks protocol.py overrides (and calls with super()), with their parameters.
HOOKS = {
    "__init__": ["config", "server_state", "app_state", "_loop"],
    "connection_made": ["transport"],
    "data_received": ["data"],
    "on_headers_complete": [],
    "on_body": ["body"],
    "on_message_complete": [],
    "on_response_complete": [],
    "connection_lost": ["exc"],
    "_unsupported_upgrade_warning": [],
    "send_400_response": ["msg"],
}
# Statuses protocol.py answers itself, with uvicorn's status lines: those named in the issue
# and those of every error class it imports.
STATUSES = {400, 408, 413, 431} | {
    error.status_code
    for error in vars(app.protocol).values()
    if isinstance(error, type) and issubclass(error, NablaError)
}


def changed(what: str) -> str:
    return (
        f"uvicorn {UVICORN}: {what}. app/protocol.py relies on it: re-check protocol.py "
        "against this uvicorn before admitting it in pyproject.toml."
    )


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}
        return addresses.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def echo(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Recording(HttpToolsProtocol):
    """uvicorn's protocol, noting which of the hooks protocol.py overrides uvicorn calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[str] = []
        super().__init__(*args, **kwargs)

    def on_headers_complete(self) -> None:
        self.calls.append("on_headers_complete")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.calls.append("on_body")
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.calls.append("on_message_complete")
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.calls.append("on_response_complete")
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        self.calls.append("send_400_response")
        super().send_400_response(msg)

    def _unsupported_upgrade_warning(self) -> None:
        self.calls.append("_unsupported_upgrade_warning")
        super()._unsupported_upgrade_warning()


class Wire:
    """A Recording protocol on a fake connection, set up as protocol.py sets up its own: its
    flow control replaced once connected, no WebSocket protocol."""

    def __init__(
        self, app: Callable[..., Any] = echo, protocol: type[Recording] = Recording
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.app_state: dict[str, Any] = {"settings": "the app's"}
        config = Config(app=app, lifespan="off", log_config=None, proxy_headers=False)
        self.protocol = protocol(
            config=config, server_state=ServerState(), app_state=self.app_state, _loop=self.loop
        )
        self.protocol.ws_protocol_class = None
        self.transport = FakeTransport()
        self.protocol.connection_made(self.transport)
        self.flow = FlowControl(self.transport)
        self.protocol.flow = self.flow

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)
        self.loop.run_until_complete(asyncio.sleep(0.01))  # the app's task runs

    def close(self) -> None:
        self.protocol.connection_lost(None)

        async def finish() -> None:  # the app's task, if a test left it waiting
            others = asyncio.all_tasks() - {asyncio.current_task()}
            await asyncio.gather(*others, return_exceptions=True)

        self.loop.run_until_complete(finish())
        self.loop.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    wire = Wire()
    yield wire
    wire.close()


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_status_line_protocol_py_answers_with_exists(status: int) -> None:
    line = STATUS_LINE.get(status)
    assert isinstance(line, bytes), changed(f"`httptools_impl.STATUS_LINE` has no {status}")
    assert line.startswith(b"HTTP/1.1 %d " % status), changed(
        f"`STATUS_LINE[{status}]` is {line!r}"
    )
    assert line.endswith(b"\r\n"), changed(f"`STATUS_LINE[{status}]` is {line!r}")


@pytest.mark.parametrize(("name", "parameters"), HOOKS.items(), ids=list(HOOKS))
def test_hook_protocol_py_overrides_takes_the_same_parameters(
    name: str, parameters: list[str]
) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert inspect.isfunction(method), changed(f"`HttpToolsProtocol.{name}` is not a method")
    found = list(inspect.signature(method).parameters)[1:]
    assert found == parameters, changed(f"`HttpToolsProtocol.{name}` takes {found}")


def test_a_request_goes_through_the_hooks_protocol_py_overrides(wire: Wire) -> None:
    wire.send(b"POST /path?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
    expected = ["on_headers_complete", "on_body", "on_message_complete", "on_response_complete"]
    assert wire.protocol.calls == expected, changed(f"a request calls {wire.protocol.calls}")
    assert wire.transport.written.endswith(b"\r\n\r\n{}"), changed("the echo app was not served")
    assert wire.protocol.cycle.response_complete is True, changed("`cycle.response_complete`")


def state_after_headers(wire: Wire) -> HttpToolsProtocol:
    wire.send(b"POST /path?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
    return wire.protocol


# What protocol.py reads of the protocol's state, as it is once a request's headers are in.
STATE: dict[str, tuple[str, Callable[[Wire, HttpToolsProtocol], bool]]] = {
    "app_state": ("the dict the server gave", lambda w, p: p.app_state is w.app_state),
    "connections": ("a set holding the protocol", lambda w, p: p in p.connections),
    "timeout_keep_alive": ("a number of seconds", lambda w, p: p.timeout_keep_alive == 5),
    "url": ("the request target in bytes", lambda w, p: p.url == b"/path?x=1"),
    "headers": ("(name, value) pairs", lambda w, p: (b"content-length", b"2") in p.headers),
    "parser": ("a parser with should_upgrade()", lambda w, p: p.parser.should_upgrade() is False),
    "pipeline": ("a deque of queued requests", lambda w, p: p.pipeline == deque()),
    "cycle": (
        "a cycle with response_started and response_complete",
        lambda w, p: (p.cycle.response_started, p.cycle.response_complete) == (False, False),
    ),
    "flow": ("what the cycle writes through", lambda w, p: p.cycle.flow is w.flow),
    "transport": ("the connection's transport", lambda w, p: p.transport is w.transport),
    "loop": ("the event loop", lambda w, p: p.loop is w.loop),
    "server_state": (
        "a state with default_headers",
        lambda w, p: isinstance(p.server_state.default_headers, list),
    ),
}


@pytest.mark.parametrize("name", list(STATE))
def test_protocol_state_protocol_py_reads_is_what_it_expects(wire: Wire, name: str) -> None:
    description, holds = STATE[name]
    protocol = state_after_headers(wire)
    try:
        ok = holds(wire, protocol)
    except (AttributeError, TypeError) as error:
        pytest.fail(changed(f"`HttpToolsProtocol.{name}` is not {description}: {error}"))
    assert ok, changed(f"`HttpToolsProtocol.{name}` is not {description}")


async def streamed(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    """An answer of unknown length, in three pieces (as a streamed one is sent)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for piece in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class CloseDelimiting(Recording):
    """uvicorn's protocol whose HTTP/1.0 cycles are protocol.py's `CloseDelimitedCycle`,
    swapped in as protocol.py swaps them: after uvicorn's `on_headers_complete`."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.scope["http_version"] == "1.0":
            self.cycle.__class__ = app.protocol.CloseDelimitedCycle


def test_an_http_1_0_answer_of_unknown_length_goes_to_the_close_of_the_connection() -> None:
    # protocol.py's cycle relies on uvicorn chunking only while `chunked_encoding` is None,
    # checking the body's bytes against `expected_content_length`, closing the connection
    # of an HTTP/1.0 request, and looking `send` up on the cycle once its task runs.
    wire = Wire(streamed, CloseDelimiting)
    try:
        wire.send(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        head, _, body = bytes(wire.transport.written).partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head.lower(), changed(f"it sent {head!r}")
        assert body == b"one two three", changed(f"the body came as {body!r}")
        assert wire.transport.closing, changed("an HTTP/1.0 connection was not closed")
        assert wire.protocol.cycle.response_complete, changed("the answer did not complete")
    finally:
        wire.close()


def test_an_unparseable_request_goes_to_send_400_response(wire: Wire) -> None:
    wire.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n")
    assert wire.protocol.calls == ["send_400_response"], changed(f"calls {wire.protocol.calls}")


def test_an_upgrade_without_a_websocket_protocol_goes_to_the_upgrade_warning(
    wire: Wire,
) -> None:
    # protocol.py sets ws_protocol_class to None: the request is then served as plain HTTP,
    # and uvicorn calls _unsupported_upgrade_warning, where protocol.py refuses one with a body.
    wire.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert "_unsupported_upgrade_warning" in wire.protocol.calls, changed(
        f"an upgrade request calls {wire.protocol.calls}"
    )
    assert wire.transport.written.startswith(b"HTTP/1.1 200 "), changed("it was not served")


def test_flow_control_has_what_protocol_py_watches() -> None:
    transport = FakeTransport()
    flow = FlowControl(transport)
    assert flow.read_paused is False, changed("`FlowControl.read_paused` is not False at first")
    flow.pause_reading()
    assert (flow.read_paused, transport.reading) == (True, False), changed("`pause_reading`")
    flow.resume_reading()
    assert (flow.read_paused, transport.reading) == (False, True), changed("`resume_reading`")
    for name in ("pause_writing", "resume_writing"):
        assert inspect.isfunction(getattr(FlowControl, name, None)), changed(f"`{name}`")


def test_write_pressure_reaches_the_protocols_flow(wire: Wire) -> None:
    # The transport tells the protocol; uvicorn passes it to self.flow, which protocol.py
    # replaces to start its send deadline.
    wire.protocol.pause_writing()
    assert wire.flow.write_paused is True, changed("`pause_writing` does not reach `self.flow`")
    wire.protocol.resume_writing()
    assert wire.flow.write_paused is False, changed("`resume_writing` does not reach `self.flow`")


def test_uvicorn_is_pinned_to_the_minor_version_tested_here() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (uvicorn,) = [
        Requirement(line) for line in project["dependencies"] if line.startswith("uvicorn")
    ]
    tested = Version(UVICORN)
    major, minor = tested.major, tested.minor
    assert tested in uvicorn.specifier
    untested = [Version(f"{major}.{minor + 1}"), Version(f"{major}.{max(minor - 1, 0)}.9999")]
    admitted = [str(version) for version in untested if version in uvicorn.specifier]
    assert admitted == [], f"`{uvicorn}` admits minor versions of uvicorn not tested here"
