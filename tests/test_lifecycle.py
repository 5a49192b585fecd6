"""app.lifecycle: big requests take one of a few slots; memory stays bounded under
concurrency, small requests never wait, and every slot comes back."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import Server, make_client, rss_kib
from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import Response

from app import lifecycle
from app.errors import ClientGoneError, OverloadedError
from app.json_in import HEAVY_BODY_BYTES
from app.lifecycle import Admission, RefusalPace, Scheduler, WaitingLine
from app.schemas import (
    DerivativeRequest,
    DescentRequest,
    GradientFieldRequest,
    GradientRequest,
    HessianRequest,
)

# ---------------------------------------------------------------- the slots themselves


def fake_request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": []})


def test_at_most_slots_requests_hold_one_and_the_others_wait() -> None:
    async def scenario() -> list[int]:
        admission = Admission(2, WaitingLine(64, 60.0))
        requests = [fake_request() for _ in range(5)]
        entered = [asyncio.create_task(admission.enter(r)) for r in requests]
        await asyncio.sleep(0.01)
        held = [admission.held, admission.waiting]
        admission.leave(requests[0])
        await asyncio.sleep(0.01)
        held += [admission.held, admission.waiting]
        for r in requests:
            admission.leave(r)
        await asyncio.gather(*entered)
        for r in requests:
            admission.leave(r)
        return [*held, admission.held]

    assert asyncio.run(scenario()) == [2, 3, 2, 2, 0]


def gauge(state: str) -> float:
    value = REGISTRY.get_sample_value("nabla_heavy_requests", {"state": state})
    assert value is not None
    return value


def test_the_metrics_count_requests_holding_and_waiting_for_slots() -> None:
    async def scenario() -> list[float]:
        admission = Admission(1, WaitingLine(64, 60.0))
        before = [gauge("held"), gauge("waiting")]
        requests = [fake_request() for _ in range(3)]
        entered = [asyncio.create_task(admission.enter(r)) for r in requests]
        await asyncio.sleep(0.01)
        during = [gauge("held") - before[0], gauge("waiting") - before[1]]
        for _ in range(3):
            for r in requests:
                admission.leave(r)
            await asyncio.sleep(0.01)
        await asyncio.gather(*entered)
        return [*during, gauge("held") - before[0], gauge("waiting") - before[1]]

    assert asyncio.run(scenario()) == [1, 2, 0, 0]


def test_a_request_holds_at_most_one_slot() -> None:
    async def scenario() -> int:
        admission = Admission(2, WaitingLine(64, 60.0))
        request = fake_request()
        await admission.enter(request)
        await admission.enter(request)  # the body was big, and so is the computation
        return admission.held

    assert asyncio.run(scenario()) == 1


class Sending(Response):
    """A response whose sending can be watched, or made to fail."""

    def __init__(self, fail: bool) -> None:
        super().__init__(b"{}")
        self.fail = fail
        self.held_while_sending = -1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.held_while_sending = self.admission.held
        if self.fail:
            raise ConnectionResetError("the client went away mid-stream")


@pytest.mark.parametrize("fail", [False, True], ids=["sent", "failed"])
def test_a_slot_is_held_until_the_response_is_sent_and_then_given_back(fail: bool) -> None:
    async def scenario() -> tuple[int, int, bool]:
        admission = Admission(1, WaitingLine(64, 60.0))
        request = fake_request()
        await admission.enter(request)
        inner = Sending(fail)
        inner.admission = admission  # type: ignore[attr-defined]
        wrapped = admission.until_sent(inner, request)

        async def nothing(*_: Any) -> Any:
            return {}

        raised = False
        try:
            await wrapped({"type": "http"}, nothing, nothing)
        except ConnectionResetError:
            raised = True  # and passed on: the error is not swallowed
        return inner.held_while_sending, admission.held, raised

    assert asyncio.run(scenario()) == (1, 0, fail)


# ---------------------------------------------------------------- through the app


def big_body(expression: str) -> bytes:
    points = np.linspace(-1, 1, 6000).tolist()  # about 120 KB: over HEAVY_BODY_BYTES
    body = json.dumps({"expression": expression, "points": points}).encode()
    assert len(body) > HEAVY_BODY_BYTES
    return body


def test_every_slot_comes_back_after_errors_and_after_streamed_answers() -> None:
    client = make_client(max_heavy_requests=1)
    admission: Admission = client.app.state.lifecycle.admission  # type: ignore[attr-defined]
    headers = {"content-type": "application/json"}
    for _ in range(3):  # with one slot, a leak would leave the next request waiting forever
        bad = client.post("/derivative", content=big_body("x +* 1"), headers=headers)
        assert bad.status_code == 422
        assert admission.held == 0
    axis = {"start": -1, "stop": 1, "num": 600}  # 360,000 points: heavy, and streamed
    field = client.post("/gradient-field", json={"expression": "x0*x1", "grid": [axis, axis]})
    assert field.status_code == 200
    assert admission.held == 0
    good = client.post("/derivative", content=big_body("x**2"), headers=headers)
    assert good.status_code == 200
    np.testing.assert_allclose(good.json()["derivatives"], 2 * np.linspace(-1, 1, 6000))
    assert admission.held == 0


@pytest.mark.slow
def test_big_requests_at_once_stay_within_the_memory_of_a_few() -> None:
    # Eight 10⁶-point /derivative requests (13 MB bodies) at once. Without admission the
    # server peaked near 1.2 GiB for twelve; now two compute at a time.
    points = np.linspace(-3, 3, 1_000_000)
    body = json.dumps({"expression": "sin(x)*exp(-x**2/10)", "points": points.tolist()})
    server = Server()
    statuses: list[int] = []
    try:
        before = peak = rss_kib(server.process.pid)

        def post() -> None:
            with httpx.Client(timeout=300) as client:
                response = client.post(
                    f"{server.url}/derivative",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                statuses.append(response.status_code)

        senders = [threading.Thread(target=post) for _ in range(8)]
        for sender in senders:
            sender.start()
        while any(sender.is_alive() for sender in senders):
            peak = max(peak, rss_kib(server.process.pid))
            time.sleep(0.02)
    finally:
        server.stop()
    assert statuses == [200] * 8
    assert peak - before < 400 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"


@pytest.mark.slow
def test_small_requests_never_wait_for_a_slot() -> None:
    server = Server(env={"NABLA_MAX_HEAVY_REQUESTS": "1"})
    axis = {"start": -2, "stop": 2, "num": 1000}
    heavy = {"expression": "sin(x0)*cos(x1)", "grid": [axis, axis]}
    done: dict[str, float] = {}
    try:

        def post(name: str, path: str, request: dict[str, Any]) -> None:
            response = httpx.post(f"{server.url}{path}", json=request, timeout=120)
            assert response.status_code == 200
            done[name] = time.monotonic()

        heavies = [
            threading.Thread(target=post, args=(f"heavy{i}", "/gradient-field", heavy))
            for i in range(2)
        ]
        for thread in heavies:
            thread.start()
        time.sleep(0.3)  # both sent: one computing, one waiting for the only slot
        post("small", "/derivative", {"expression": "x**2", "points": [3.0]})
        for thread in heavies:
            thread.join()
    finally:
        server.stop()
    assert done["small"] < min(done["heavy0"], done["heavy1"])


@pytest.mark.slow
def test_a_big_body_waiting_for_a_slot_is_not_timed_out() -> None:
    # One slot, held for a second or more by a 1000×1000 field; a 13 MB body queued behind
    # it waits longer than the 0.3 s body timeout. Its client is not late: uvicorn stopped
    # reading (it holds 64 KiB), so the body's clock stops too.
    server = Server(env={"NABLA_BODY_TIMEOUT": "0.3", "NABLA_MAX_HEAVY_REQUESTS": "1"})
    axis = {"start": -2, "stop": 2, "num": 1000}
    field = {"expression": "sin(x0)*cos(x1)", "grid": [axis, axis], "error_estimate": True}
    points = np.linspace(-1, 1, 700_000)
    statuses: dict[str, int] = {}
    try:

        def post(name: str, path: str, request: dict[str, Any]) -> None:
            response = httpx.post(f"{server.url}{path}", json=request, timeout=120)
            statuses[name] = response.status_code
            if name == "body" and response.status_code == 200:
                derivatives = response.json()["derivatives"]
                np.testing.assert_allclose(derivatives, 3 * points**2, atol=1e-8)

        first = threading.Thread(target=post, args=("field", "/gradient-field", field))
        first.start()
        time.sleep(0.2)  # the field has the slot
        start = time.monotonic()
        post("body", "/derivative", {"expression": "x**3", "points": points.tolist()})
        waited = time.monotonic() - start
        first.join()
        log = server.log_so_far()
    finally:
        server.stop()
    assert statuses == {"field": 200, "body": 200}
    assert waited > 0.6  # it did wait longer than the body timeout
    assert "body_timeout" not in log


@pytest.mark.slow
def test_a_client_that_leaves_a_stream_gives_its_slot_back() -> None:
    # One slot. A 1000×1000 field (96 MB, streamed) read for a few bytes and dropped: its
    # slot must come back, or the next big request would wait for ever.
    server = Server(env={"NABLA_MAX_HEAVY_REQUESTS": "1"})
    axis = {"start": -2, "stop": 2, "num": 1000}
    field = {"expression": "x0*x1", "grid": [axis, axis]}
    try:
        url = f"{server.url}/gradient-field"
        with httpx.Client(timeout=60) as client, client.stream("POST", url, json=field) as stream:
            assert stream.status_code == 200
            next(stream.iter_bytes())  # the answer has started; leave now
        after = httpx.post(url, json=field, timeout=20)  # a leaked slot: waits, times out
        # The slot is given back once the last byte has been written, which the client may
        # see before the server's task resumes: allow it a moment.
        held = 'nabla_heavy_requests{state="held"} 0.0'
        deadline = time.monotonic() + 2
        while held not in (metrics := httpx.get(f"{server.url}/metrics").text):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        server.stop()
    assert after.status_code == 200
    assert after.json()["shape"] == [1000, 1000]
    assert held in metrics


def field_request() -> tuple[bytes, bytes]:
    """The head and body of a raw POST for a 1000×1000 field (a 96 MB answer)."""
    axis = {"start": -2, "stop": 2, "num": 1000}
    body = json.dumps({"expression": "x0*x1", "grid": [axis, axis]}).encode()
    head = (
        b"POST /gradient-field HTTP/1.1\r\nHost: nabla\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return head, body


@pytest.mark.slow
def test_a_client_that_never_reads_its_answer_is_disconnected_and_gives_its_slot_back() -> None:
    # One slot. Two clients asked for a 1000×1000 field and read nothing: both held their
    # slots (and the answers' memory) for as long as they stayed connected, and a third big
    # request waited 150 s. After NABLA_SEND_TIMEOUT (1 s here) without reading, a client is
    # disconnected.
    server = Server(env={"NABLA_MAX_HEAVY_REQUESTS": "1", "NABLA_SEND_TIMEOUT": "1"})
    head, body = field_request()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.sendall(head + body)  # and never read
            start = time.monotonic()
            after = httpx.post(
                f"{server.url}/gradient-field",
                content=body,
                timeout=60,
                headers={"Content-Type": "application/json"},
            )
            waited = time.monotonic() - start
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    assert after.status_code == 200
    assert after.json()["shape"] == [1000, 1000]
    assert waited < 20  # the stalled answer's encoding plus the send timeout, not for ever
    assert 'nabla_heavy_requests{state="held"} 0.0' in metrics


# ---------------------------------------------------------------- the compute threads


def run_at_once(scheduler: Scheduler, seconds: list[float]) -> list[str]:
    """Start one piece of work per entry at once (each sleeps that long on its thread);
    what each came to: `done` or `shed`."""

    async def one(pause: float) -> str:
        try:
            await scheduler.run(time.sleep, pause)
        except OverloadedError:
            return "shed"
        return "done"

    async def all_of_them() -> list[str]:
        return list(await asyncio.gather(*(one(pause) for pause in seconds)))

    return asyncio.run(all_of_them())


def test_work_beyond_the_threads_and_the_queue_is_shed_at_once() -> None:
    scheduler = Scheduler(1, WaitingLine(2, 60))
    start = time.monotonic()
    outcomes = run_at_once(scheduler, [0.2] * 6)
    assert outcomes == ["done", "done", "done", "shed", "shed", "shed"]
    assert time.monotonic() - start < 1.0  # three ran one after the other; none waited more
    assert scheduler.line.shedding


def test_a_queue_whose_first_request_waited_too_long_sheds_new_ones() -> None:
    scheduler = Scheduler(1, WaitingLine(100, 0.1))

    async def scenario() -> list[str]:
        slow = asyncio.ensure_future(scheduler.run(time.sleep, 0.5))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(scheduler.run(time.sleep, 0))
        await asyncio.sleep(0.2)  # the waiting one has now waited 0.2 s > 0.1 s
        try:
            await scheduler.run(time.sleep, 0)
            late = "done"
        except OverloadedError:
            late = "shed"
        await asyncio.gather(slow, waiting)
        return [late, "after"]

    assert asyncio.run(scenario())[0] == "shed"


def test_a_request_whose_client_left_while_it_waited_is_not_computed() -> None:
    scheduler = Scheduler(1, WaitingLine(8, 60))
    ran: list[str] = []

    async def left() -> bool:
        return True

    async def scenario() -> None:
        slow = asyncio.ensure_future(scheduler.run(time.sleep, 0.2))
        await asyncio.sleep(0.05)
        with pytest.raises(ClientGoneError):
            await scheduler.run(ran.append, "for nobody", gone=left)
        await slow
        await scheduler.run(ran.append, "after", gone=left)  # no wait: nothing to ask

    asyncio.run(scenario())
    assert ran == ["after"]


def test_a_scheduler_says_it_would_shed_before_it_has_refused_anyone() -> None:
    # /ready turns false on it: after a flood, while the line it left is still full, a new
    # request would be refused, though nobody has been for a second.
    scheduler = Scheduler(1, WaitingLine(1, 60))

    async def scenario() -> list[bool]:
        seen = [scheduler.would_shed()]
        slow = asyncio.ensure_future(scheduler.run(time.sleep, 0.2))
        await asyncio.sleep(0.02)
        seen.append(scheduler.would_shed())  # one computing, no one waiting
        waiting = asyncio.ensure_future(scheduler.run(time.sleep, 0))
        await asyncio.sleep(0.02)
        seen.append(scheduler.would_shed())  # and the one place in line taken
        await asyncio.gather(slow, waiting)
        seen.append(scheduler.would_shed())
        return seen

    assert asyncio.run(scenario()) == [False, False, True, False]
    assert not scheduler.line.shedding  # nobody was refused


def test_a_line_holds_more_of_work_it_has_timed_as_quick_than_of_work_not_timed() -> None:
    # Eight of a kind not timed yet fill a line of 64 waiting over 1 s; once a kind is
    # timed at 10 ms, 64 of it wait (0.32 s of work ahead on two threads), and 8 of a
    # kind timed at 0.5 s fill it again.
    def outcomes(kind: str | None, seconds: float, count: int, learn: bool) -> list[str]:
        scheduler = Scheduler(2, WaitingLine(64, 1.0))
        if learn:
            scheduler.seconds[kind] = seconds

        async def scenario() -> list[str]:
            async def one() -> str:
                try:
                    await scheduler.run(time.sleep, seconds, kind=kind)
                except OverloadedError:
                    return "shed"
                return "done"

            return list(await asyncio.gather(*(one() for _ in range(count))))

        return asyncio.run(scenario())

    untimed = outcomes("descent", 0.01, 20, learn=False)
    assert untimed.count("done") == 2 + 8
    assert outcomes("derivative", 0.01, 66, learn=True).count("shed") == 0
    slow = outcomes("hessian", 0.5, 14, learn=True)
    assert slow.count("done") == 2 + 4  # 4 waiting: 1 s of work ahead on two threads


def test_a_scheduler_learns_how_long_each_kind_of_work_takes() -> None:
    scheduler = Scheduler(1, WaitingLine(8, 60))

    async def scenario() -> None:
        for seconds in (0.05, 0.05, 0.15):
            await scheduler.run(time.sleep, seconds, kind="k")

    asyncio.run(scenario())
    # 0.05, then 0.05, then 0.05 + 0.3·(0.15 − 0.05) = 0.08 (a few ms of thread hops more)
    assert scheduler.seconds["k"] == pytest.approx(0.08, abs=0.01)
    assert None not in scheduler.seconds


def test_refusals_past_the_burst_wait_their_turn_at_the_pace() -> None:
    pace = RefusalPace(rate=100, burst=3)
    delays = [pace.delay() for _ in range(6)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:] == pytest.approx([0.01, 0.02, 0.03], abs=0.002)


def test_the_pace_fills_up_again_while_nobody_is_refused() -> None:
    pace = RefusalPace(rate=100, burst=2)
    assert [pace.delay() for _ in range(3)][-1] > 0
    time.sleep(0.05)  # 5 refusals' worth of time: the burst is back
    assert [pace.delay() for _ in range(2)] == [0.0, 0.0]


def test_a_shed_request_past_the_burst_gets_its_refusal_at_the_pace() -> None:
    # One thread, no waiting place: of six at once, one runs and five are shed, the first
    # at once (the burst) and the others 50 ms apart (20 a second).
    scheduler = Scheduler(1, WaitingLine(0, 60, RefusalPace(rate=20, burst=1)))
    start = time.monotonic()
    outcomes = run_at_once(scheduler, [0.0] * 6)
    assert outcomes.count("shed") == 5
    assert time.monotonic() - start >= 4 * 0.05 - 0.01


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        pytest.param(
            "/gradient-field",
            {"expression": "x0*x1", "grid": [{"start": 0, "stop": 1, "num": 10_000}] * 2},
            "grid",
            id="grid",
        ),
        pytest.param(
            "/hessian", {"expression": "sum(x**2)", "point": [0.5] * 1000}, "work", id="work"
        ),
        pytest.param(
            "/gradient-field",
            {
                "expression": "x0*x1",
                "grid": [{"start": 0, "stop": 1, "num": 1000}] * 2,
                "error_estimate": True,
            },
            "memory",
            id="memory",
        ),
        pytest.param(
            "/descent", {"expression": "x0**2", "init": [1.0], "steps": 10**6}, "steps", id="steps"
        ),
    ],
)
def test_a_request_over_its_limits_is_refused_before_it_waits_for_a_thread(
    path: str, body: dict[str, Any], reason: str
) -> None:
    # The only compute thread is busy and nobody may wait: a request refused for its size
    # gets its 413 at once, not the 503 of a full line (nor, with a line, a wait in it).
    client = make_client(compute_threads=1, max_queued=0, memory_budget=128 << 20)
    busy_body = {"expression": "x0**2 + sin(x1)*x0", "init": [3.0, 4.0], "steps": 3000}
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(client.post, "/descent", json=busy_body)
        time.sleep(0.2)
        refused = client.post(path, json=body)
        shed = client.post("/gradient", json={"expression": "x0", "points": [[1.0]] * 5})
        assert busy.result().status_code == 200
    assert refused.status_code == 413, refused.text
    assert refused.json()["reason"] == reason
    assert shed.status_code == 503  # the same moment, a request within its limits


def test_readiness_comes_back_a_second_after_the_last_shed_request() -> None:
    scheduler = Scheduler(1, WaitingLine(0, 60))
    assert not scheduler.line.shedding
    assert run_at_once(scheduler, [0.1, 0.1]) == ["done", "shed"]
    assert scheduler.line.shedding
    time.sleep(1.05)
    assert not scheduler.line.shedding


def test_a_request_that_leaves_the_queue_frees_its_place() -> None:
    scheduler = Scheduler(1, WaitingLine(1, 60))

    async def scenario() -> str:
        busy = asyncio.ensure_future(scheduler.run(time.sleep, 0.3))
        await asyncio.sleep(0.05)
        leaving = asyncio.ensure_future(scheduler.run(time.sleep, 0))
        await asyncio.sleep(0.05)
        leaving.cancel()  # its client went away while it waited
        await asyncio.sleep(0.05)
        waited = asyncio.ensure_future(scheduler.run(time.sleep, 0))  # takes the freed place
        await asyncio.gather(busy, waited)
        return "done"

    assert asyncio.run(scenario()) == "done"
    assert scheduler.line.arrivals == {}


# ---------------------------------------------------------------- what runs where


AXIS_1000 = {"start": 0, "stop": 1, "num": 1000}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        pytest.param(DerivativeRequest, {"expression": "x**2", "points": [1.0]}, id="1-point"),
        pytest.param(
            GradientRequest, {"expression": "x0*x1", "point": [1.0, 2.0]}, id="gradient-point"
        ),
        pytest.param(
            GradientFieldRequest,
            {
                "expression": "x0*x1",
                "grid": [{"start": 0, "stop": 1, "num": 2}, {"start": 0, "stop": 1, "num": 1}],
            },
            id="2x1-field",
        ),
    ],
)
def test_tiny_requests_are_light(model: Any, body: dict[str, Any]) -> None:
    body = model.model_validate(body)
    assert lifecycle.runs_inline(body, body.size())


@pytest.mark.parametrize(
    ("model", "body"),
    [
        pytest.param(
            DerivativeRequest, {"expression": "x", "range": AXIS_1000}, id="1000-point-range"
        ),
        pytest.param(
            DerivativeRequest,
            {"expression": "x**2", "points": [1.0], "exact": True},
            id="exact-is-symbolic-work",
        ),
        pytest.param(
            DerivativeRequest,
            {"expression": "+".join(["sin(x)"] * 40), "points": [1.0]},
            id="long-expression",
        ),
        pytest.param(
            GradientFieldRequest, {"expression": "x0*x1", "grid": [AXIS_1000] * 2}, id="big-field"
        ),
        pytest.param(
            GradientRequest, {"expression": "sum(x**2)", "point": [1.0] * 100}, id="100-coordinates"
        ),
        pytest.param(HessianRequest, {"expression": "x0*x1", "point": [1, 2]}, id="hessian"),
        pytest.param(GradientRequest, {"expression": "x0", "point": [1.0] * 5}, id="5-coordinates"),
        pytest.param(
            DerivativeRequest,
            {"expression": "1/x", "points": [1.0], "error_estimate": True},
            id="error-estimate",
        ),
        pytest.param(
            DerivativeRequest,
            {"expression": "1/x", "points": [1.0], "accuracy": 8},
            id="accuracy-8",
        ),
        pytest.param(DescentRequest, {"expression": "x0**2", "init": [1.0]}, id="descent"),
    ],
)
def test_everything_else_goes_to_the_threadpool(model: Any, body: dict[str, Any]) -> None:
    body = model.model_validate(body)
    assert not lifecycle.runs_inline(body, body.size())


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        pytest.param(DerivativeRequest, {"expression": "x", "points": [1, 2, 3]}, 3, id="points"),
        pytest.param(DerivativeRequest, {"expression": "x", "range": AXIS_1000}, 1000, id="range"),
        pytest.param(
            GradientRequest, {"expression": "x0", "points": [[1, 2, 3], [4, 5, 6]]}, 6, id="grad"
        ),
        pytest.param(HessianRequest, {"expression": "x0", "point": [1, 2]}, 2, id="hessian"),
        pytest.param(
            GradientFieldRequest,
            {"expression": "x0", "grid": [AXIS_1000, AXIS_1000]},
            2_000_000,
            id="1000x1000-grid",
        ),
        pytest.param(
            DescentRequest, {"expression": "x0", "init": [1, 2], "steps": 9}, 20, id="descent"
        ),
    ],
)
def test_size_counts_point_coordinates(model: Any, body: dict[str, Any], expected: int) -> None:
    assert model.model_validate(body).size().coordinates == expected


def test_an_invalid_range_is_refused_before_it_is_scheduled() -> None:
    # Its size cannot be counted: the endpoint's limits say why, before any thread is asked.
    client = make_client(compute_threads=1, max_queued=0)
    r = client.post("/derivative", json={"expression": "x", "range": {"start": 1, "stop": 0}})
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("range")


def test_the_event_loop_computes_at_most_its_share_of_tiny_requests() -> None:
    # Past INLINE_SHARE seconds of each INLINE_WINDOW, tiny requests go to the threads.
    owner = lifecycle.Lifecycle(heavy_slots=1, threads=1, queue=1, max_wait=1)
    assert owner._inline_allowed()
    owner.inline_seconds = lifecycle.INLINE_SHARE
    assert not owner._inline_allowed()
    time.sleep(lifecycle.INLINE_WINDOW * 1.1)
    assert owner._inline_allowed()


def test_requests_beyond_the_slots_and_the_line_are_shed_at_once() -> None:
    # Big requests waiting for an admission slot were never shed: 16 at once of a 1.9 s
    # request waited up to 21 s, and /ready stayed true.
    admission = Admission(1, WaitingLine(1, 60.0))

    async def scenario() -> list[str]:
        requests = [fake_request() for _ in range(3)]
        await admission.enter(requests[0])
        waiting = asyncio.ensure_future(admission.enter(requests[1]))
        await asyncio.sleep(0.01)
        try:
            await admission.enter(requests[2])
            third = "admitted"
        except OverloadedError:
            third = "shed"
        admission.leave(requests[0])
        await waiting
        admission.leave(requests[1])
        return [third]

    assert asyncio.run(scenario()) == ["shed"]
    assert admission.line.shedding


@pytest.mark.slow
def test_a_client_reading_too_slowly_is_disconnected_and_gives_its_slot_back() -> None:
    # A client reading a 1000×1000 field at ~300 KiB/s is never idle for the send timeout,
    # and held its slot for the whole answer. Once writing has waited on it for
    # NABLA_SEND_TIMEOUT (1 s), it must have read at NABLA_MIN_SEND_RATE (1 MiB/s here).
    env = {
        "NABLA_MAX_HEAVY_REQUESTS": "1",
        "NABLA_SEND_TIMEOUT": "1",
        "NABLA_MIN_SEND_RATE": str(1 << 20),
        "NABLA_GZIP_LEVEL": "0",
    }
    server = Server(env=env)
    head, body = field_request()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as slow:
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            slow.sendall(head + body)
            slow.settimeout(30)
            start, taken = time.monotonic(), 0
            while time.monotonic() - start < 30:
                try:
                    chunk = slow.recv(16384)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                taken += len(chunk)
                time.sleep(0.05)
            cut_after = time.monotonic() - start
        after = httpx.post(
            f"{server.url}/gradient-field",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    finally:
        server.stop()
    assert cut_after < 20  # the whole answer at this pace would take about 5 minutes
    assert taken < 90_000_000
    assert after.status_code == 200
    assert after.json()["shape"] == [1000, 1000]
