"""The HTTP edge: streamed JSON is byte-for-byte the JSON of one orjson call."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from app.errors import MalformedBodyError
from app.http import PIECE, json_pieces, parse_json


def one_piece(payload: dict) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"values": np.arange(3 * PIECE + 7, dtype=float)}, id="long-1d"),
        pytest.param({"values": np.arange(PIECE, dtype=float)}, id="exactly-one-piece"),
        pytest.param({"gradient": np.arange(4 * PIECE, dtype=float).reshape(2, -1)}, id="2d-rows"),
        pytest.param(
            {"v": ["x0", "x1"], "axes": [np.arange(5.0)], "shape": [1, 5], "n": 1.5}, id="mixed"
        ),
    ],
)
def test_streamed_pieces_join_to_the_same_json(payload: dict) -> None:
    assert b"".join(json_pieces(payload)) == one_piece(payload)


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
    ],
)
def test_parse_json_refuses_what_json_loads_would_accept(body: bytes, fragment: str) -> None:
    with pytest.raises(MalformedBodyError, match=fragment):
        parse_json(body)


def test_parse_json_accepts_a_valid_surrogate_pair() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
