"""The expression language: what it accepts, what it refuses, and how it evaluates."""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.errors import ExpressionError, RequestError
from app.expressions import Expression, Limits, parse

Array = np.ndarray[Any, Any]
Formula = tuple[str, Callable[[Array, Array], Array], int]

HOSTILE_CORPUS = Path(__file__).parent / "data" / "hostile_expressions.txt"

# A safety bound against hangs, not a benchmark: every refusal here takes milliseconds.
QUICKLY = 1.0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _evaluate(expression: Expression, point: list[Any]) -> Array:
    return expression([np.asarray(coordinate, dtype=float) for coordinate in point])


# ---------------------------------------------------------------- accepted


def accepted(
    text: str,
    point: list[Any],
    value: Any,
    *,
    variables: tuple[str, ...] = ("x",),
    vector: str | None = None,
    min_dimension: int = 0,
    id: str,
) -> Any:
    """One row of the accepted table; `point` has one entry per variable (or component)."""
    return pytest.param(text, variables, vector, min_dimension, point, value, id=id)


def vector_case(text: str, point: list[Any], value: Any, *, min_dimension: int, id: str) -> Any:
    return accepted(
        text, point, value, variables=(), vector="x", min_dimension=min_dimension, id=id
    )


ACCEPTED = [
    accepted("0.01*x**2 + 0.1*x", [5.0], 0.75, id="quadratic"),
    accepted("2*x^2", [3.0], 18.0, id="caret-binds-tighter-than-times"),
    accepted("x^3^2", [2.0], 512.0, id="caret-is-right-associative"),
    accepted("x^2^2", [3.0], 81.0, id="caret-chain"),
    accepted("-x**2", [3.0], -9.0, id="unary-minus-binds-looser-than-power"),
    accepted("-x^2", [3.0], -9.0, id="unary-minus-binds-looser-than-caret"),
    accepted("2**-x", [1.0], 0.5, id="power-of-a-negation"),
    accepted("x/2/2", [8.0], 2.0, id="division-is-left-associative"),
    accepted("x-1-1", [0.0], -2.0, id="subtraction-is-left-associative"),
    accepted("+x", [4.0], 4.0, id="unary-plus"),
    accepted("1e-3*x", [2.0], 0.002, id="scientific-literal"),
    accepted("x % 3", [[-1.0, 7.5]], [2.0, 1.5], id="modulo-takes-the-sign-of-the-divisor"),
    accepted("sin(x)*exp(-x^2/10)", [1.0], math.sin(1) * math.exp(-0.1), id="issue-example"),
    accepted("np.sin(x)", [0.5], math.sin(0.5), id="np-prefix"),
    accepted("numpy.exp(x)", [1.0], math.e, id="numpy-prefix"),
    accepted("math.log(x)", [math.e], 1.0, id="math-prefix"),
    accepted("np.pi * x", [2.0], 2 * math.pi, id="np-pi"),
    accepted("9**9**9**9", [], math.inf, variables=(), id="power-tower-is-infinite"),
    accepted("10**400", [], math.inf, variables=(), id="huge-power-is-infinite"),
    accepted("pi", [], math.pi, variables=(), id="pi"),
    accepted("e", [], math.e, variables=(), id="e"),
    accepted("where(x > 0, x, -x)", [[-2.0, 0.0, 3.0]], [2.0, 0.0, 3.0], id="where-absolute-value"),
    accepted("where(0 < x < 1, 1, 0)", [[-0.5, 0.5, 1.0, 1.5]], [0, 1, 0, 0], id="where-chained"),
    accepted("where(x, 1, 2)", [[0.0, 3.0]], [2.0, 1.0], id="where-nonzero-condition"),
    accepted("asin(x)", [0.5], math.pi / 6, id="alias-asin"),
    accepted("ln(x)", [math.e**2], 2.0, id="alias-ln"),
    accepted("power(x, 3)", [2.0], 8.0, id="alias-power"),
    accepted("pow(x, 0.5)", [9.0], 3.0, id="pow"),
    accepted("sqrt(x)", [16.0], 4.0, id="sqrt"),
    accepted("abs(x)", [-2.5], 2.5, id="abs"),
    accepted("tanh(x)", [0.5], math.tanh(0.5), id="tanh"),
    accepted("cosh(x)", [1.0], math.cosh(1.0), id="cosh"),
    accepted(
        "x10 + 2*x2 + 3*x",
        [1.0, 10.0, 100.0],
        123.0,
        variables=("x", "x2", "x10"),
        id="natural-order-x2-before-x10",
    ),
    accepted("y - x", [1.0, 3.0], 2.0, variables=("x", "y"), id="x-before-y"),
    accepted("sigmoid(x)", [math.log(3)], 0.75, id="sigmoid"),
    accepted("sigmoid(x)", [-40.0], _sigmoid(-40.0), id="sigmoid-far-left-tail"),
    accepted("sigmoid(x)", [-20.0], _sigmoid(-20.0), id="sigmoid-left-tail"),
    accepted("sigmoid(x)", [800.0], 1.0, id="sigmoid-far-right-tail"),
    accepted("relu(x)", [[-1.0, 2.0]], [0.0, 2.0], id="relu"),
    accepted("softplus(x)", [0.0], math.log(2), id="softplus"),
    accepted("softplus(x)", [800.0], 800.0, id="softplus-does-not-overflow"),
    accepted("hypot(x, y)", [3.0, 4.0], 5.0, variables=("x", "y"), id="hypot"),
    accepted("minimum(x, y)", [3.0, 4.0], 3.0, variables=("x", "y"), id="minimum"),
    accepted("maximum(x, y)", [3.0, 4.0], 4.0, variables=("x", "y"), id="maximum"),
    accepted("arctan2(y, x)", [-1.0, 0.0], math.pi, variables=("x", "y"), id="arctan2"),
    accepted("atan2(y, x)", [1.0, 1.0], math.pi / 4, variables=("x", "y"), id="alias-atan2"),
    accepted("cbrt(x)", [-27.0], -3.0, id="cbrt-of-a-negative"),
    accepted("expm1(x)", [1e-10], 1e-10 + 0.5e-20, id="expm1-keeps-small-arguments-exact"),
    accepted("log1p(x)", [1e-10], 1e-10 - 0.5e-20, id="log1p-keeps-small-arguments-exact"),
    accepted("log2(x)", [8.0], 3.0, id="log2"),
    accepted("log10(x)", [1000.0], 3.0, id="log10"),
    accepted(
        "a*x + b",
        [2.0, 1.0, 3.0],
        7.0,
        variables=("a", "b", "x"),
        id="free-names-sort-as-variables",
    ),
    vector_case("sum(x**2)", [3.0, 4.0], 25.0, min_dimension=1, id="sum-of-squares"),
    vector_case("x[0]**2 + x[1]**2", [3.0, 4.0], 25.0, min_dimension=2, id="indexed"),
    vector_case("x[2] - x[0]", [1.0, 2.0, 7.0], 6.0, min_dimension=3, id="indexed-past-zero"),
    vector_case("norm(x)", [3.0, 4.0], 5.0, min_dimension=1, id="norm"),
    vector_case("dot(x, x)", [1.0, 2.0, 3.0], 14.0, min_dimension=1, id="dot"),
    vector_case("mean(x)", [1.0, 2.0, 3.0, 6.0], 3.0, min_dimension=1, id="mean"),
    vector_case("prod(x)", [2.0, 3.0, 4.0], 24.0, min_dimension=1, id="prod"),
    vector_case("sum(x**2) + x[1]", [3.0, 4.0], 29.0, min_dimension=2, id="sum-and-index"),
]


