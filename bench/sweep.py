"""Accuracy over many magnitudes: f'(x) at 4,000 points, |x| log-uniform in [1e-9, 1e9].

    python -m bench.sweep

For each function, the default method (central, accuracy 2, automatic step) against the
exact derivative from app/symbolic.py, in units of the scale the central difference can
resolve at its automatic step: |f'(x)| + eps^(2/3)·|f(x)| / max(|x|, 1) (the second term is
its rounding floor, eps·|f|/h). Prints the median and 99th percentile of that relative
error, and the fraction of points above 1e-6 — the points where a user would get a
visibly wrong number.
"""

from __future__ import annotations

import numpy as np

from app import numerics
from app.expressions import parse
from app.symbolic import derivative_expression

FUNCTIONS = [
    "1/x",
    "log(abs(x))",
    "sqrt(abs(x))",
    "cbrt(x)",
    "x**-3",
    "x*log(abs(x))",
    "sin(x)",
    "cos(x)",
    "tanh(x)",
    "arctan(x)",
    "1/(1 + x**2)",
    "x**3 - 2*x",
    "sin(1/x)",
]
EPS = float(np.finfo(np.float64).eps)


def main(points: int = 4000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    x = 10 ** rng.uniform(-9, 9, points) * rng.choice([-1.0, 1.0], points)
    print(f"{'f':14} {'median':>8} {'p99':>8} {'> 1e-6':>7}")
    for text in FUNCTIONS:
        expression = parse(text)
        f = expression.bind(["x"])
        exact = derivative_expression(expression, "x").bind(["x"])
        result = numerics.derivative(lambda t: f([t]), x)  # noqa: B023 - called right here
        with np.errstate(all="ignore"):
            truth, values = exact([x]), f([x])
            scale = np.abs(truth) + EPS ** (2 / 3) * np.abs(values) / np.maximum(np.abs(x), 1)
            error = np.abs(result.derivatives - truth) / scale
        error = error[np.isfinite(truth) & np.isfinite(values)]
        median, p99 = np.median(error), np.quantile(error, 0.99)
        print(f"{text:14} {median:8.1e} {p99:8.1e} {np.mean(error > 1e-6):7.1%}")


if __name__ == "__main__":
    main()
