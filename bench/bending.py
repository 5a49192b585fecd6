"""What the engine's test of its step costs: the 1000×1000 gradient of x0² + x1², A/B.

    python -m bench.bending

Alternates `numerics.gradient_field` with the test (as shipped) and without it
(`numerics.first._checks_step` patched to return False) in one process, 40 rounds each, and
prints the medians. x0² + x1² is the cheapest f there is, so the test's extra evaluation
of f(x + 2h) and its dozen passes per estimate weigh the most here (`step_too_wide`).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from app import numerics
from app.expressions import parse
from app.numerics import first


def main(rounds: int = 40) -> None:
    axes = [np.linspace(-2, 2, 1000)] * 2
    f = parse("x0**2 + x1**2").bind(["x0", "x1"])
    shipped = first._checks_step
    variants = {"with the test": shipped, "without": lambda options: False}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, check in variants.items():
                first._checks_step = check  # type: ignore[assignment]
                start = time.perf_counter()
                numerics.gradient_field(f, axes, with_coordinates=False)
                samples[name].append(time.perf_counter() - start)
    finally:
        first._checks_step = shipped  # type: ignore[assignment]
    for name, times in samples.items():
        print(f"{name:14} {statistics.median(times) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