@pytest.mark.parametrize(
    ("text", "variables", "vector", "min_dimension", "point", "value"), ACCEPTED
)
def test_accepted_expression_has_its_variables_and_closed_form_value(
    text: str,
    variables: tuple[str, ...],
    vector: str | None,
    min_dimension: int,
    point: list[Any],
    value: Any,
) -> None:
    expression = parse(text)
    assert expression.variables == variables
    assert expression.vector_variable == vector
    assert expression.min_dimension == min_dimension
    np.testing.assert_allclose(_evaluate(expression, point), value, rtol=1e-12)


@pytest.mark.parametrize(
    ("text", "analytic"),
    [
        pytest.param("sin(x)*exp(x)", True, id="sin-times-exp"),
        pytest.param("x**2 / (1 + x)", True, id="rational"),
        pytest.param("sigmoid(x) + softplus(x)", True, id="smooth-activations"),
        pytest.param("sum(x**2)", True, id="reduction"),
        pytest.param("abs(x)", False, id="abs"),
        pytest.param("where(x > 0, x, 0)", False, id="where"),
        pytest.param("relu(x)", False, id="relu"),
        pytest.param("x % 2", False, id="modulo"),
        pytest.param("sin(x) + hypot(x, 1)", False, id="one-non-analytic-part"),
    ],
)
def test_analytic_flag_marks_expressions_safe_for_the_complex_step(
    text: str, analytic: bool
) -> None:
    assert parse(text).analytic is analytic


def test_a_power_tower_is_infinite_instantly() -> None:
    start = time.perf_counter()
    value = parse("9**9**9**9**9")([])
    assert time.perf_counter() - start < QUICKLY
    assert value == np.inf


def test_leading_blanks_are_not_an_indentation_error() -> None:
    np.testing.assert_allclose(parse(" \tx**2 ")([np.array(3.0)]), 9.0)


