"""A big gradient field as NumPy arrays, the fast way and the JSON way, from a running API.

    pip install -e '.[examples]'               # httpx with zstd, matplotlib
    make run                                   # in another terminal
    python examples/fast_arrays.py [--url http://host:port] [--num 1000]

- `.npz`: `Accept: application/x-npz` returns the answer's arrays in NumPy's own format,
  named as the JSON fields, read with `numpy.load` (non-finite numbers are NaN there).
- JSON: httpx compresses with zstd when `zstandard` is installed (`httpx[zstd]`, as the
  `examples` extra does); `orjson.loads`, where installed, parses several times faster
  than `json.loads`.

Prints how long each took and checks that both give the same arrays.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from typing import Any

import httpx
import numpy as np

NPZ = "application/x-npz"


def field_request(num: int) -> dict[str, Any]:
    axis = {"start": -2, "stop": 2, "num": num}
    return {"expression": "x0**2 + x1**2", "grid": [axis, axis]}


def as_npz(client: httpx.Client, body: dict[str, Any]) -> dict[str, np.ndarray]:
    response = client.post("/gradient-field", json=body, headers={"Accept": NPZ})
    response.raise_for_status()
    with np.load(io.BytesIO(response.content)) as arrays:
        return {name: arrays[name] for name in arrays.files}  # np.load reads on access


def as_json(client: httpx.Client, body: dict[str, Any]) -> dict[str, np.ndarray]:
    response = client.post("/gradient-field", json=body)  # zstd, with httpx[zstd]
    response.raise_for_status()
    try:
        import orjson

        document = orjson.loads(response.content)
    except ImportError:
        document = json.loads(response.content)
    arrays = {k: np.asarray(document[k], dtype=float) for k in ("values", "gradient")}
    return arrays | {"coordinates": np.asarray(document["coordinates"], dtype=float)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--num", type=int, default=1000, help="points per grid axis")
    args = parser.parse_args()
    body = field_request(args.num)
    with httpx.Client(base_url=args.url, timeout=120) as client:
        start = time.perf_counter()
        fast = as_npz(client, body)
        middle = time.perf_counter()
        slow = as_json(client, body)
        end = time.perf_counter()
    for name, array in slow.items():
        np.testing.assert_array_equal(fast[name], array)
    print(f".npz:  {middle - start:.3f} s for {fast['gradient'].shape} gradient")
    print(f"JSON:  {end - middle:.3f} s, the same arrays")


if __name__ == "__main__":
    main()
