"""/derivative of order 3 to 6 (app.numerics.higher): convergence at the stencil's order,
polynomials, the error bound against closed forms and sympy, numdifftools on the same oracle,
where float64 stops giving digits, and the request's 4xx."""

from __future__ import annotations

import math
from typing import Any

import numdifftools as nd
import numpy as np
import pytest
import sympy as sp
from fastapi.testclient import TestClient

from app.numerics import evaluation_count, higher_derivative
from app.numerics.higher import higher_evaluations

T = sp.Symbol("x")
ORDERS = [3, 4, 5, 6]


def nth(expression: sp.Expr, order: int, x: float) -> float:
    """The symbolic n-th derivative at x, to 30 digits."""
    return float(sp.diff(expression, T, order).evalf(30, subs={T: sp.Float(repr(float(x)), 30)}))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("accuracy", [2, 4])
def test_error_falls_at_the_stencils_order(order: int, accuracy: int) -> None:
    x = np.array([0.7])
    steps = np.array([0.2, 0.1, 0.05])
    want = nth(sp.exp(T) * sp.sin(T), order, 0.7)
    f = lambda t: np.exp(t) * np.sin(t)  # noqa: E731
    errors = [
        abs(higher_derivative(f, x, order=order, accuracy=accuracy, step=h).derivatives[0] - want)
        for h in steps
    ]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - accuracy) < 0.35, (slope, errors)


@pytest.mark.parametrize("order", ORDERS)
def test_the_nth_power_has_n_factorial_as_its_nth_derivative(order: int) -> None:
    # A stencil of order m is exact on x^m: what is left is rounding, eps·|f|·Σ|w|/h^m.
    x = np.array([0.5, -1.5, 2.0])
    result = higher_derivative(lambda t: t**order, x, order=order, error_estimate=True)
    assert result.errors is not None
    np.testing.assert_allclose(result.derivatives, math.factorial(order), rtol=1e-4)
    assert np.all(np.abs(result.derivatives - math.factorial(order)) <= result.errors)


CASES = [
    pytest.param(sp.exp(T), np.exp, id="exp"),
    pytest.param(sp.sin(T), np.sin, id="sin"),
    pytest.param(sp.log(T), np.log, id="log"),
    pytest.param(1 / (1 + T**2), lambda t: 1 / (1 + t**2), id="runge"),
]


@pytest.mark.parametrize(("expression", "f"), CASES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("accuracy", [2, 8])
def test_the_error_bound_holds_against_the_symbolic_derivative(
    expression: sp.Expr, f: Any, order: int, accuracy: int
) -> None:
    x = np.array([0.5, 1.0, 2.5, 7.0])
    result = higher_derivative(f, x, order=order, accuracy=accuracy, error_estimate=True)
    want = np.array([nth(expression, order, v) for v in x])
    assert result.errors is not None
    assert np.all(np.abs(result.derivatives - want) <= result.errors)
    # and a point is flagged wherever its bound is over 1e-6 of its value
    np.testing.assert_array_equal(result.unreliable, ~(result.errors <= 1e-6 * np.abs(want)))


@pytest.mark.parametrize("order", ORDERS)
def test_agrees_with_numdifftools_on_the_symbolic_value(order: int) -> None:
    want = nth(sp.exp(T) * sp.cos(T), order, 0.3)
    f = lambda t: np.exp(t) * np.cos(t)  # noqa: E731
    theirs = float(nd.Derivative(f, n=order)(0.3))
    ours = higher_derivative(f, np.array([0.3]), order=order, accuracy=8).derivatives[0]
    assert abs(theirs - want) <= 1e-6 * abs(want)
    assert abs(ours - want) <= 1e-6 * abs(want)


def test_float64_gives_fewer_digits_as_the_order_grows() -> None:
    # The V's floor, eps^(p/(p+m))·Σ|w|, rises with m: measured on exp at 1, accuracy 2.
    x = np.array([1.0])
    errors = [
        abs(higher_derivative(np.exp, x, order=m).derivatives[0] - math.e) / math.e for m in ORDERS
    ]
    assert errors == sorted(errors)
    assert errors[0] < 1e-6 < errors[-1]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("method", ["central", "forward"])
@pytest.mark.parametrize("error_estimate", [False, True])
def test_the_budget_counts_at_least_the_evaluations_made(
    order: int, method: str, error_estimate: bool
) -> None:
    calls: list[int] = []

    def counted(t: Any) -> Any:
        calls.append(1)
        return np.exp(t)

    higher_derivative(
        counted,
        np.array([1.0]),
        order=order,
        method=method,  # type: ignore[arg-type]
        error_estimate=error_estimate,
    )
    plan = higher_evaluations(method, 2, order, error_estimate=error_estimate, automatic_step=True)
    charged = evaluation_count(method, 2, order, 1, error_estimate, automatic_step=True)
    assert len(calls) == plan <= charged


# ---------------------------------------------------------------- the API


def test_derivative_of_order_4_with_its_exact_value(client: TestClient) -> None:
    r = client.post(
        "/derivative",
        json={"expression": "sin(x)", "points": [1, 2], "order": 4, "accuracy": 8, "exact": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    np.testing.assert_allclose(body["exact"], np.sin([1.0, 2.0]), rtol=1e-15)
    np.testing.assert_allclose(body["derivatives"], np.sin([1.0, 2.0]), rtol=1e-8)
    assert body["exact_expression"] == "sin(x)"
    assert body["intercepts"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"order": 7}, "order", id="order-7"),
        pytest.param({"order": 3, "method": "complex"}, "method", id="complex"),
        pytest.param({"order": 5, "tolerance": {"rtol": 1e-9}}, "tolerance", id="tolerance"),
        pytest.param({"order": 6, "step": 1e-60}, "step", id="tiny-step"),
    ],
)
def test_higher_orders_refuse_what_they_cannot_do(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    r = client.post("/derivative", json={"expression": "exp(x)", "points": [1], **fields})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