def test_names_are_the_variables_or_the_vector_components() -> None:
    assert parse("y*x").names(5) == ["x", "y"]
    assert parse("x[0] + x[2]").names(3) == ["x[0]", "x[1]", "x[2]"]


# ---------------------------------------------------------------- evaluation


def test_arguments_follow_the_order_given_to_bind() -> None:
    function = parse("x - y").bind(variables=["y", "x"])
    np.testing.assert_allclose(function([np.array([1.0]), np.array([5.0])]), [4.0])


def test_arguments_broadcast_against_each_other() -> None:
    x = np.array([[1.0, 2.0, 3.0]])
    y = np.array([[10.0], [20.0], [30.0]])
    result = parse("x + y")([x, y])
    assert result.shape == (3, 3)
    np.testing.assert_allclose(result, x + y)


def test_vector_components_broadcast_against_each_other() -> None:
    result = parse("sum(x)")([np.array([[1.0, 2.0, 3.0]]), np.array([[10.0], [20.0]])])
    np.testing.assert_allclose(result, [[11.0, 12.0, 13.0], [21.0, 22.0, 23.0]])


def test_a_constant_expression_takes_the_shape_of_the_inputs() -> None:
    function = parse("2*pi").bind(variables=["x", "y"])
    result = function([np.zeros((1, 3)), np.zeros((2, 1))])
    np.testing.assert_allclose(result, np.full((2, 3), 2 * math.pi))


def test_unused_variables_are_accepted_and_broadcast() -> None:
    result = parse("x**2").bind(variables=["x", "y"])([np.array([3.0]), np.zeros((2, 1))])
    np.testing.assert_allclose(result, [[9.0], [9.0]])


def test_parameters_are_fixed_constants() -> None:
    function = parse("a*x + b").bind(variables=["x"], parameters={"a": 2.0, "b": 1.0})
    np.testing.assert_allclose(function([np.array([3.0])]), [7.0])


def test_bind_returns_the_same_function_for_the_same_binding() -> None:
    expression = parse("x*y + 1")
    assert expression.bind(["x", "y"]) is expression.bind(["x", "y"])


@pytest.mark.parametrize(
    ("text", "x", "derivative"),
    [
        pytest.param(
            "sin(x)*exp(x)", 0.7, (math.cos(0.7) + math.sin(0.7)) * math.exp(0.7), id="sin-exp"
        ),
        pytest.param("x**3 + 2*x", 1.5, 3 * 1.5**2 + 2, id="polynomial"),
        pytest.param("log1p(x)", 0.5, 1 / 1.5, id="log1p"),
        pytest.param("sigmoid(x)", 2.0, _sigmoid(2.0) * _sigmoid(-2.0), id="sigmoid"),
        pytest.param("sigmoid(x)", -30.0, _sigmoid(-30.0) * _sigmoid(30.0), id="sigmoid-tail"),
        pytest.param("softplus(x)", -3.0, _sigmoid(-3.0), id="softplus-left"),
        pytest.param("softplus(x)", 40.0, _sigmoid(40.0), id="softplus-right"),
    ],
)
def test_complex_step_gives_the_derivative_of_an_analytic_expression(
    text: str, x: float, derivative: float
) -> None:
    h = 1e-30
    value = parse(text)([np.array([x + 1j * h])])
    assert value.dtype == np.complex128
    np.testing.assert_allclose(value.imag / h, [derivative], rtol=1e-12)


