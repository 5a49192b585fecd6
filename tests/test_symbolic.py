"""Exact derivatives of the expression tree, and the text they print as."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.errors import RequestError
from app.expressions import FUNCTIONS, parse
from app.symbolic import derivative_expression, to_text

Array = np.ndarray[Any, Any]
LN2, LN10 = math.log(2.0), math.log(10.0)
EULER = 0.5772156649015329  # the Euler-Mascheroni constant
ZETA3 = 1.2020569031595942  # Apéry's constant ζ(3)


def _d(text: str, name: str = "x") -> Any:
    return derivative_expression(parse(text), name)


def _at(text: str, points: list[float], name: str = "x") -> Array:
    """d(text)/d(name) evaluated at `points` (every other variable is absent)."""
    return np.asarray(_d(text, name).bind([name])([np.asarray(points, dtype=np.float64)]))


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def case(text: str, closed_form: Callable[[Array], Array], points: list[float], *, id: str) -> Any:
    return pytest.param(text, closed_form, points, id=id)


# Each closed form is written out by hand from a table of derivatives, not from the code's rules.
# Piecewise functions are sampled away from their kinks and jumps.
CASES = [
    case("sin(x)", np.cos, [-2.0, 0.0, 0.5, 3.0], id="sin"),
    case("cos(x)", lambda x: -np.sin(x), [-2.0, 0.0, 0.5, 3.0], id="cos"),
    case("tan(x)", lambda x: 1 + np.tan(x) ** 2, [-1.2, 0.0, 0.3, 1.0], id="tan"),
    case("arcsin(x)", lambda x: (1 - x * x) ** -0.5, [-0.9, 0.0, 0.5], id="arcsin"),
    case("arccos(x)", lambda x: -((1 - x * x) ** -0.5), [-0.9, 0.0, 0.5], id="arccos"),
    case("arctan(x)", lambda x: 1 / (1 + x * x), [-3.0, 0.0, 0.5, 10.0], id="arctan"),
    case("arctan2(x, 2)", lambda x: 2 / (x * x + 4), [-3.0, 0.0, 1.0], id="arctan2-first"),
    case("arctan2(3, x)", lambda x: -3 / (9 + x * x), [-2.0, 0.5, 4.0], id="arctan2-second"),
    case("sinh(x)", lambda x: (np.exp(x) + np.exp(-x)) / 2, [-2.0, 0.0, 1.5], id="sinh"),
    case("cosh(x)", lambda x: (np.exp(x) - np.exp(-x)) / 2, [-2.0, 0.0, 1.5], id="cosh"),
    case("tanh(x)", lambda x: 1 / np.cosh(x) ** 2, [-2.0, 0.0, 1.5], id="tanh"),
    case("arcsinh(x)", lambda x: 1 / np.sqrt(1 + x * x), [-2.0, 0.0, 3.0], id="arcsinh"),
    case("arccosh(x)", lambda x: 1 / np.sqrt(x * x - 1), [1.5, 2.0, 10.0], id="arccosh"),
    case("arctanh(x)", lambda x: 1 / (1 - x * x), [-0.9, 0.0, 0.5], id="arctanh"),
    case("exp(x)", np.exp, [-2.0, 0.0, 1.0, 5.0], id="exp"),
    case("expm1(x)", np.exp, [-2.0, 0.0, 1e-8, 5.0], id="expm1"),
    case("exp2(x)", lambda x: 2.0**x * LN2, [-2.0, 0.0, 3.0], id="exp2"),
    case("log(x)", lambda x: 1 / x, [0.25, 1.0, 7.0], id="log"),
    case("log1p(x)", lambda x: 1 / (1 + x), [-0.5, 0.0, 3.0], id="log1p"),
    case("log2(x)", lambda x: 1 / (x * LN2), [0.25, 1.0, 8.0], id="log2"),
    case("log10(x)", lambda x: 1 / (x * LN10), [0.25, 1.0, 100.0], id="log10"),
    case("sqrt(x)", lambda x: 0.5 * x**-0.5, [0.25, 1.0, 9.0], id="sqrt"),
    case("cbrt(x)", lambda x: np.abs(x) ** (-2 / 3) / 3, [-8.0, -0.5, 1.0, 27.0], id="cbrt"),
    case("abs(x)", lambda x: x / np.abs(x), [-2.0, -0.5, 0.5, 3.0], id="abs"),
    case("sign(x)", np.zeros_like, [-2.0, 0.5, 3.0], id="sign"),
    case("floor(x)", np.zeros_like, [-1.5, 0.3, 2.7], id="floor"),
    case("ceil(x)", np.zeros_like, [-1.5, 0.3, 2.7], id="ceil"),
    case("pow(x, 3)", lambda x: 3 * x * x, [-2.0, 0.0, 1.5], id="pow-base"),
    case("pow(3, x)", lambda x: 3.0**x * math.log(3.0), [-1.0, 0.0, 2.0], id="pow-exponent"),
    case("hypot(x, 3)", lambda x: x / np.sqrt(x * x + 9), [-4.0, 0.0, 4.0], id="hypot"),
    case("minimum(x, 1)", lambda x: (x < 1) * 1.0, [-1.0, 0.5, 2.0, 3.0], id="minimum"),
    case("maximum(x, 1)", lambda x: (x > 1) * 1.0, [-1.0, 0.5, 2.0, 3.0], id="maximum"),
    case(
        "maximum(x**2, 4*x - 3)",
        lambda x: np.array([2 * x[0], 4.0, 4.0, 2 * x[3]]),
        [0.5, 1.5, 2.5, 4.0],  # x² > 4x − 3 outside [1, 3]
        id="maximum-of-two-curves",
    ),
    case(
        "where(x > 0, x**2, -x)",
        lambda x: np.array([-1.0, -1.0, 2 * x[2], 2 * x[3]]),
        [-2.0, -0.5, 0.5, 3.0],
        id="where",
    ),
    case(
        "sigmoid(x)", lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, [-3.0, 0.0, 2.0], id="sigmoid"
    ),
    case("relu(x)", lambda x: (x > 0) * 1.0, [-2.0, -0.5, 0.5, 3.0], id="relu"),
    case("relu(x**2 - 1)", lambda x: (np.abs(x) > 1) * 2 * x, [-2.0, 0.5, 3.0], id="relu-chain"),
    case("softplus(x)", _sigmoid, [-3.0, 0.0, 2.0], id="softplus"),
    case("x**2 + x", lambda x: 2 * x + 1, [-2.0, 0.0, 3.0], id="plus"),
    case("x**3 - 2*x", lambda x: 3 * x * x - 2, [-2.0, 0.0, 3.0], id="minus"),
    case("x*sin(x)", lambda x: np.sin(x) + x * np.cos(x), [-2.0, 0.0, 3.0], id="times"),
    case("sin(x)/x", lambda x: (x * np.cos(x) - np.sin(x)) / x**2, [-2.0, 0.5, 3.0], id="divide"),
    case("1/x", lambda x: -1 / x**2, [-2.0, 0.5, 3.0], id="reciprocal"),
    case("x/3", lambda x: np.full_like(x, 1 / 3), [-2.0, 0.5, 3.0], id="divide-by-constant"),
    case("x**3", lambda x: 3 * x**2, [-2.0, 0.0, 3.0], id="power-integer"),
    case("x**-2", lambda x: -2 / x**3, [-2.0, 0.5, 3.0], id="power-negative"),
    case("x**0.5", lambda x: 0.5 / np.sqrt(x), [0.25, 1.0, 9.0], id="power-fraction"),
    case("2**x", lambda x: 2.0**x * LN2, [-2.0, 0.0, 3.0], id="power-constant-base"),
    case("(x**2)**1.5", lambda x: 3 * x * np.abs(x), [-2.0, 0.5, 3.0], id="power-of-power"),
    case("x**x", lambda x: x**x * (np.log(x) + 1), [0.5, 1.0, 2.0, 3.0], id="power-tower"),
    case("x % 3", np.ones_like, [-1.3, 0.5, 4.0], id="modulo"),
    case("7 % x", lambda x: np.array([-3.0, -2.0, -1.0]), [2.0, 2.5, 4.0], id="modulo-divisor"),
    case("-x**2", lambda x: -2 * x, [-2.0, 0.0, 3.0], id="unary-minus"),
    case("-sin(x)", lambda x: -np.cos(x), [-2.0, 0.0, 3.0], id="unary-minus-call"),
    case("sin(x**2)", lambda x: 2 * x * np.cos(x**2), [-2.0, 0.0, 1.5], id="chain"),
    case("exp(-x**2/2)", lambda x: -x * np.exp(-(x**2) / 2), [-2.0, 0.0, 1.5], id="gaussian"),
    case("0.01*x**2 + 0.1*x", lambda x: 0.02 * x + 0.1, [5.0, 10.0], id="notebook"),
    case("erf(x)", lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x), [-2.0, 0.0, 1.5], id="erf"),
    case("erfc(x)", lambda x: -2 / np.sqrt(np.pi) * np.exp(-x * x), [-2.0, 0.0, 1.5], id="erfc"),
    # Γ'(1) = −C, Γ'(2) = 1 − C, Γ'(1/2) = −√π(C + 2 ln 2) with C = EULER: the table's values.
    case(
        "gamma(x)",
        lambda x: np.array([-EULER, 1 - EULER, -math.sqrt(math.pi) * (EULER + 2 * LN2)]),
        [1.0, 2.0, 0.5],
        id="gamma",
    ),
    case("lgamma(x)", lambda x: np.array([-EULER, 1 - EULER]), [1.0, 2.0], id="lgamma"),
    case(
        "digamma(x)", lambda x: np.array([math.pi**2 / 6, math.pi**2 / 2]), [1.0, 0.5], id="digamma"
    ),
    case(
        "polygamma(1, x)", lambda x: np.array([-2 * ZETA3, -14 * ZETA3]), [1.0, 0.5], id="polygamma"
    ),
    case("square(x)", lambda x: 2 * x, [-2.0, 0.0, 1.5], id="square"),
    case(
        "sinc(x)",
        lambda x: (np.cos(np.pi * x) * np.pi * x - np.sin(np.pi * x)) / (np.pi * x * x),
        [-1.5, 0.5, 2.0],
        id="sinc",
    ),
    case("heaviside(x)", np.zeros_like, [-2.0, 0.5, 3.0], id="heaviside"),
    case("clip(x, -1, 1)", lambda x: (np.abs(x) < 1) * 1.0, [-2.0, 0.5, 3.0], id="clip"),
    case("log(x, 3)", lambda x: 1 / (x * math.log(3.0)), [0.5, 1.0, 9.0], id="log-base"),
]

REDUCTIONS = {name for name, func in FUNCTIONS.items() if func.reduction}


def test_the_table_covers_every_scalar_function() -> None:
    called = {m for p in CASES for m in re.findall(r"([a-z][a-z0-9]*)\(", p.values[0])}
    assert set(FUNCTIONS) - REDUCTIONS - called == set()


@pytest.mark.parametrize(("text", "closed_form", "points"), CASES)
def test_derivative_equals_the_closed_form(
    text: str, closed_form: Callable[[Array], Array], points: list[float]
) -> None:
    x = np.asarray(points)
    np.testing.assert_allclose(_at(text, points), closed_form(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("text", "closed_form", "points"), CASES)
def test_derivative_text_parses_back_to_the_same_function(
    text: str, closed_form: Callable[[Array], Array], points: list[float]
) -> None:
    derivative = _d(text)
    assert derivative.text == to_text(derivative.tree)
    reparsed = parse(derivative.text)
    x = np.asarray(points)
    np.testing.assert_array_equal(reparsed.bind(["x"])([x]), derivative.bind(["x"])([x]))


@pytest.mark.parametrize(
    ("text", "derivative"),
    [
        pytest.param("0.01*x**2 + 0.1*x", "0.02*x + 0.1", id="notebook"),
        pytest.param("sin(x)", "cos(x)", id="sin"),
        pytest.param("exp(x)", "exp(x)", id="exp"),
        pytest.param("x", "1", id="identity"),
        pytest.param("3*x", "3", id="linear"),
        pytest.param("x*cos(x)", "cos(x) - x*sin(x)", id="product-with-a-minus"),
        pytest.param("x**3", "3*x**2", id="power"),
    ],
)
def test_derivative_prints_as_the_readable_text(text: str, derivative: str) -> None:
    assert _d(text).text == derivative


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("(-2)**x", id="negative-base"),
        pytest.param("(x**2)**x", id="power-of-power"),
        pytest.param("x**x**0.5", id="power-tower"),
        pytest.param("2**-x", id="negative-exponent"),
        pytest.param("-x**2", id="minus-a-power"),
        pytest.param("(-x)**2", id="power-of-a-minus"),
        pytest.param("-(x - 1)", id="minus-a-difference"),
        pytest.param("x - (1 - x)", id="difference-of-a-difference"),
        pytest.param("x - (1 + x)", id="difference-of-a-sum"),
        pytest.param("x/(2*x)", id="quotient-of-a-product"),
        pytest.param("x/(2/x)", id="quotient-of-a-quotient"),
        pytest.param("x % (x/3)", id="modulo-of-a-quotient"),
        pytest.param("(x + 1)*(x - 1)", id="product-of-sums"),
        pytest.param("where(x < 1, 1e-30*x, 1e20 - x)", id="where-and-exponents"),
    ],
)
def test_to_text_keeps_the_parentheses_that_matter(text: str) -> None:
    tree = parse(text).tree
    x = np.array([0.5, 1.5, 2.0, 3.0])
    reparsed = parse(to_text(tree))
    np.testing.assert_array_equal(reparsed.bind(["x"])([x]), parse(text).bind(["x"])([x]))
    assert reparsed.tree == tree


def test_a_second_derivative_is_the_derivative_of_the_first() -> None:
    second = derivative_expression(_d("x**3 + sin(x)"), "x")
    x = np.array([-2.0, 0.0, 1.5])
    np.testing.assert_allclose(second.bind(["x"])([x]), 6 * x - np.sin(x), rtol=1e-12)


# ---------------------------------------------------------------- several variables

Partial = Callable[[Array, Array], Array]
XS = [0.5, 2.0, -1.5, 3.0]
YS = [1.5, -0.5, 2.0, 3.5]
POSITIVE_XS = [0.5, 2.0, 1.5, 3.0]


def partial(text: str, name: str, closed_form: Partial, xs: list[float], *, id: str) -> Any:
    return pytest.param(text, name, closed_form, xs, id=id)


@pytest.mark.parametrize(
    ("text", "name", "closed_form", "xs"),
    [
        partial("x*y**2", "y", lambda x, y: 2 * x * y, XS, id="x-y-squared-by-y"),
        partial("x*y**2", "x", lambda x, y: y * y, XS, id="x-y-squared-by-x"),
        partial("x**y", "x", lambda x, y: y * x ** (y - 1), POSITIVE_XS, id="power-by-base"),
        partial("x**y", "y", lambda x, y: x**y * np.log(x), POSITIVE_XS, id="power-by-exponent"),
        partial("pow(x, y)", "x", lambda x, y: y * x ** (y - 1), POSITIVE_XS, id="pow-by-base"),
        partial("pow(x, y)", "y", lambda x, y: x**y * np.log(x), POSITIVE_XS, id="pow-by-exponent"),
        partial("hypot(x, y)", "x", lambda x, y: x / np.sqrt(x * x + y * y), XS, id="hypot-by-x"),
        partial("hypot(x, y)", "y", lambda x, y: y / np.sqrt(x * x + y * y), XS, id="hypot-by-y"),
        partial("arctan2(y, x)", "y", lambda x, y: x / (x * x + y * y), XS, id="arctan2-by-y"),
        partial("arctan2(y, x)", "x", lambda x, y: -y / (x * x + y * y), XS, id="arctan2-by-x"),
        partial("x % y", "y", lambda x, y: -np.floor(x / y), XS, id="modulo-by-divisor"),
        partial(
            "where(x > y, x*y, x + y)",
            "y",
            lambda x, y: np.where(x > y, x, 1.0),
            XS,
            id="where-by-y",
        ),
        partial("minimum(x, y)", "y", lambda x, y: (y < x) * 1.0, XS, id="minimum-by-y"),
        partial("sin(x*y)", "y", lambda x, y: x * np.cos(x * y), XS, id="chain-by-y"),
    ],
)
def test_partial_derivative_holds_the_other_variable_constant(
    text: str, name: str, closed_form: Partial, xs: list[float]
) -> None:
    x, y = np.asarray(xs), np.asarray(YS)
    derivative = _d(text, name)
    np.testing.assert_allclose(derivative.bind(["x", "y"])([x, y]), closed_form(x, y), rtol=1e-12)
    reparsed = parse(derivative.text).bind(["x", "y"])([x, y])
    np.testing.assert_array_equal(reparsed, derivative.bind(["x", "y"])([x, y]))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("5", id="number"),
        pytest.param("pi", id="constant"),
        pytest.param("sin(2)*e", id="constant-call"),
        pytest.param("y**2", id="other-variable"),
        pytest.param("exp(y)*z", id="other-variables"),
    ],
)
def test_derivative_of_what_does_not_depend_on_x_is_zero(text: str) -> None:
    derivative = _d(text)
    assert derivative.text == "0"
    points = [np.array([-1.0, 0.0, 2.0])] * 3
    np.testing.assert_array_equal(derivative.bind(["x", "y", "z"])(points), [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("sum(x**2)", id="sum"),
        pytest.param("prod(x)", id="prod"),
        pytest.param("mean(x)", id="mean"),
        pytest.param("norm(x)", id="norm"),
        pytest.param("dot(x, x)", id="dot"),
        pytest.param("x[0]*x[1]", id="indexed"),
    ],
)
def test_vector_expressions_have_no_exact_derivative(text: str) -> None:
    with pytest.raises(RequestError, match="scalar variables"):
        _d(text)


# ---------------------------------------------------------------- property: complex step oracle

NUMBERS = st.sampled_from(["0.5", "1", "2", "3", "1.25", "0.1"])


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children)
    unary = st.tuples(st.sampled_from(["sin", "cos", "exp", "tanh"]), children)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        unary.map(lambda t: f"{t[0]}({t[1]})"),
        children.map(lambda c: f"sqrt(1 + ({c})**2)"),
        children.map(lambda c: f"-({c})"),
    )


FORMULAS = st.recursive(st.one_of(st.just("x"), NUMBERS), _grow, max_leaves=8)
H = 1e-30
# The oracle's own rounding is about eps/|denominator| (complex division), so points stay
# away from 0, where `x/x` would make it wrong in the second digit.
POINTS = st.floats(-3.0, 3.0).filter(lambda v: abs(v) >= 1e-3)


@settings(max_examples=300, deadline=None)
@given(text=FORMULAS, x=POINTS)
def test_random_formula_derivative_agrees_with_the_complex_step(text: str, x: float) -> None:
    # Im f(x + ih)/h has no subtractive cancellation: exact to rounding for analytic f,
    # and it never looks at the derivative rules.
    function = parse(text).bind(["x"])
    oracle = function([np.array([complex(x, H)])]).imag / H
    value = function([np.array([x])])
    assume(np.all(np.isfinite(oracle)) and np.all(np.isfinite(value)))
    assume(np.all(np.abs(oracle) < 1e8))
    derivative = _d(text)
    exact = derivative.bind(["x"])([np.array([x])])
    np.testing.assert_allclose(exact, oracle, rtol=1e-9, atol=1e-9)
    reparsed = parse(derivative.text).bind(["x"])([np.array([x])])
    np.testing.assert_array_equal(reparsed, exact)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        pytest.param("log(0)*x", "-inf", id="minus-infinity"),
        pytest.param("sqrt(-1)*x", "nan", id="not-a-number"),
    ],
)
def test_a_non_finite_constant_prints_as_text_that_parses_back(text: str, printed: str) -> None:
    derivative = _d(text)
    assert derivative.text == printed
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(
        parse(derivative.text).bind(["x"])([x]), np.full(2, float(printed))
    )
