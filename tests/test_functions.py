"""The special and convenience functions (erf, gamma, sinc, clip, ...) against mpmath.

mpmath evaluates and differentiates each function on its own (arbitrary precision, its own
algorithms), so these are independent oracles, not our formulas restated. Every function is
checked for its values, its exact derivative (`exact: true`), the central difference and,
where the function is analytic, the complex step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

from app.expressions import parse
from app.numerics import derivative
from app.symbolic import derivative_expression

mpmath.mp.dps = 40

Array = np.ndarray[Any, Any]


def _lgamma(t: Any) -> Any:
    return mpmath.log(abs(mpmath.gamma(t)))


def _sinc(t: Any) -> Any:
    return mpmath.sincpi(t)


def _heaviside(t: Any) -> Any:
    return mpmath.mpf(0.5) if t == 0 else mpmath.mpf(1 if t > 0 else 0)


# text, the same function in mpmath, points away from poles and kinks, analytic
FUNCTIONS = [
    pytest.param("erf(x)", mpmath.erf, [-3.0, -0.5, 0.0, 0.7, 2.5], True, id="erf"),
    pytest.param("erfc(x)", mpmath.erfc, [-2.0, 0.0, 1.0, 5.0, 20.0], True, id="erfc"),
    pytest.param("gamma(x)", mpmath.gamma, [-2.5, -0.3, 0.25, 1.0, 4.5, 20.0], True, id="gamma"),
    pytest.param("lgamma(x)", _lgamma, [-2.5, -1.5, -0.3, 0.5, 3.0, 100.0], True, id="lgamma"),
    pytest.param("digamma(x)", mpmath.digamma, [-1.5, 0.5, 2.0, 50.0], True, id="digamma"),
    pytest.param(
        "polygamma(1, x)",
        lambda t: mpmath.polygamma(1, t),
        [-1.5, 0.5, 2.0, 50.0],
        False,
        id="polygamma",
    ),
    pytest.param("square(x)", lambda t: t * t, [-3.0, 0.0, 1.5], True, id="square"),
    pytest.param("sinc(x)", _sinc, [-2.5, -0.5, 0.25, 1.5, 7.25], True, id="sinc"),
    pytest.param("heaviside(x)", _heaviside, [-2.0, -0.1, 0.3, 4.0], False, id="heaviside"),
    pytest.param(
        "clip(x, -1, 2)",
        lambda t: min(max(t, -1), 2),
        [-3.0, -0.5, 1.0, 2.5],
        False,
        id="clip",
    ),
    pytest.param(
        "log(x, 2)", lambda t: mpmath.log(t, 2), [0.3, 1.0, 8.0, 1e6], True, id="log-base"
    ),
    pytest.param(
        "log(8, x)", lambda t: mpmath.log(8, t), [0.5, 2.0, 10.0], True, id="log-variable-base"
    ),
]


def _oracle(function: Callable[[Any], Any], points: list[float]) -> tuple[Array, Array]:
    values = [float(function(mpmath.mpf(p))) for p in points]
    slopes = [float(mpmath.diff(function, mpmath.mpf(p))) for p in points]
    return np.array(values), np.array(slopes)


def _f(text: str) -> Callable[[Array], Array]:
    bound = parse(text).bind(["x"])
    return lambda x: bound([x])


@pytest.mark.parametrize(("text", "function", "points", "analytic"), FUNCTIONS)
def test_values_match_mpmath(
    text: str, function: Callable[[Any], Any], points: list[float], analytic: bool
) -> None:
    values, _ = _oracle(function, points)
    np.testing.assert_allclose(_f(text)(np.array(points)), values, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize(("text", "function", "points", "analytic"), FUNCTIONS)
def test_exact_derivative_matches_mpmath(
    text: str, function: Callable[[Any], Any], points: list[float], analytic: bool
) -> None:
    _, slopes = _oracle(function, points)
    exact = derivative_expression(parse(text), "x")
    reparsed = parse(exact.text).bind(["x"])([np.array(points)])
    np.testing.assert_allclose(reparsed, slopes, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize(("text", "function", "points", "analytic"), FUNCTIONS)
def test_central_difference_matches_mpmath(
    text: str, function: Callable[[Any], Any], points: list[float], analytic: bool
) -> None:
    _, slopes = _oracle(function, points)
    result = derivative(_f(text), np.array(points), method="central", accuracy=4)
    np.testing.assert_allclose(result.derivatives, slopes, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("text", "function", "points", "analytic"), FUNCTIONS)
def test_complex_step_matches_mpmath_or_is_refused(
    text: str, function: Callable[[Any], Any], points: list[float], analytic: bool
) -> None:
    expression = parse(text)
    assert expression.analytic is analytic
    if not analytic:
        assert expression.blocker == text.split("(")[0]
        return
    _, slopes = _oracle(function, points)
    result = derivative(_f(text), np.array(points), method="complex")
    np.testing.assert_allclose(result.derivatives, slopes, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize(
    ("text", "second"),
    [
        pytest.param("gamma(x)", lambda t: mpmath.diff(mpmath.gamma, t, 2), id="gamma"),
        pytest.param("erf(x)", lambda t: mpmath.diff(mpmath.erf, t, 2), id="erf"),
        pytest.param("lgamma(x)", lambda t: mpmath.polygamma(1, t), id="lgamma"),
    ],
)
def test_second_exact_derivatives_match_mpmath(text: str, second: Callable[[Any], Any]) -> None:
    points = [-1.5, 0.5, 3.0]
    first = derivative_expression(parse(text), "x")
    twice = derivative_expression(first, "x")
    expected = [float(second(mpmath.mpf(p))) for p in points]
    np.testing.assert_allclose(twice.bind(["x"])([np.array(points)]), expected, rtol=1e-11)


def test_sinc_is_numpys_normalized_sinc_with_slope_zero_at_zero() -> None:
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(_f("sinc(x)")(x), [1.0, 0.0, 0.0], atol=1e-16)
    exact = derivative_expression(parse("sinc(x)"), "x").bind(["x"])([np.array([0.0])])
    assert exact[0] == 0.0


def test_heaviside_takes_its_value_at_zero_as_a_second_argument() -> None:
    x = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_f("heaviside(x)")(x), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(_f("heaviside(x, 1)")(x), [0.0, 1.0, 1.0])


def test_a_million_points_of_a_special_function_take_well_under_a_second() -> None:
    # Vectorized in scipy's C loops: no Python-level loop over points.
    import time

    f = _f("erf(x) + gamma(x) + lgamma(x)")
    x = np.linspace(0.1, 10.0, 1_000_000)
    start = time.perf_counter()
    f(x)
    assert time.perf_counter() - start < 1.0
