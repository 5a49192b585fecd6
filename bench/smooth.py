"""Error bars to a tolerance on ordinary smooth functions, outside the accuracy suite.

    .venv/bin/python -m bench.smooth

Ten smooth functions of one variable, 200 random points each in [−4, 4] (seed 5), f' and
f'' with `tolerance` rtol 1e-12 and 1e-8 and `error_estimate`, against sympy's exact
derivatives at 30 digits: how often the true error exceeds `errors` (and by over 10×), and
how many points say `converged` while over the tolerance.
"""

from __future__ import annotations

import numpy as np
import sympy

from app import numerics
from app.expressions import parse

FUNCTIONS = [
    "sqrt(1 + x**2)",
    "1/(1 + x**2)",
    "atan(x)",
    "tanh(x)",
    "exp(-x**2)",
    "log(1 + x**2)",
    "sin(x)/(2 + cos(x))",
    "x/(1 + x**4)",
    "sin(x)",
    "exp(x)",
]
TOLERANCES = (numerics.Tolerance(rtol=1e-12), numerics.Tolerance(rtol=1e-8))


def main() -> None:
    x = sympy.Symbol("x")
    rng = np.random.default_rng(5)
    counts = {order: np.zeros(4, dtype=int) for order in (1, 2)}
    for text in FUNCTIONS:
        f = parse(text.replace("atan", "arctan")).bind(["x"])
        points = rng.uniform(-4, 4, 200)
        for order in (1, 2):
            exact_at = sympy.lambdify(x, sympy.diff(sympy.sympify(text), x, order), "mpmath")
            exact = np.array([float(exact_at(sympy.Float(p, 30))) for p in points])
            for tolerance in TOLERANCES:
                result = numerics.derivative(
                    lambda t: f([t]),  # noqa: B023 (called within this iteration)
                    points,
                    order=order,
                    tolerance=tolerance,
                    error_estimate=True,
                )
                assert result.errors is not None
                assert result.converged is not None
                off = np.abs(result.derivatives - exact)
                over = result.converged & (off > tolerance.rtol * np.abs(exact))
                counts[order] += [
                    points.size,
                    np.sum(off > result.errors),
                    np.sum(off > 10 * result.errors),
                    np.sum(over),
                ]
    for order, (answers, exceeded, tenfold, wrong) in counts.items():
        print(
            f"order {order}: {answers} answers, errors exceeded at {exceeded / answers:.1%}, "
            f"by over 10x at {tenfold / answers:.1%}; converged but over the tolerance: {wrong}"
        )


if __name__ == "__main__":
    main()