@pytest.mark.parametrize(
    ("text", "x", "value"),
    [
        pytest.param("log(x)", 0.0, -np.inf, id="log-of-zero"),
        pytest.param("1/x", 0.0, np.inf, id="division-by-zero"),
        pytest.param("x/x", 0.0, np.nan, id="zero-over-zero"),
        pytest.param("exp(x)", 1000.0, np.inf, id="exp-overflow"),
        pytest.param("0*exp(x)", 1000.0, np.nan, id="zero-times-overflow"),
        pytest.param("sqrt(x)", -1.0, np.nan, id="sqrt-of-negative"),
        pytest.param("arcsin(x)", 2.0, np.nan, id="arcsin-out-of-domain"),
        pytest.param("x**0.5", -1.0, np.nan, id="fractional-power-of-negative"),
        pytest.param("x % 0", 1.0, np.nan, id="modulo-zero"),
        pytest.param("sigmoid(x)", -1000.0, 0.0, id="sigmoid-underflow"),
        pytest.param("softplus(x)", -1000.0, 0.0, id="softplus-underflow"),
        pytest.param("log(0) + x", 1.0, -np.inf, id="folded-constant-log-of-zero"),
        pytest.param("exp(1000)*x", 1.0, np.inf, id="folded-constant-overflow"),
    ],
)
def test_floating_point_trouble_gives_nan_or_inf_without_a_warning(
    text: str, x: float, value: float
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = parse(text)([np.array([x])])
    np.testing.assert_equal(result, [value])


@pytest.mark.parametrize(
    ("text", "variables", "parameters", "message"),
    [
        pytest.param(
            "x*y",
            ["x"],
            {},
            "the expression uses `y`, which is neither a variable nor a parameter; "
            "add it to `variables` or give its value in `parameters`.",
            id="missing-variable",
        ),
        pytest.param(
            "x", None, {"a": 1.0}, "parameter `a` does not appear in the expression.", id="unused"
        ),
        pytest.param("x", ["x", "x"], {}, "variable `x` is listed twice.", id="listed-twice"),
        pytest.param(
            "a*x",
            ["x", "a"],
            {"a": 1.0},
            "`a` is both a variable and a parameter; remove it from one of them.",
            id="variable-and-parameter",
        ),
        pytest.param("x", ["x", "sin"], {}, "`sin` is not a valid variable name.", id="function"),
        pytest.param("x", ["x", "pi"], {}, "`pi` is not a valid variable name.", id="constant"),
        pytest.param("x", ["x", "_y"], {}, "`_y` is not a valid variable name.", id="underscore"),
        pytest.param("x", ["x", "a b"], {}, "`a b` is not a valid variable name.", id="space"),
    ],
)
def test_bind_refuses_an_inconsistent_binding(
    text: str, variables: list[str] | None, parameters: dict[str, float], message: str
) -> None:
    with pytest.raises(RequestError, match=f"^{re.escape(message)}$"):
        parse(text).bind(variables=variables, parameters=parameters)


@pytest.mark.parametrize(
    ("text", "components", "message"),
    [
        pytest.param(
            "x[0]**2 + x[1]**2",
            1,
            "the vector `x` needs at least 2 coordinates per point; got 1.",
            id="indexed",
        ),
        pytest.param(
            "sum(x**2)",
            0,
            "the vector `x` needs at least 1 coordinate per point; got 0.",
            id="reduced",
        ),
    ],
)
def test_a_vector_expression_refuses_too_few_components(
    text: str, components: int, message: str
) -> None:
    function = parse(text).bind()
    with pytest.raises(RequestError, match=f"^{re.escape(message)}$"):
        function([np.ones(3)] * components)


# ---------------------------------------------------------------- refused


def refused(text: str, message: str, column: int | None, *, id: str) -> Any:
    return pytest.param(text, message, column, id=id)


REFUSED = [
    refused("foo(x)", "unknown function `foo` at column 1; did you mean `floor`?", 1, id="foo"),
    refused(
        "x + sine(x)",
        "unknown function `sine` at column 5; did you mean `sin`?",
        5,
        id="unknown-function-with-suggestion",
    ),
    refused(
        "print(1)",
        "unknown function `print` at column 1; the functions are listed in the README "
        "(`sin`, `exp`, `log`, `erf`, ...).",
        1,
        id="no-suggestion",
    ),
    refused(
        "x^2^2 + foo(x)",
        "unknown function `foo` at column 9; did you mean `floor`?",
        9,
        id="column-counts-caret-as-one-character",
    ),
    refused(
        "x +\tfoo(x)",
        "unknown function `foo` at column 5; did you mean `floor`?",
        5,
        id="column-counts-a-tab-as-one-character",
    ),
    refused(
        "  foo(x)",
        "unknown function `foo` at column 3; did you mean `floor`?",
        3,
        id="column-counts-leading-blanks",
    ),
    refused(
        "exp",
        "`exp` is a function; call it as `exp(...)` at column 1.",
        1,
        id="function-without-call",
    ),
    refused(
        "np.sin",
        "`sin` is a function; call it as `sin(...)` at column 1.",
        1,
        id="prefixed-function-without-call",
    ),
    refused(
        "pi(1)",
        "`pi` is a constant, not a function at column 1; write `pi*(...)`.",
        1,
        id="calling-pi",
    ),
    refused(
        "sin[0]",
        "`sin[...]` uses Wolfram's brackets at column 1; write `sin(...)`.",
        1,
        id="indexing-a-function",
    ),
    refused(
        "x.real",
        "attribute access is not allowed at column 1; only `np.`, `numpy.` and `math.` are read.",
        1,
        id="attribute",
    ),
    refused(
        "2 + np.linalg.norm(x)",
        "attribute access is not allowed at column 5; only `np.`, `numpy.` and `math.` are read.",
        5,
        id="attribute-chain",
    ),
    refused("np.os", "unknown name `os` at column 1; did you mean `cos`?", 1, id="np-os"),
    refused(
        "sin(x)(1)",
        "`(...)(...)` at column 1: write the multiplication out, as `(...)*(...)`.",
        1,
        id="calling-a-call",
    ),
    refused(
        "sin(x=1)",
        "`sin` takes no keyword arguments at column 1; write `sin(...)` with its arguments in "
        "order.",
        1,
        id="keyword",
    ),
    refused("sin(x, y)", "`sin` takes 1 argument, got 2 at column 1.", 1, id="too-many-args"),
    refused("hypot(x)", "`hypot` takes 2 arguments, got 1 at column 1.", 1, id="too-few-args"),
    refused(
        "sin(*x)",
        "starred arguments are not allowed at column 5; "
        "write a formula of numbers, names and functions.",
        5,
        id="starred",
    ),
    refused(
        "'abc'",
        "strings are not allowed at column 1; write the formula without quotes.",
        1,
        id="string",
    ),
    refused(
        "f'{x}'",
        "strings are not allowed at column 1; write a formula of numbers, names and functions.",
        1,
        id="f-string",
    ),
    refused(
        "x + b'a'",
        "bytes are not allowed at column 5; write the formula without quotes.",
        5,
        id="bytes",
    ),
    refused(
        "2j*x",
        "complex numbers are not allowed at column 1; "
        "write `2*j` for a product with a variable `j`.",
        1,
        id="complex-literal",
    ),
    refused("True", "`True` is not allowed at column 1; write 1 or 0.", 1, id="true"),
    refused("x + None", "`None` is not allowed at column 5; write 1 or 0.", 5, id="none"),
    refused(
        "await x",
        "`await` expressions are not allowed at column 1; "
        "write a formula of numbers, names and functions.",
        1,
        id="await",
    ),
    refused(
        "(yield x)",
        "`yield` expressions are not allowed at column 2; "
        "write a formula of numbers, names and functions.",
        2,
        id="yield",
    ),
    refused(
        "1e999",
        "number literal is too large at column 1; the largest number is about `1.8e308`.",
        1,
        id="literal-overflows",
    ),
    refused(
        "lambda: 1",
        "lambdas are not allowed at column 1; write a formula of numbers, names and functions.",
        1,
        id="lambda",
    ),
    refused(
        "[x for x in y]",
        "comprehensions are not allowed at column 1; "
        "write a formula of numbers, names and functions.",
        1,
        id="comprehension",
    ),
    refused(
        "(x := 1)",
        "assignments are not allowed at column 2; write a formula of numbers, names and functions.",
        2,
        id="walrus",
    ),
    refused(
        "1 if x else 0",
        "conditional expressions (use `where(cond, a, b)`) are not allowed at column 1.",
        1,
        id="conditional",
    ),
    refused(
        "x and y",
        "`and`/`or` (use `where` with a comparison) are not allowed at column 1.",
        1,
        id="and",
    ),
    refused(
        "[x]",
        "square brackets make a list at column 1; group with `(...)`, and index a vector "
        "variable as `x[0]`.",
        1,
        id="list",
    ),
    refused(
        "(x, y)",
        "a `,` outside a function's brackets makes a list at column 1; send one formula, and "
        "write a decimal as `2.5`, not `2,5`.",
        1,
        id="tuple",
    ),
    refused(
        "x < 1",
        "comparisons are only allowed as the condition of `where` at column 1.",
        1,
        id="comparison-outside-where",
    ),
    refused(
        "where(x > 0, x > 1, 0)",
        "comparisons are only allowed as the condition of `where` at column 14.",
        14,
        id="comparison-as-a-branch",
    ),
    refused(
        "where(x is 0, 1, 0)",
        "only `< <= > >= == !=` can compare numbers at column 7.",
        7,
        id="identity-comparison",
    ),
    refused(
        "x // 2",
        "operator `//` is not supported at column 1; write `floor(a / b)`.",
        1,
        id="floor-division",
    ),
    refused(
        "x @ y",
        "operator `@` is not supported at column 1; the operators are `+ - * / ** ^ %`.",
        1,
        id="matmul",
    ),
    refused(
        "x & y",
        "operator `&` is not supported at column 1; the operators are `+ - * / ** ^ %`.",
        1,
        id="bit-and",
    ),
    refused(
        "~x",
        "operator `~` is not supported at column 1; "
        "write `where(condition, a, b)` for a condition.",
        1,
        id="invert",
    ),
    refused(
        "not x",
        "operator `not` is not supported at column 1; "
        "write `where(condition, a, b)` for a condition.",
        1,
        id="not",
    ),
    refused(
        "_x", "names starting with `_` are not allowed (`_x`) at column 1.", 1, id="underscore-name"
    ),
    refused(
        "__import__('os')",
        "names starting with `_` are not allowed (`__import__`) at column 1.",
        1,
        id="dunder-import",
    ),
    refused(
        "x[-1]",
        "an index must be a whole number from 0 to 99999, as in `x[0]` at column 1.",
        1,
        id="negative-index",
    ),
    refused(
        "x[0:2]",
        "an index must be a whole number from 0 to 99999, as in `x[0]` at column 1.",
        1,
        id="slice",
    ),
    refused(
        "x[1.0]",
        "an index must be a whole number from 0 to 99999, as in `x[0]` at column 1.",
        1,
        id="float-index",
    ),
    refused(
        "x[0][1]", "only a variable can be indexed, as in `x[0]` at column 1.", 1, id="double-index"
    ),
    refused(
        "sum(x[0])",
        "`sum` needs a vector argument such as `x` at column 1.",
        1,
        id="reduction-of-a-number",
    ),
    refused(
        "sum(x) + sum(y)",
        "only one vector variable is allowed; found `x` and `y`.",
        None,
        id="two-vectors",
    ),
    refused(
        "x + sum(x)",
        "`x` is a vector (indexed or reduced), so it cannot stand alone; "
        "use an element such as `x[0]` or a reduction such as `sum(x)`.",
        None,
        id="vector-standing-alone",
    ),
    refused(
        "x[0] + y",
        "`y` cannot be used beside the vector variable `x`; write it as an element such as `x[0]`.",
        None,
        id="scalar-beside-vector",
    ),
    refused(
        "\uff45\uff58\uff50(x)",
        "character U+FF45 at column 1 is not allowed; use plain ASCII.",
        1,
        id="fullwidth-exp",
    ),
    refused(
        "x\u200b+1",
        "character U+200B at column 2 is not allowed; use plain ASCII.",
        2,
        id="zero-width-space",
    ),
    refused(
        "x\n+1", "character U+000A at column 2 is not allowed; use plain ASCII.", 2, id="newline"
    ),
    refused("", "the expression is empty; write a formula such as `x**2`.", None, id="empty"),
    refused(" \t ", "the expression is empty; write a formula such as `x**2`.", None, id="blank"),
    refused(
        "x = 1",
        "`=` at column 3: send only the right-hand side, `1`, without `x =`.",
        3,
        id="assignment",
    ),
    refused(
        "import os",
        "`import` at column 1 is a Python keyword, not math; write a formula such as `x**2`.",
        1,
        id="import",
    ),
    refused("x; y", "`;` at column 2: send one formula; remove `;`.", 2, id="semicolon"),
    refused("(x", "`(` at column 1 is never closed; add `)`.", 1, id="unclosed"),
    refused(
        "sin(x))",
        "`)` at column 7 has no matching `(`; remove it or open one before.",
        7,
        id="unmatched",
    ),
]


@pytest.mark.parametrize(("text", "message", "column"), REFUSED)
def test_refused_expression_names_the_problem_and_its_column(
    text: str, message: str, column: int | None
) -> None:
    with pytest.raises(ExpressionError, match=f"^{re.escape(message)}$") as excinfo:
        parse(text)
    assert excinfo.value.context.get("column") == column
    assert excinfo.value.field == "expression"


# ---------------------------------------------------------------- hostile corpus


def _hostile_entries() -> list[Any]:
    """One JSON string per line; `#` lines are comments. The line number is the id."""
    lines = HOSTILE_CORPUS.read_text(encoding="ascii").splitlines()
    return [
        pytest.param(json.loads(line), id=f"line{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.startswith("#")
    ]


HOSTILE = _hostile_entries()


def test_hostile_corpus_has_at_least_150_entries() -> None:
    assert len(HOSTILE) >= 150


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expression_is_refused_quickly(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as excinfo:
        parse(text)
    assert time.perf_counter() - start < QUICKLY
    assert excinfo.value.detail.endswith((".", "?"))


# ---------------------------------------------------------------- limits and caching


@pytest.mark.parametrize(
    ("text", "limits", "message"),
    [
        pytest.param(
            "x + y + z",
            Limits(max_length=5),
            "the expression is 9 characters long; the limit is 5.",
            id="length",
        ),
        pytest.param(
            "x" + " " * 1000,
            Limits(),
            "the expression is 1001 characters long; the limit is 1000.",
            id="default-length",
        ),
        pytest.param(
            "(((x)))",
            Limits(max_depth=2),
            "brackets are nested more than 2 deep at column 3.",
            id="bracket-depth",
        ),
        pytest.param(
            "(" * 65 + "x" + ")" * 65,
            Limits(),
            "brackets are nested more than 64 deep at column 65.",
            id="default-bracket-depth",
        ),
        pytest.param(
            "- - - - x",
            Limits(max_depth=3),
            "the expression is nested more than 3 levels deep at column 7.",
            id="tree-depth",
        ),
        pytest.param(
            "x + y",
            Limits(max_nodes=5),
            "the expression has more than 5 parts; simplify it.",
            id="node-count",
        ),
    ],
)
def test_each_limit_is_enforced_with_its_message(text: str, limits: Limits, message: str) -> None:
    with pytest.raises(ExpressionError, match=f"^{re.escape(message)}$"):
        parse(text, limits)


def test_default_limits_are_the_documented_ones() -> None:
    assert Limits() == Limits(max_length=1000, max_depth=64, max_nodes=500)


def test_a_flat_sum_is_one_level_deep_however_many_terms() -> None:
    # 70 terms parse as a left spine 70 deep; the depth limit (64) bounds nesting only.
    text = " + ".join(f"x{i}**2" for i in range(70)) + " - x0 * x1"
    expression = parse(text)

    ones = [np.ones(3) for _ in expression.variables]
    np.testing.assert_allclose(expression(ones), [69.0, 69.0, 69.0])


def test_nesting_inside_a_chain_still_counts() -> None:
    assert parse("a + b + c + d + e + f", Limits(max_depth=4)).variables[0] == "a"
    with pytest.raises(ExpressionError, match="nested more than 4 levels deep"):
        parse("a * (b + (c + (d + e)))", Limits(max_depth=4))


def test_raised_limits_admit_what_the_defaults_refuse() -> None:
    text = "(" * 70 + "x" + ")" * 70
    assert parse(text, Limits(max_depth=80)).variables == ("x",)


def test_a_huge_integer_literal_is_refused_when_the_length_limit_allows_it() -> None:
    with pytest.raises(ExpressionError, match=r"^the number at column 1 has 5000 digits; "):
        parse("1" * 5000, Limits(max_length=10_000))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("-" * 5000 + "x", id="unary-chain"),
        pytest.param("x" + "**x" * 3000, id="power-chain"),
        pytest.param("(" * 5000 + "x" + ")" * 5000, id="parentheses"),
    ],
)
def test_deep_input_past_the_parser_limits_is_an_expression_error(text: str) -> None:
    unbounded = Limits(max_length=100_000, max_depth=100_000, max_nodes=1_000_000)
    with pytest.raises(ExpressionError):
        parse(text, unbounded)


def test_parse_returns_the_cached_expression_for_the_same_text() -> None:
    first = parse("x**2 + 3*x - 1")
    assert parse("x**2 + 3*x - 1") is first
    assert parse("x**2 + 3*x - 1", Limits()) is first


# ---------------------------------------------------------------- properties


def _stable_sigmoid(x: Array) -> Array:
    # The textbook stable form: e^-x never overflows on the right, e^x never on the left.
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


UNARY: dict[str, Callable[[Array], Array]] = {
    "sin": np.sin,
    "cos": np.cos,
    "exp": np.exp,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "log": np.log,
    "abs": np.abs,
    "sigmoid": _stable_sigmoid,
}

# Binding strengths, weakest first, as in Python: `-x**2` is `-(x**2)`, `2*x**2` is `2*(x**2)`.
SUM, PRODUCT, NEGATION, POWER, ATOM = range(5)

BINARY: dict[str, tuple[Callable[[Array, Array], Array], int]] = {
    "+": (np.add, SUM),
    "-": (np.subtract, SUM),
    "*": (np.multiply, PRODUCT),
    "/": (np.divide, PRODUCT),
    "**": (np.power, POWER),
    "^": (np.power, POWER),
}

VARIABLES: list[Formula] = [("x", lambda x, y: x, ATOM), ("y", lambda x, y: y, ATOM)]

NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=20).map(str),
    st.floats(min_value=0, max_value=1e6).map(repr),
)


