"""Jacobians, directional derivatives, divergence, curl and Laplacian (app.numerics.vector,
/jacobian, /directional-derivative, /vector-field).

The oracle is the symbolic derivative (sympy, evaluated with 30 digits); numdifftools and
scipy.differentiate are checked against the same oracle on shared cases, so that an
agreement with them is never the only evidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numdifftools as nd
import numpy as np
import pytest
import sympy as sp
from conftest import make_client
from fastapi.testclient import TestClient
from scipy import differentiate

from app import numerics
from app.numerics import Array, Tolerance
from app.numerics import vector as engine

X0, X1, X2 = sp.symbols("x0 x1 x2")
SYMBOLS = (X0, X1, X2)


def function_of(expression: sp.Expr, d: int) -> Callable[[Sequence[Array]], Array]:
    """The expression as an engine function of d rows (NumPy, float or complex)."""
    f = sp.lambdify(SYMBOLS[:d], expression, "numpy")
    return lambda rows: np.asarray(f(*rows)) + 0 * rows[0]


def exact(expression: sp.Expr, point: Sequence[float]) -> float:
    """The expression at the point, to 30 digits, rounded to a double."""
    at = {s: sp.Float(repr(float(v)), 30) for s, v in zip(SYMBOLS, point, strict=False)}
    return float(expression.evalf(30, subs=at))


def exact_jacobian(expressions: Sequence[sp.Expr], point: Sequence[float]) -> Array:
    d = len(point)
    return np.array([[exact(sp.diff(e, SYMBOLS[j]), point) for j in range(d)] for e in expressions])


FIELD = [X0**2 * X1, sp.sin(X0) * sp.exp(X1), X0 / (1 + X1**2)]
POINTS = np.array([[1.0, 2.0], [-0.7, 0.3], [3.0, -1.5], [1e3, 2e-3]])


# ---------------------------------------------------------------- the engine: Jacobian


def test_jacobian_of_quadratics_is_exact_to_rounding() -> None:
    # Central differences of accuracy 2 are exact on polynomials of degree 2.
    quadratics = [X0**2 + 3 * X0 * X1 - X1**2, 2 * X0 * X1 + 7]
    result = engine.jacobian([function_of(e, 2) for e in quadratics], POINTS)
    want = np.array([exact_jacobian(quadratics, p) for p in POINTS])
    np.testing.assert_allclose(result.jacobian, want, rtol=1e-9, atol=1e-9)


def test_jacobian_matches_the_symbolic_derivative_within_its_error_bound() -> None:
    result = engine.jacobian([function_of(e, 2) for e in FIELD], POINTS, error_estimate=True)
    want = np.array([exact_jacobian(FIELD, p) for p in POINTS])
    assert result.errors is not None
    assert np.all(np.abs(result.jacobian - want) <= result.errors)
    # sin(x0)·exp(x1) at x0 = 1000: h ≈ 6e-3 left 6e-6 of truncation; the check sent the
    # point to the engine's gradient, whose ladder of smaller steps resolves it
    np.testing.assert_allclose(result.jacobian, want, rtol=1e-8, atol=1e-9)
    assert result.unreliable.tolist() == [False, False, False, False]


def test_jacobian_value_does_not_change_with_error_estimate() -> None:
    functions = [function_of(e, 2) for e in FIELD]
    plain = engine.jacobian(functions, POINTS)
    estimated = engine.jacobian(functions, POINTS, error_estimate=True)
    np.testing.assert_array_equal(plain.jacobian, estimated.jacobian)


def test_jacobian_evaluates_the_functions_together_once_per_stencil_point() -> None:
    calls: list[int] = []

    def counted(expression: sp.Expr) -> Callable[[Sequence[Array]], Array]:
        f = function_of(expression, 2)
        return lambda rows: calls.append(1) or f(rows)  # type: ignore[func-returns-value]

    many = np.tile(POINTS[:3], (20, 1))  # past engine.FEW: one call of each f per offset
    engine.jacobian([counted(e) for e in FIELD], many, step=1e-4)
    # 1 + 2·d evaluations of each of the m functions: the plan, not m separate gradients
    assert len(calls) == len(FIELD) * (1 + 2 * 2)
    assert engine.jacobian_evaluations(2, automatic_step=False) == 1 + 2 * 2
    calls.clear()
    engine.jacobian([counted(e) for e in FIELD], many)  # the automatic step and its check
    assert len(calls) == len(FIELD) * engine.jacobian_evaluations(2) == len(FIELD) * (1 + 3 * 2)
    calls.clear()
    engine.jacobian([counted(e) for e in FIELD], POINTS[:3])
    assert len(calls) == len(FIELD)  # a few points: every stencil point in one call of each


def test_jacobian_at_a_few_points_gives_the_same_bits_as_at_many() -> None:
    functions = [function_of(e, 2) for e in FIELD]
    many = np.tile(POINTS, (20, 1))
    np.testing.assert_array_equal(
        engine.jacobian(functions, POINTS).jacobian, engine.jacobian(functions, many).jacobian[:4]
    )


def test_jacobian_with_a_tolerance_meets_it_against_the_symbolic_derivative() -> None:
    result = engine.jacobian(
        [function_of(e, 2) for e in FIELD], POINTS[:3], tolerance=Tolerance(rtol=1e-12)
    )
    want = np.array([exact_jacobian(FIELD, p) for p in POINTS[:3]])
    assert result.converged is not None
    assert result.converged.all()
    scale = np.max(np.abs(want), axis=2, keepdims=True)
    assert np.all(np.abs(result.jacobian - want) <= 1e-11 * scale)


@pytest.mark.parametrize("accuracy", [2, 4])
def test_jacobian_converges_at_its_order(accuracy: int) -> None:
    functions = [function_of(e, 2) for e in FIELD]
    point = np.array([[0.4, 0.9]])
    want = exact_jacobian(FIELD, point[0])
    steps = np.array([0.08, 0.04, 0.02, 0.01])
    errors = [
        np.max(np.abs(engine.jacobian(functions, point, step=h, accuracy=accuracy).jacobian - want))
        for h in steps
    ]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - accuracy) < 0.3, (slope, errors)


def test_jacobian_agrees_with_numdifftools_and_scipy_on_the_symbolic_value() -> None:
    functions = [function_of(e, 2) for e in FIELD]
    ours = engine.jacobian(functions, POINTS[:3]).jacobian

    def vector(x: Array) -> Array:
        return np.array([f(list(x)) for f in functions])

    for i, p in enumerate(POINTS[:3]):
        want = exact_jacobian(FIELD, p)
        theirs_nd = nd.Jacobian(vector)(p).reshape(want.shape)
        theirs_scipy = differentiate.jacobian(vector, p).df
        np.testing.assert_allclose(theirs_nd, want, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(theirs_scipy, want, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(ours[i], want, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(ours[i], theirs_nd, rtol=1e-8, atol=1e-9)


def test_jacobian_flags_a_step_too_wide_for_f_when_it_may_not_re_estimate() -> None:
    # sin at 1e8 with h ≈ 600: every stencil point lands on another period.
    f = function_of(sp.sin(X0) + X1, 2)
    result = engine.jacobian([f], np.array([[1e8, 1.0], [1.0, 1.0]]), refine_limit=0)
    assert result.unreliable.tolist() == [True, False]


@pytest.mark.parametrize(
    ("expression", "point"),
    [
        pytest.param(sp.sin(X0) + X1, [1e8, 1.0], id="step-too-wide"),
        pytest.param(sp.sqrt(X0) * X1, [1e-7, 2.0], id="domain-edge"),
    ],
)
def test_jacobian_re_estimates_what_its_step_misses_as_gradient_does(
    expression: sp.Expr, point: list[float]
) -> None:
    f = function_of(expression, 2)
    points = np.array([point, [1.0, 1.0]])
    result = engine.jacobian([f, f], points)
    np.testing.assert_array_equal(result.jacobian[:, 0], numerics.gradient(f, points).gradient)
    np.testing.assert_allclose(
        result.jacobian[0, 0], exact_jacobian([expression], point)[0], rtol=1e-6
    )


# ---------------------------------------------------------------- directional derivative


@pytest.mark.parametrize(
    ("expression", "direction"),
    [
        pytest.param(X0**2 + X1**2, [3.0, 4.0], id="notebook-bowl"),
        pytest.param(sp.sin(X0) * sp.exp(X1), [1.0, -2.0], id="sin-exp"),
        pytest.param(X0 * X1 * X2, [0.0, 0.0, 5.0], id="one-axis"),
    ],
)
def test_directional_derivative_is_the_gradient_dotted_with_the_unit_direction(
    expression: sp.Expr, direction: list[float]
) -> None:
    d = len(direction)
    points = np.array([[0.5, -1.2, 2.0][:d], [3.0, 4.0, -1.0][:d]])
    u = np.array(direction) / np.linalg.norm(direction)
    result = engine.directional_derivative(
        function_of(expression, d), points, direction, error_estimate=True
    )
    want = np.array([exact_jacobian([expression], p)[0] @ u for p in points])
    np.testing.assert_allclose(result.direction, u, rtol=1e-15)
    assert result.errors is not None
    assert np.all(np.abs(result.derivatives - want) <= result.errors)
    np.testing.assert_allclose(result.derivatives, want, rtol=1e-9, atol=1e-10)


def test_directional_derivative_with_a_tolerance_meets_it() -> None:
    expression = sp.sin(X0) * sp.exp(X1) + X0 * X1**3
    points = np.array([[0.5, -1.2], [3.0, 0.4], [-20.0, 1.5], [-2000.0, 1.5]])
    result = engine.directional_derivative(
        function_of(expression, 2),
        points,
        [1.0, -2.0],
        tolerance=Tolerance(rtol=1e-12),
        error_estimate=True,
    )
    u = np.array([1.0, -2.0]) / np.sqrt(5.0)
    want = np.array([exact_jacobian([expression], p)[0] @ u for p in points])
    assert result.converged is not None
    assert result.errors is not None
    # At x0 = −2000 the bound (rounding inside f at |x| = 2000) stays over 1e-12·|D|: said
    # so. (At −20 it meets it once two levels show how fast the truncation falls.)
    assert result.converged.tolist() == [True, True, True, False]
    assert np.all(np.abs(result.derivatives - want) <= result.errors)
    np.testing.assert_allclose(result.derivatives, want, rtol=1e-11)


@pytest.mark.parametrize(
    ("expression", "point"),
    [
        pytest.param(sp.sin(X0) + X1, [1e8, 1.0], id="step-too-wide"),
        pytest.param(sp.sqrt(X0) * X1, [1e-7, 2.0], id="domain-edge"),
    ],
)
def test_directional_derivative_falls_back_on_the_gradient_where_its_step_misses(
    expression: sp.Expr, point: list[float]
) -> None:
    f = function_of(expression, 2)
    points = np.array([point, [1.0, 1.0]])
    u = np.array([0.6, 0.8])
    result = engine.directional_derivative(f, points, u, error_estimate=True)
    assert result.errors is not None
    by_gradient = numerics.gradient(f, points[:1], error_estimate=True).gradient[0] @ u
    assert result.derivatives[0] == pytest.approx(by_gradient, rel=1e-15)
    want = exact_jacobian([expression], point)[0] @ u
    assert abs(result.derivatives[0] - want) <= result.errors[0]
    assert result.derivatives[0] == pytest.approx(want, rel=1e-6)
    kept = engine.directional_derivative(f, points, u, refine_limit=0)
    assert kept.unreliable[0] or not np.isfinite(kept.derivatives[0])


def test_directional_derivative_unnormalized_is_a_jacobian_vector_product() -> None:
    v = np.array([3.0, 4.0])
    result = engine.directional_derivative(
        function_of(X0**2 + X1**2, 2), np.array([[3.0, 4.0]]), v, normalize=False
    )
    np.testing.assert_allclose(result.derivatives, [2 * 3 * 3 + 2 * 4 * 4], rtol=1e-10)


def test_directional_derivative_costs_one_stencil_not_one_per_coordinate() -> None:
    calls: list[int] = []
    f = function_of(sp.exp(X0 + X1 + X2), 3)
    engine.directional_derivative(
        lambda rows: calls.append(1) or f(rows),  # type: ignore[func-returns-value]
        np.array([[0.1, 0.2, 0.3]]),
        [1.0, 1.0, 1.0],
        step=1e-5,
    )
    assert len(calls) == 3  # f(x), f(x ± h·u): not 1 + 2·3


def test_directional_derivative_agrees_with_numdifftools_on_the_symbolic_value() -> None:
    expression = sp.sin(X0) * sp.exp(X1)
    f = function_of(expression, 2)
    p, v = np.array([0.3, -0.4]), np.array([2.0, 1.0])
    want = exact_jacobian([expression], p)[0] @ (v / np.linalg.norm(v))
    theirs = nd.directionaldiff(lambda x: f(list(x)), p, v / np.linalg.norm(v))
    ours = engine.directional_derivative(f, p[None, :], v).derivatives[0]
    np.testing.assert_allclose(theirs, want, rtol=1e-10)
    np.testing.assert_allclose(ours, want, rtol=1e-9)


def test_directional_derivative_at_large_coordinates_keeps_its_digits() -> None:
    # The step scales with the point: at 1e8 a step of 6e-6 would vanish in rounding.
    expression = X0**2 * X1
    p = np.array([[1e8, 2.0]])
    result = engine.directional_derivative(function_of(expression, 2), p, [0.6, 0.8])
    want = exact_jacobian([expression], p[0])[0] @ np.array([0.6, 0.8])
    np.testing.assert_allclose(result.derivatives, [want], rtol=1e-9)


# ---------------------------------------------------------------- fields


AXES = [np.linspace(-1.0, 1.0, 9), np.linspace(-0.5, 1.5, 7)]


def on_grid(expression: sp.Expr, axes: Sequence[Array], indexing: str = "xy") -> Array:
    grids = np.meshgrid(*axes, indexing=indexing)  # type: ignore[call-overload]
    return np.array(
        [exact(expression, [g.ravel()[k] for g in grids]) for k in range(grids[0].size)]
    )


def test_divergence_matches_the_symbolic_divergence() -> None:
    field = [sp.sin(X0) * X1, sp.exp(X0 * X1)]
    result = engine.vector_field(
        [function_of(e, 2) for e in field], AXES, operator="divergence", error_estimate=True
    )
    want = on_grid(sp.diff(field[0], X0) + sp.diff(field[1], X1), AXES)
    assert result.errors is not None
    assert np.all(np.abs(result.result - want) <= result.errors)
    np.testing.assert_allclose(result.result, want, rtol=1e-8, atol=1e-9)


def test_curl_2d_of_a_rotation_is_twice_its_rate_exactly() -> None:
    result = engine.vector_field([function_of(-X1, 2), function_of(X0, 2)], AXES, operator="curl")
    np.testing.assert_allclose(result.result, 2.0, rtol=1e-9)
    assert result.shape == (7, 9)  # xy: as numpy.meshgrid lays it


def test_curl_3d_matches_the_symbolic_curl_in_ij_order() -> None:
    field = [X1 * X2**2, sp.sin(X0) * X2, X0 * sp.exp(X1)]
    axes = [np.linspace(-1, 1, 4), np.linspace(0, 1, 3), np.linspace(0.5, 1, 2)]
    result = engine.vector_field(
        [function_of(e, 3) for e in field], axes, operator="curl", indexing="ij"
    )
    curl = [
        sp.diff(field[2], X1) - sp.diff(field[1], X2),
        sp.diff(field[0], X2) - sp.diff(field[2], X0),
        sp.diff(field[1], X0) - sp.diff(field[0], X1),
    ]
    want = np.array([on_grid(c, axes, "ij") for c in curl])
    np.testing.assert_allclose(result.result, want, rtol=1e-8, atol=1e-9)


def test_laplacian_of_a_harmonic_function_is_zero_within_its_bound() -> None:
    result = engine.vector_field(
        [function_of(sp.exp(X0) * sp.cos(X1), 2)], AXES, operator="laplacian", error_estimate=True
    )
    assert result.errors is not None
    assert np.all(np.abs(result.result) <= result.errors)
    assert np.max(np.abs(result.result)) < 1e-5


def test_laplacian_of_a_quadratic_is_exact_to_rounding() -> None:
    result = engine.vector_field(
        [function_of(3 * X0**2 - X0 * X1 + 2 * X1**2, 2)], AXES, operator="laplacian"
    )
    np.testing.assert_allclose(result.result, 10.0, rtol=1e-6)


def test_divergence_of_a_curl_is_zero_within_the_error_estimate() -> None:
    a = [X1 * X2**2, sp.sin(X0) * X2, X0 * sp.exp(X1)]
    curl = [
        sp.diff(a[2], X1) - sp.diff(a[1], X2),
        sp.diff(a[0], X2) - sp.diff(a[2], X0),
        sp.diff(a[1], X0) - sp.diff(a[0], X1),
    ]
    axes = [np.linspace(-1, 1, 5), np.linspace(-1, 1, 4), np.linspace(0, 2, 3)]
    result = engine.vector_field(
        [function_of(c, 3) for c in curl], axes, operator="divergence", error_estimate=True
    )
    assert result.errors is not None
    assert np.all(np.abs(result.result) <= result.errors)


def test_curl_of_a_gradient_is_zero_within_the_error_estimate() -> None:
    f = sp.sin(X0 * X1) + X0**3 * sp.exp(X1)
    result = engine.vector_field(
        [function_of(sp.diff(f, X0), 2), function_of(sp.diff(f, X1), 2)],
        AXES,
        operator="curl",
        error_estimate=True,
    )
    assert result.errors is not None
    assert np.all(np.abs(result.result) <= result.errors)
    assert np.max(np.abs(result.result)) < 1e-7


def test_divergence_and_curl_agree_with_numdifftools_and_scipy_jacobians() -> None:
    # div F is the trace of F's Jacobian, the 3-D curl its antisymmetric part: the peers'
    # Jacobians at the grid's points, checked against sympy's, give the same numbers.
    field = [X1 * X2**2, sp.sin(X0) * X2, X0 * sp.exp(X1)]
    axes = [np.linspace(-1, 1, 3), np.linspace(0, 1, 2), np.linspace(0.5, 1, 2)]
    functions = [function_of(e, 3) for e in field]
    divergence = engine.vector_field(functions, axes, operator="divergence", indexing="ij")
    curl = engine.vector_field(functions, axes, operator="curl", indexing="ij")
    grids = np.meshgrid(*axes, indexing="ij")
    points = np.stack([g.ravel() for g in grids], axis=1)

    def vector(x: Array) -> Array:
        return np.array([f(list(x)) for f in functions], dtype=float)

    for k, p in enumerate(points):
        want = exact_jacobian(field, p)
        for peer in (nd.Jacobian(vector)(p), differentiate.jacobian(vector, p).df):
            np.testing.assert_allclose(peer, want, rtol=1e-8, atol=1e-9)
            rotation = [peer[2, 1] - peer[1, 2], peer[0, 2] - peer[2, 0], peer[1, 0] - peer[0, 1]]
            assert divergence.result[k] == pytest.approx(np.trace(peer), rel=1e-8, abs=1e-9)
            np.testing.assert_allclose(curl.result[:, k], rotation, rtol=1e-8, atol=1e-9)


def test_field_evaluations_count_each_component_where_it_enters() -> None:
    # 3-D curl: each component enters two partials, central 2 with a given step: 1 + 2·2.
    assert engine.field_evaluations("curl", 3, automatic_step=False) == [5, 5, 5]
    assert engine.field_evaluations("divergence", 2, automatic_step=False) == [3, 3]
    assert engine.field_evaluations("laplacian", 3, automatic_step=False) == [7]


# ---------------------------------------------------------------- the API


def post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_complex_step_jacobian_flags_a_row_whose_imaginary_part_underflows(
    client: TestClient,
) -> None:
    # d/dx0 exp(x0) at −700: Im f(x + ih) is subnormal, the slope 2.2e-3 off; at 1 it is not.
    body = post(
        client,
        "/jacobian",
        {"expressions": ["exp(x0)", "x0**2"], "points": [[-700.0], [1.0]], "method": "complex"},
    )
    assert body["unreliable"] == [0]
    assert body["jacobians"][1] == [[math.e], [2.0]]


def test_a_complex_step_jacobian_flags_a_point_whose_every_slope_underflowed(
    client: TestClient,
) -> None:
    # ∂(exp(x0)·x1) at (−720, 2): both partials are 4e-313 and 2e-313, Im f is below the
    # smallest subnormal, and both came out 0, unflagged (a row of zeros was never judged).
    body = post(
        client,
        "/jacobian",
        {"expressions": ["exp(x0)*x1"], "points": [[-720.0, 2.0]], "method": "complex"},
    )
    assert body["unreliable"] == [0]


def test_jacobian_answers_the_whole_body_at_one_point(client: TestClient) -> None:
    body = post(
        client,
        "/jacobian",
        {"expressions": ["x0**2*x1", "5*x0 + x1"], "point": [1, 2], "step": 1e-3},
    )
    assert set(body) == {"variables", "values", "jacobian"}
    assert body["variables"] == ["x0", "x1"]
    assert body["values"] == [2.0, 7.0]
    np.testing.assert_allclose(body["jacobian"], [[4.0, 1.0], [5.0, 1.0]], rtol=1e-9)


def test_jacobian_of_many_points_with_errors_and_a_tolerance(client: TestClient) -> None:
    body = post(
        client,
        "/jacobian",
        {
            "expressions": ["sin(x0)*exp(x1)", "x0/(1 + x1**2)"],
            "points": [[1, 2], [-0.7, 0.3]],
            "error_estimate": True,
            "tolerance": {"rtol": 1e-12},
        },
    )
    want = np.array([exact_jacobian(FIELD[1:], p) for p in ([1, 2], [-0.7, 0.3])])
    got = np.array(body["jacobians"])
    assert got.shape == (2, 2, 2)
    assert np.all(np.abs(got - want) <= np.array(body["errors"]))
    assert body["converged"] == [True, True]
    assert all(e > 0 for e in body["evaluations"])


def test_jacobian_parameters_may_appear_in_some_expressions_only(client: TestClient) -> None:
    body = post(
        client,
        "/jacobian",
        {"expressions": ["a*x*y", "x + y"], "point": [2, 3], "parameters": {"a": 2}},
    )
    assert body["variables"] == ["x", "y"]
    np.testing.assert_allclose(body["jacobian"], [[6.0, 4.0], [1.0, 1.0]], rtol=1e-9)


def test_a_vector_variable_gives_the_jacobian_of_its_names(client: TestClient) -> None:
    vector = post(
        client, "/jacobian", {"expressions": ["sum(x**2)", "x[0]*x[2]"], "point": [1, 2, 3]}
    )
    named = post(
        client, "/jacobian", {"expressions": ["x0**2 + x1**2 + x2**2", "x0*x2"], "point": [1, 2, 3]}
    )
    assert vector["variables"] == ["x[0]", "x[1]", "x[2]"]
    np.testing.assert_allclose(vector["jacobian"], [[2, 4, 6], [3, 0, 1]], rtol=1e-9)
    np.testing.assert_allclose(vector["jacobian"], named["jacobian"], rtol=1e-12)


def test_the_laplacian_of_a_vector_expression_on_a_3d_grid(client: TestClient) -> None:
    body = post(
        client,
        "/vector-field",
        {
            "expressions": ["sum(x**2)"],
            "operator": "laplacian",
            "grid": [{"start": -1, "stop": 1, "num": 3}] * 3,
            "include": ["shape", "result"],
        },
    )
    assert body["shape"] == [3, 3, 3]
    np.testing.assert_allclose(body["result"], [6.0] * 27, rtol=1e-6)


def test_directional_derivative_answers_the_notebook_bowl(client: TestClient) -> None:
    body = post(
        client,
        "/directional-derivative",
        {"expression": "x0**2 + x1**2", "point": [3, 4], "direction": [3, 4]},
    )
    assert body["direction"] == [0.6, 0.8]
    assert body["value"] == 25.0
    assert body["derivative"] == pytest.approx(10.0, rel=1e-10)
    assert "unreliable" not in body


def test_vector_field_answers_a_plotting_ready_curl(client: TestClient) -> None:
    body = post(
        client,
        "/vector-field",
        {
            "expressions": ["-x1", "x0"],
            "operator": "curl",
            "grid": [{"start": -1, "stop": 1, "num": 3}, {"start": 0, "stop": 1, "num": 2}],
        },
    )
    assert set(body) == {
        "variables",
        "operator",
        "axes",
        "shape",
        "coordinates",
        "components",
        "result",
    }
    assert body["shape"] == [2, 3]
    assert body["coordinates"] == [[-1, 0, 1, -1, 0, 1], [0, 0, 0, 1, 1, 1]]
    assert body["components"] == [[0, 0, 0, -1, -1, -1], [-1, 0, 1, -1, 0, 1]]
    np.testing.assert_allclose(body["result"], [2.0] * 6, rtol=1e-9)


def test_vector_field_in_float32_with_only_what_a_heatmap_needs(client: TestClient) -> None:
    body = post(
        client,
        "/vector-field",
        {
            "expressions": ["x0**2 + x1**2"],
            "operator": "laplacian",
            "grid": [{"start": -1, "stop": 1, "num": 3}] * 2,
            "include": ["shape", "result"],
            "precision": "float32",
        },
    )
    assert set(body) == {"variables", "operator", "shape", "result"}
    np.testing.assert_allclose(body["result"], [4.0] * 9, rtol=1e-5)


BAD = [
    pytest.param(
        "/jacobian",
        {"expressions": ["x0", "x1"], "points": [[1, 2], [1]]},
        "points",
        id="ragged-points",
    ),
    pytest.param(
        "/jacobian", {"expressions": ["x0", "x[0]"], "point": [1]}, "expressions[1]", id="vector"
    ),
    pytest.param(
        "/jacobian",
        {"expressions": ["sum(x**2)"], "point": [1, 2], "exact": True},
        "expressions[0]",
        id="exact-of-a-vector",
    ),
    pytest.param(
        "/jacobian",
        {"expressions": ["x0", "2x1"], "point": [1, 2]},
        "expressions[1]",
        id="bad-expression",
    ),
    pytest.param(
        "/jacobian",
        {"expressions": ["x0"], "point": [1], "parameters": {"b": 1}},
        "parameters",
        id="unused-parameter",
    ),
    pytest.param("/jacobian", {"expressions": [], "point": [1]}, "expressions", id="none"),
    pytest.param(
        "/jacobian",
        {"expressions": ["x0", "x1"], "point": [1, 2], "method": "complex", "accuracy": 4},
        "accuracy",
        id="complex-accuracy",
    ),
    pytest.param(
        "/jacobian",
        {"expressions": ["abs(x0)"], "point": [1], "method": "complex"},
        "method",
        id="complex-abs",
    ),
    pytest.param(
        "/directional-derivative",
        {"expression": "x0 + x1", "point": [1, 2], "direction": [0, 0]},
        "direction",
        id="zero-direction",
    ),
    pytest.param(
        "/directional-derivative",
        {"expression": "x0 + x1", "point": [1, 2], "direction": [1, 0, 0]},
        "direction",
        id="direction-length",
    ),
    pytest.param(
        "/directional-derivative",
        {"expression": "x0 + x1", "point": [1, 2]},
        "direction",
        id="no-direction",
    ),
    pytest.param(
        "/vector-field",
        {"expressions": ["x0"], "operator": "curl", "grid": [{"start": 0, "stop": 1, "num": 2}]},
        "operator",
        id="curl-1d",
    ),
    pytest.param(
        "/vector-field",
        {
            "expressions": ["x0", "x1"],
            "operator": "laplacian",
            "grid": [{"start": 0, "stop": 1, "num": 2}] * 2,
        },
        "expressions",
        id="laplacian-of-two",
    ),
    pytest.param(
        "/vector-field",
        {
            "expressions": ["x0**2 + x1"],
            "operator": "laplacian",
            "method": "complex",
            "grid": [{"start": 0, "stop": 1, "num": 2}] * 2,
        },
        "method",
        id="complex-laplacian",
    ),
    pytest.param(
        "/vector-field",
        {"expressions": ["x0"], "operator": "grad", "grid": [{"start": 0, "stop": 1, "num": 2}]},
        "operator",
        id="unknown-operator",
    ),
    pytest.param(
        "/vector-field",
        {
            "expressions": ["x0"],
            "operator": "divergence",
            "grid": [{"start": 0, "stop": 1, "step": 0}],
        },
        "grid[0].step",
        id="zero-step-axis",
    ),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD)
def test_bad_requests_get_a_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["field"] == field, error
    assert error["detail"].endswith("."), error


LIMITED = {"max_points": 10, "max_dimensions": 4, "max_grid_points": 100, "max_work": 3 * 10**5}
OVER = [
    pytest.param(
        "/jacobian", {"expressions": ["x0"] * 33, "point": [1]}, "expressions", id="expressions"
    ),
    pytest.param("/jacobian", {"expressions": ["x0"], "points": [[1]] * 11}, "points", id="points"),
    pytest.param(
        "/jacobian", {"expressions": ["x0"], "point": [1, 2, 3, 4, 5]}, "dimensions", id="dims"
    ),
    pytest.param(
        "/jacobian",
        {"expressions": ["x0"] * 30, "points": [[1, 2, 3, 4]] * 10, "error_estimate": True},
        "work",
        id="work",
    ),
    pytest.param(
        "/directional-derivative",
        {"expression": "x0", "points": [[1]] * 11, "direction": [1]},
        "points",
        id="directional-points",
    ),
    pytest.param(
        "/directional-derivative",
        {
            "expression": "x0 + x1 + x2 + x3",
            "points": [[1, 2, 3, 4]] * 10,
            "direction": [1, 1, 1, 1],
            "tolerance": {"rtol": 1e-12},
        },
        "work",
        id="directional-work",
    ),
    pytest.param(
        "/vector-field",
        {
            "expressions": ["x0", "x1"],
            "operator": "curl",
            "grid": [{"start": 0, "stop": 1, "num": 11}] * 2,
        },
        "grid",
        id="grid",
    ),
    pytest.param(
        "/vector-field",
        {
            "expressions": ["x0", "x1"],
            "operator": "divergence",
            "grid": [{"start": 0, "stop": 1, "num": 10}] * 2,
            "accuracy": 8,
            "error_estimate": True,
        },
        "work",
        id="field-work",
    ),
]


@pytest.mark.parametrize(("path", "body", "reason"), OVER)
def test_requests_over_the_limits_get_a_413_with_its_reason(
    path: str, body: dict[str, Any], reason: str
) -> None:
    with make_client(**LIMITED) as limited:
        r = limited.post(path, json=body)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == reason
    assert r.json()["detail"].endswith("."), r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/jacobian",
            {"expressions": ["x0*x1"] * 32, "points": [[1.0, 2.0]] * 300_000},
            id="jacobian",
        ),
        pytest.param(
            "/vector-field",
            {
                "expressions": ["x0", "x1", "x2"],
                "operator": "curl",
                "error_estimate": True,
                "grid": [{"start": 0, "stop": 1, "num": 100}] * 3,
            },
            id="vector-field",
        ),
    ],
)
def test_requests_over_the_memory_budget_get_a_413(path: str, body: dict[str, Any]) -> None:
    with make_client(memory_budget=128 << 20, max_work=10**13) as limited:
        r = limited.post(path, json=body)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "memory"


# ---------------------------------------------------------------- exact: true


def test_jacobian_exact_is_the_symbolic_jacobian(client: TestClient) -> None:
    body = post(
        client,
        "/jacobian",
        {
            "expressions": ["a*x0**2*x1", "5*x0 + sin(x1)"],
            "points": [[1, 2], [-0.7, 0.3]],
            "parameters": {"a": 2},
            "exact": True,
        },
    )
    field = [2 * X0**2 * X1, 5 * X0 + sp.sin(X1)]
    want = np.array([exact_jacobian(field, p) for p in ([1, 2], [-0.7, 0.3])])
    np.testing.assert_allclose(body["exact"], want, rtol=1e-15)
    np.testing.assert_allclose(
        body["errors_vs_exact"], np.abs(np.array(body["jacobians"]) - want), atol=1e-15
    )
    assert np.max(body["errors_vs_exact"]) < 1e-9


def test_directional_derivative_exact_is_the_symbolic_gradient_along_u(
    client: TestClient,
) -> None:
    body = post(
        client,
        "/directional-derivative",
        {"expression": "x0**2 + sin(x1)", "point": [3, 4], "direction": [3, 4], "exact": True},
    )
    want = 0.6 * 6 + 0.8 * np.cos(4.0)
    assert body["exact"] == pytest.approx(want, rel=1e-15)
    assert body["errors_vs_exact"] == pytest.approx(abs(body["derivative"] - want), rel=1e-6)


@pytest.mark.parametrize(
    ("operator", "expressions", "result"),
    [
        pytest.param("curl", [-X1 * X0, X0**2], 2 * X0 + X0, id="curl"),
        pytest.param(
            "divergence", [sp.sin(X0) * X1, X1**3], sp.cos(X0) * X1 + 3 * X1**2, id="divergence"
        ),
        pytest.param(
            "laplacian",
            [sp.sin(X0) * X1**3],
            -sp.sin(X0) * X1**3 + 6 * sp.sin(X0) * X1,
            id="laplacian",
        ),
    ],
)
def test_vector_field_exact_is_the_symbolic_operator(
    client: TestClient, operator: str, expressions: list[sp.Expr], result: sp.Expr
) -> None:
    axes = [{"start": -1, "stop": 1, "num": 4}, {"start": 0, "stop": 2, "num": 3}]
    body = post(
        client,
        "/vector-field",
        {
            "expressions": [str(e) for e in expressions],
            "operator": operator,
            "grid": axes,
            "exact": True,
            "include": ["result"],
        },
    )
    want = on_grid(result, [np.linspace(-1, 1, 4), np.linspace(0, 2, 3)])
    np.testing.assert_allclose(body["exact"], want, rtol=1e-14, atol=1e-15)
    assert np.max(body["errors_vs_exact"]) < 1e-6


def test_exact_of_too_many_terms_is_refused_with_its_reason(client: TestClient) -> None:
    names = " + ".join(f"x{j}" for j in range(10))
    r = client.post(
        "/jacobian", json={"expressions": [names] * 30, "point": [1] * 10, "exact": True}
    )
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "exact"


# ---------------------------------------------------------------- docs/vector-calculus.md

DOC = Path(__file__).resolve().parent.parent / "docs" / "vector-calculus.md"


def doc_examples() -> list[Any]:
    """(path, request, response) of every `curl` in the document that shows its output."""
    examples = []
    for block in DOC.read_text().split("curl -s localhost:8000")[1:]:
        path = block.split(" ", 1)[0]
        data = block.split("-d '", 1)[1].split("'", 1)[0]
        lines = block.split("```", 1)[0].splitlines()
        shown = [line[1:].strip() for line in lines if line.startswith("#")]
        examples.append(pytest.param(path, json.loads(data), json.loads("".join(shown)), id=path))
    return examples


@pytest.mark.parametrize(("path", "request_body", "response"), doc_examples())
def test_the_documents_examples_show_what_the_service_answers(
    client: TestClient, path: str, request_body: dict[str, Any], response: dict[str, Any]
) -> None:
    r = client.post(path, json=request_body)
    assert r.status_code == 200, r.text
    assert r.json() == response


# ---------------------------------------------------------------- options at their extremes

EXTREME_STEPS = [None, 5e-324, 1e-200, 1e-160, 1.1e-154, 1e-8, 1.0, 1e300, 1.7976931348623157e308]
EXTREME_X = [0.0, 1.0, -2.5, 5e-324, 1e-300, 1e300, -1.7976931348623157e308]


def numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    return [float(value)] if isinstance(value, int | float) and not isinstance(value, bool) else []


def refuse_constant(name: str) -> float:
    raise AssertionError(f"{name} is not JSON")


def assert_sound(r: Any) -> None:
    """No 5xx; JSON without NaN or Infinity; a 200 holds finite numbers (non-finite ones are
    null); a 4xx is a 413 or 422 with a detail."""
    assert r.status_code < 500, r.text
    body = json.loads(r.text, parse_constant=refuse_constant)
    if r.status_code == 200:
        assert all(math.isfinite(n) for n in numbers(body)), r.text
    else:
        assert r.status_code in (413, 422), r.text
        assert body["detail"], body


@pytest.mark.parametrize("step", EXTREME_STEPS, ids=str)
@pytest.mark.parametrize("method", ["central", "forward", "backward", "complex"])
@pytest.mark.parametrize("accuracy", [1, 2, 8])
@pytest.mark.parametrize("error_estimate", [False, True])
def test_new_endpoints_never_answer_5xx_at_extreme_options(
    client: TestClient, step: float | None, method: str, accuracy: int, error_estimate: bool
) -> None:
    options: dict[str, Any] = {"method": method, "accuracy": accuracy}
    options |= {"error_estimate": error_estimate} | ({} if step is None else {"step": step})
    points = [[x, -x] for x in EXTREME_X] + [[1.0, 2.0]] * 40  # a few, and past FEW
    grid = [{"start": -1e300, "stop": 1e300, "num": 3}, {"start": 0, "stop": 1, "num": 2}]
    requests = [
        ("/jacobian", {"expressions": ["sin(x0)*x1", "exp(x0) + x1**3"], "points": points}),
        ("/jacobian", {"expressions": ["x0*x1"], "point": [1e300, 5e-324], "exact": True}),
        (
            "/directional-derivative",
            {"expression": "sin(x0)*x1", "points": points, "direction": [1.0, -1e-300]},
        ),
        ("/vector-field", {"expressions": ["-x1", "x0**2"], "operator": "curl", "grid": grid}),
        ("/vector-field", {"expressions": ["x0**2*x1"], "operator": "laplacian", "grid": grid}),
        ("/derivative", {"expression": "exp(x)", "points": EXTREME_X, "order": 5}),
    ]
    for path, body in requests:
        assert_sound(client.post(path, json=body | options))
