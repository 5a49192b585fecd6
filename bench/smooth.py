"""Error bars to a tolerance on ordinary smooth functions, outside the accuracy suite.

    .venv/bin/python -m bench.smooth

Ten smooth functions of one variable, 200 random points each in [−4, 4] (seed 5), f' and
f'' with `tolerance` rtol 1e-12 and 1e-8 and `error_estimate`; and six of 2 and 3
variables, 100 random points each in [−2, 2]^d (seed 7), their Hessians alike; against
sympy's exact derivatives at 30 digits: how often the true error exceeds `errors` (and by
over 10×), and how many points say `converged` while over the tolerance (a Hessian's: its
worst term, against rtol of its largest, as the engine judges it).
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
HESSIANS = [
    ("sqrt(1 + x0**2 + x1**2)", 2),
    ("atan(x0*x1)", 2),
    ("exp(-x0**2 - x1**2)*cos(x0)", 2),
    ("log(1 + x0**2 + 2*x1**2)", 2),
    ("1/(1 + x0**2 + x1**2 + x2**2)", 3),
    ("sin(x0)*cos(x1) + tanh(x2*x0)", 3),
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
    terms, exceeded, tenfold, wrong, converged, points = hessians()
    print(
        f"Hessians: {terms} terms, errors exceeded at {exceeded / terms:.1%}, by over 10x at "
        f"{tenfold / terms:.1%}; {converged} of {points} points converged, "
        f"{wrong} of them over the tolerance"
    )


def hessians() -> list[int]:
    """The Hessian counts: terms, exceeded, by over 10×, converged off, converged, points."""
    rng = np.random.default_rng(7)
    counts = np.zeros(6, dtype=int)
    for text, d in HESSIANS:
        symbols = sympy.symbols(f"x0:{d}")
        exact_at = sympy.lambdify(symbols, sympy.hessian(sympy.sympify(text), symbols), "mpmath")
        f = parse(text.replace("atan", "arctan")).bind([str(s) for s in symbols])
        points = rng.uniform(-2, 2, (100, d))
        exact = np.array(
            [
                np.array(exact_at(*[sympy.Float(c, 30) for c in point]).tolist(), dtype=float)
                for point in points
            ]
        )
        for tolerance in TOLERANCES:
            result = numerics.hessian(f, points, tolerance=tolerance, error_estimate=True)
            assert result.errors is not None
            assert result.converged is not None
            off = np.abs(result.hessians - exact)
            largest = np.max(np.abs(exact), axis=(1, 2))
            over = result.converged & (np.max(off, axis=(1, 2)) > tolerance.rtol * largest)
            counts += [
                off.size,
                np.sum(off > result.errors),
                np.sum(off > 10 * result.errors),
                np.sum(over),
                np.sum(result.converged),
                points.shape[0],
            ]
    return [int(c) for c in counts]


if __name__ == "__main__":
    main()
