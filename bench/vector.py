"""The vector-calculus engine (app.numerics.vector, app.numerics.higher) timed and checked:
the numbers of docs/vector-calculus.md.

Times are the engine alone, in process, best of a few runs, each against the engine's own
gradient where that is the alternative (m gradients for a Jacobian, ∇f·u for a directional
derivative). Accuracy: Jacobians of three fields at 20 random points against sympy's
derivatives at 30 digits, with numdifftools and scipy.differentiate on the same points.

    python -m bench.vector
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numdifftools as nd
import numpy as np
import sympy as sp
from scipy import differentiate

from app import numerics
from app.config import Settings
from app.expressions import parse
from app.numerics import vector

X = sp.symbols("x0 x1 x2")
FIELDS = [
    [X[0] ** 2 * X[1], sp.sin(X[0]) * sp.exp(X[1]), X[0] / (1 + X[1] ** 2)],
    [
        sp.exp(X[0] * X[1]) * sp.cos(X[2]),
        sp.log(1 + X[0] ** 2 + X[2] ** 2),
        sp.atan(X[1] / (2 + X[0])),
    ],
    [sp.sqrt(1 + X[0] ** 2) * X[1], sp.tanh(X[0] - X[2]), X[0] * X[1] * X[2]],
]


def best(run: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bound(texts: list[str], names: list[str]) -> list[numerics.Function]:
    limits = Settings().limits
    return [parse(text, limits).bind(names, {}) for text in texts]


def timings() -> list[tuple[str, float, str, float]]:
    """(workload, Nabla's seconds, the alternative, its seconds)."""
    rng = np.random.default_rng(0)
    names = ["x0", "x1", "x2"]
    fs = bound([f"sin(x0*{i + 1})*exp(-x1) + x2**2*x{i % 3}" for i in range(10)], names)
    points = rng.uniform(-1, 1, (100_000, 3))
    one = points[:1]
    big = rng.uniform(-1, 1, (1_000_000, 3))
    u = np.array([1.0, 2.0, 2.0]) / 3
    axes = [np.linspace(-2, 2, 1000)] * 2
    curl = bound(["-x1*exp(-x0**2)", "x0*cos(x1)"], ["x0", "x1"])
    scalar = bound(["sin(x0)*exp(x1)"], ["x0", "x1"])[0]
    return [
        (
            "Jacobian, 10 expressions × 10⁵ points × 3",
            best(lambda: vector.jacobian(fs, points)),
            "10 gradients",
            best(lambda: [numerics.gradient(f, points) for f in fs]),
        ),
        (
            "Jacobian, 10 expressions × 1 point × 3",
            best(lambda: vector.jacobian(fs, one), 50),
            "10 gradients",
            best(lambda: [numerics.gradient(f, one) for f in fs], 50),
        ),
        (
            "directional derivative, 10⁶ points × 3",
            best(lambda: vector.directional_derivative(fs[0], big, u), 3),
            "gradient",
            best(lambda: numerics.gradient(fs[0], big), 3),
        ),
        (
            "2-D curl, 1000 × 1000",
            best(lambda: vector.vector_field(curl, axes, operator="curl"), 3),
            "gradient field of one component",
            best(lambda: numerics.gradient_field(curl[0], axes, with_coordinates=False), 3),
        ),
        (
            "Laplacian, 1000 × 1000",
            best(lambda: vector.vector_field([scalar], axes, operator="laplacian"), 3),
            "gradient field",
            best(lambda: numerics.gradient_field(scalar, axes, with_coordinates=False), 3),
        ),
    ]


def accuracy() -> dict[str, list[float]]:
    """Relative errors (against each row's largest exact partial) of 60 Jacobians."""
    rng = np.random.default_rng(0)
    errors: dict[str, list[float]] = {
        "Nabla": [],
        "Nabla, tolerance rtol 1e-12": [],
        "numdifftools": [],
        "scipy.differentiate": [],
    }
    for field in FIELDS:
        lambdas = [sp.lambdify(X, c, "numpy") for c in field]
        fs = [_rows(g) for g in lambdas]
        points = rng.uniform(-2, 2, (20, 3))
        ours = vector.jacobian(fs, points).jacobian
        tolerance = numerics.Tolerance(rtol=1e-12)
        tight = vector.jacobian(fs, points, tolerance=tolerance).jacobian

        def whole(x: np.ndarray, lambdas: list[Any] = lambdas) -> np.ndarray:
            return np.array([g(*x) for g in lambdas], dtype=float)

        for k, p in enumerate(points):
            at = {s: sp.Float(repr(float(v)), 30) for s, v in zip(X, p, strict=True)}
            want = np.array([[float(sp.diff(c, s).evalf(30, subs=at)) for s in X] for c in field])
            scale = np.max(np.abs(want), axis=1, keepdims=True)
            for name, got in [
                ("Nabla", ours[k]),
                ("Nabla, tolerance rtol 1e-12", tight[k]),
                ("numdifftools", nd.Jacobian(whole)(p)),
                ("scipy.differentiate", differentiate.jacobian(whole, p).df),
            ]:
                errors[name].append(float(np.max(np.abs(got - want) / scale)))
    return errors


def _rows(g: Any) -> numerics.Function:
    return lambda rows: np.asarray(g(*rows)) + 0 * rows[0]


def main() -> None:
    print("| workload | Nabla | alternative | its time |\n|---|---|---|---|")
    for name, ours, other, theirs in timings():
        print(f"| {name} | {ours * 1e3:.3g} ms | {other} | {theirs * 1e3:.3g} ms |")
    print("\n| | median | max |\n|---|---|---|")
    for name, values in accuracy().items():
        print(f"| {name} | {np.median(values):.1e} | {max(values):.1e} |")
    e = math.e
    print("\n| accuracy | order 3 | order 4 | order 5 | order 6 |\n|---|---|---|---|---|")
    for p in (2, 4, 8):
        cells = []
        for m in (3, 4, 5, 6):
            r = numerics.higher_derivative(np.exp, np.array([1.0]), order=m, accuracy=p)
            cells.append(f"{abs(r.derivatives[0] - e) / e:.1e}")
        print(f"| {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