def _operand(formula: Formula, strength: int, *, tie_binds: bool) -> str:
    """The formula's text, bracketed only where Python's precedence would regroup it."""
    text, _, own = formula
    return text if own > strength or (own == strength and tie_binds) else f"({text})"


def _binary(symbol: str, left: Formula, right: Formula) -> Formula:
    ufunc, strength = BINARY[symbol]
    # `**` groups to the right, everything else to the left.
    left_text = _operand(left, strength, tie_binds=strength != POWER)
    right_text = _operand(right, strength, tie_binds=strength == POWER)
    f, g = left[1], right[1]
    return f"{left_text} {symbol} {right_text}", lambda x, y: ufunc(f(x, y), g(x, y)), strength


def _number(text: str) -> Formula:
    value = np.float64(float(text))
    return text, lambda x, y: value, ATOM


@st.composite
def formulas(draw: st.DrawFn, depth: int = 4) -> Formula:
    """A formula that uses `x` or `y`: its text, the same formula in NumPy, its precedence.

    Numbers appear only beside a part with a variable, so no subtree is constant: the engine
    folds constants on scalars, and a scalar loop may round differently from an array loop.
    """
    if depth == 0 or draw(st.integers(min_value=0, max_value=3)) == 0:
        return draw(st.sampled_from(VARIABLES))
    kind = draw(st.sampled_from(["negate", "call", "both", "number-left", "number-right"]))
    inner = draw(formulas(depth - 1))
    f = inner[1]
    if kind == "negate":
        text = "-" + _operand(inner, NEGATION, tie_binds=True)
        return text, lambda x, y: np.negative(f(x, y)), NEGATION
    if kind == "call":
        name = draw(st.sampled_from(sorted(UNARY)))
        unary = UNARY[name]
        return f"{name}({inner[0]})", lambda x, y: unary(f(x, y)), ATOM
    symbol = draw(st.sampled_from(sorted(BINARY)))
    if kind == "both":
        return _binary(symbol, inner, draw(formulas(depth - 1)))
    number = _number(draw(NUMBERS))
    if kind == "number-left":
        return _binary(symbol, number, inner)
    return _binary(symbol, inner, number)


