"""Accuracy over many magnitudes: f'(x) at 4,000 points, |x| log-uniform in [1e-9, 1e9].

    python -m bench.sweep

For each function, the default method (central, accuracy 2, automatic step) against the
exact derivative from app/symbolic.py, in units of the scale the central difference can
resolve at its automatic step: |f'(x)| + eps^(2/3)·|f(x)| / max(|x|, 1) (the second term is
its rounding floor, eps·|f|/h). Prints the median and 99th percentile of that relative
error, and the fraction of points above 1e-6 — the points where a user would get a
visibly wrong number.

A second table takes points next to inflection points, where f'' = 0 and a test of the
step that looks only at how much f bends within it sees nothing: sin at kπ and cos at
(k + 1/2)π, sin(1000x) at kπ/1000, k log-uniform up to 3e8 and a random sign.
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
    print()
    inflections(rng, points)


def inflections(rng: np.random.Generator, points: int) -> None:
    """Relative error of f'(x) next to inflection points, where |f'| is largest."""
    k = np.round(10 ** rng.uniform(0, np.log10(3e8), points)) * rng.choice([-1.0, 1.0], points)
    sin, cos = parse("sin(x)").bind(["x"]), parse("cos(x)").bind(["x"])
    fast = parse("sin(1000*x)").bind(["x"])
    cases = [
        ("sin(x), x = kπ", lambda t: sin([t]), k * np.pi, np.cos(k * np.pi)),
        ("cos(x), x = (k+½)π", lambda t: cos([t]), (k + 0.5) * np.pi, -np.sin((k + 0.5) * np.pi)),
        (
            "sin(1000x), x = kπ/1000",
            lambda t: fast([t]),
            k * np.pi / 1000,
            1000 * np.cos(k * np.pi),
        ),
    ]
    print(f"{'next to an inflection point':28} {'median':>8} {'p99':>8} {'max':>8} {'> 1e-6':>7}")
    for title, f, x, truth in cases:
        result = numerics.derivative(f, x)
        error = np.abs(result.derivatives - truth) / np.abs(truth)
        print(
            f"{title:28} {np.median(error):8.1e} {np.quantile(error, 0.99):8.1e} "
            f"{error.max():8.1e} {np.mean(error > 1e-6):7.1%}"
        )


if __name__ == "__main__":
    main()
