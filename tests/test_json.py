"""The HTTP edge: strict JSON in, off the event loop when large; streamed JSON out, byte for
byte what one orjson call writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import orjson
import pytest
from conftest import make_client

from app import json_in
from app.errors import MalformedBodyError
from app.json_in import parse_json
from app.json_out import PIECE, STREAM_FROM, json_pieces, json_response
from app.numerics import GridPoints


def one_piece(payload: dict) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"values": np.arange(3 * PIECE + 7, dtype=float)}, id="long-1d"),
        pytest.param({"values": np.arange(PIECE, dtype=float)}, id="exactly-one-piece"),
        pytest.param({"gradient": np.arange(4 * PIECE, dtype=float).reshape(2, -1)}, id="2d-rows"),
        pytest.param({"gradient": np.arange(6 * PIECE + 3.0).reshape(-1, 3)}, id="short-rows"),
        pytest.param({"h": np.arange(2 * PIECE + 8.0).reshape(-1, 2, 2)}, id="3d-blocks"),
        pytest.param({"h": np.arange(3 * PIECE + 3.0).reshape(3, -1)}, id="rows-over-a-piece"),
        pytest.param({"g": np.zeros((PIECE + 1, 0))}, id="empty-rows"),
        pytest.param(
            {"v": ["x0", "x1"], "axes": [np.arange(5.0)], "shape": [1, 5], "n": 1.5}, id="mixed"
        ),
    ],
)
def test_streamed_pieces_join_to_the_same_json(payload: dict) -> None:
    assert b"".join(json_pieces(payload)) == one_piece(payload)


def test_short_rows_are_encoded_a_block_at_a_time_not_a_row_at_a_time() -> None:
    # Each orjson.dumps left a 4 KiB page resident: 150,000 rows of a gradient took 320 MiB.
    gradients = np.zeros((150_000, 3))
    pieces = list(json_pieces({"gradients": gradients}))
    assert len(pieces) <= 2 + 2 * gradients.size // PIECE + 4


def test_non_finite_values_stream_as_null() -> None:
    values = np.full(2 * PIECE + 1, np.nan)
    values[::3] = np.inf
    decoded = json.loads(b"".join(json_pieces({"values": values})))
    assert decoded["values"] == [None] * values.size


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(b'{"a": 1, "a": 2}', "appears twice", id="duplicate-key"),
        pytest.param(b'{"a": NaN}', "`NaN` is not a JSON number", id="nan"),
        pytest.param(b'{"a": "\\udc00"}', "lone UTF-16 surrogate", id="lone-surrogate"),
        pytest.param(b"\xff", "not valid UTF-8", id="bad-utf8"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep"),
        pytest.param(b'{"b": {"a": 1, "a": 1}}', "key `a` appears twice", id="nested-duplicate"),
        pytest.param(
            b'{"k' + b"k" * 99 + b'": 1, "k' + b"k" * 99 + b'": 2}',
            r"key `k{20}\.\.\.` appears twice",
            id="duplicate-long-key-cut",
        ),
        pytest.param(
            b'{"x":\n  [1, 2,\n   -Infinity]}', "`-Infinity` is not a JSON number", id="minus-inf"
        ),
        pytest.param(b'{"\xc3\xa9": Infinity}', "`Infinity` is not", id="after-utf8-key"),
        pytest.param(b'{"a": "\xc3"}', "not valid UTF-8", id="truncated-utf8"),
        pytest.param(b'{"a": 1,}', "not valid JSON: trailing comma", id="trailing-comma"),
        pytest.param(b'\xef\xbb\xbf{"a": 1}', "not valid JSON", id="byte-order-mark"),
    ],
)
def test_parse_json_refuses_what_json_loads_would_accept(body: bytes, fragment: str) -> None:
    with pytest.raises(MalformedBodyError, match=fragment):
        parse_json(body)


def test_parse_json_accepts_a_valid_surrogate_pair() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_parse_json_reads_what_the_api_sends_as_json_loads_would() -> None:
    body = b'{"expression": "x**2", "points": [1, -0.0, 1e-320, 1e308, 12345678901234567890]}'
    assert parse_json(body) == json.loads(body)
    assert parse_json(b"[" * 150 + b"]" * 150) == json.loads(b"[" * 150 + b"]" * 150)


@pytest.mark.parametrize(
    ("axes", "indexing"),
    [
        pytest.param([np.linspace(-2, 2, 18), np.linspace(-2, 2, 18)], "xy", id="notebook-xy"),
        pytest.param([np.arange(3.0), np.array([10.0, 10.5])], "ij", id="ij"),
        pytest.param([np.array([0.1, -0.0, 1e300]), np.arange(5.0) / 3], "xy", id="odd-floats"),
        pytest.param([np.linspace(0, 1, 7), np.arange(4.0), np.array([2.5, -1.0])], "xy", id="3d"),
        pytest.param([np.linspace(0, 1, 1000), np.linspace(5, 6, 1000)], "xy", id="1000x1000"),
        pytest.param([np.arange(2.0), np.linspace(0, 1, 100_000)], "ij", id="long-runs"),
        pytest.param([np.linspace(0, 1, 50_000), np.arange(2.0)], "ij", id="short-runs"),
        pytest.param([np.arange(7.0)], "xy", id="1d"),
        pytest.param([np.arange(3.0), np.array([4.0])], "ij", id="one-value-axis"),
        pytest.param(
            [np.linspace(0, 1, 9, dtype=np.float32), np.arange(5, dtype=np.float32) / 3],
            "xy",
            id="float32",
        ),
    ],
)
def test_grid_points_encode_to_the_json_of_the_spelled_out_grid(axes: list, indexing: str) -> None:
    points = GridPoints.of(axes, indexing)
    spelled_out = np.array([g.ravel() for g in np.meshgrid(*axes, indexing=indexing)])
    np.testing.assert_array_equal(points.materialize(), spelled_out)
    payload = {"coordinates": points, "values": np.arange(3.0)}
    expected = one_piece({"coordinates": spelled_out, "values": np.arange(3.0)})
    assert b"".join(json_pieces(payload)) == expected


def test_a_small_response_spells_out_grid_points_in_one_piece() -> None:
    axes = [np.arange(3.0), np.linspace(0, 1, 4)]
    points = GridPoints.of(axes)
    assert points.size < STREAM_FROM
    spelled_out = np.array([g.ravel() for g in np.meshgrid(*axes)])
    assert json_response({"coordinates": points}).body == one_piece({"coordinates": spelled_out})


@pytest.mark.parametrize("processes", [True, False])
def test_a_large_body_is_parsed_and_validated_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, processes: bool
) -> None:
    # 18 MB of points take about half a second to parse and validate: /health must not wait.
    # In a compute process the parse is not even in this process (the recorder is not there).
    on_event_loop: list[bool] = []
    parse = json_in.parse_json

    def recording(body: bytes) -> Any:
        on_event_loop.append(_in_running_loop())
        return parse(body)

    monkeypatch.setattr(json_in, "parse_json", recording)
    client = make_client(compute_processes=processes)
    small = {"expression": "x", "points": [1.0]}
    large = {"expression": "x", "points": [0.5] * 20_000}  # over 64 KiB of JSON
    assert client.post("/derivative", json=small).status_code == 200
    answer = client.post("/derivative", json=large)
    assert answer.status_code == 200
    assert answer.json()["derivatives"] == [1.0] * 20_000
    assert on_event_loop == ([True] if processes else [True, False])


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