# Mostly moderate values, where every function is away from overflow and rounding shows; some
# from the whole float64 line, with its infinities, NaN and subnormals.
POINTS = hnp.arrays(
    np.float64, 6, elements=st.floats(min_value=-50, max_value=50) | st.floats(width=64)
)


@settings(max_examples=300, deadline=None)
@given(formula=formulas(), x=POINTS, y=POINTS)
def test_random_formula_evaluates_like_the_same_formula_in_numpy(
    formula: Formula, x: Array, y: Array
) -> None:
    text, reference, _ = formula
    actual = parse(text).bind(variables=["x", "y"])([x, y])
    with np.errstate(all="ignore"):
        expected = reference(x, y)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, equal_nan=True)


GRAMMAR_CHARACTERS = "x0123456789.+-*/^()[],<>=eE_ abcnpsigmqrtlo"


def _parses_or_refuses_cleanly(text: str) -> None:
    """Parsing succeeds and evaluates, or fails with an ExpressionError naming a real column."""
    try:
        expression = parse(text)
    except ExpressionError as exc:
        column = exc.context.get("column")
        assert column is None or 1 <= column <= len(text) + 1
        return
    if expression.vector_variable is not None:
        order, dimension = None, expression.min_dimension
    else:
        order = list(expression.variables) or ["t"]
        dimension = len(order)
    if dimension <= 1000:
        result = expression.bind(order)([np.linspace(-2.0, 2.0, 3)] * dimension)
        assert result.shape == (3,)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=GRAMMAR_CHARACTERS, max_size=60))
def test_random_grammar_text_parses_or_raises_an_expression_error(text: str) -> None:
    _parses_or_refuses_cleanly(text)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_random_unicode_text_parses_or_raises_an_expression_error(text: str) -> None:
    _parses_or_refuses_cleanly(text)


@pytest.mark.parametrize("errors", ["surrogateescape", "replace"])
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_random_bytes_parse_or_raise_an_expression_error(data: bytes, errors: str) -> None:
    _parses_or_refuses_cleanly(data.decode("utf-8", errors=errors))


def test_a_comment_is_refused_rather_than_silently_dropped() -> None:
    with pytest.raises(ExpressionError, match=r"`#` at column 5 is not allowed"):
        parse("2*x #+ 1")


def test_an_expression_evaluates_on_an_n_vars_by_n_points_array() -> None:
    points = np.array([[3.0, 0.0, 1.0], [4.0, 2.0, 1.0]])
    np.testing.assert_allclose(parse("x0**2 + x1**2")(points), [25.0, 4.0, 2.0])


def test_a_one_variable_expression_evaluates_on_an_n_points_array() -> None:
    np.testing.assert_allclose(parse("0.01*x**2 + 0.1*x")(np.array([5.0, 10.0])), [0.75, 2.0])


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.0, -0.0], id="zero-then-minus-zero"),
        pytest.param([-0.0, 0.0], id="minus-zero-then-zero"),
        pytest.param([5e-324, -5e-324, 0.0, -0.0], id="subnormals-and-zeros"),
    ],
)
def test_a_bound_function_is_cached_by_the_exact_bits_of_its_parameters(
    values: list[float],
) -> None:
    # 0.0 == -0.0 and both hash alike, but arctan2 tells them apart: a cache keyed by
    # value gave one request the other's function (4.14159 instead of −2.14159).
    expression = parse("arctan2(a, -1) + x + 0*b")
    x = np.array([1.0])
    for value in values:
        got = expression.bind(["x"], {"a": value, "b": 1.0})([x])
        np.testing.assert_array_equal(got, np.arctan2(value, -1.0) + x)


# ---------------------------------------------------------------- any text at all

MATH_TEXT = st.text(
    alphabet=st.sampled_from(list("xyz012 .+-*/^()[]{}|!=,;:'\"\\$#?&@~%<>eE_abcsinlogπ²×")),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(MATH_TEXT)
def test_any_text_parses_or_is_refused_in_our_own_words(text: str) -> None:
    try:
        parse(text)
    except ExpressionError as error:
        message = error.detail
        assert message.endswith((".", "?")), message
        for phrase in ("invalid syntax", "was never closed", "unmatched", "Perhaps", "Maybe"):
            assert phrase not in message
