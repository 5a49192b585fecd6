"""Exact derivatives: the expression's text read by sympy, differentiated, evaluated by mpmath.

Every number in the text becomes the exact rational value of the float64 it denotes (as do
`pi` and `e`), and points are exact too: the oracle differentiates the very function the
runners evaluate, only without rounding. The symbolic derivative is evaluated by mpmath at
50 significant digits and again at 80; the two must round to the same float64 (or shrink
together towards an exact 0), else the case is refused.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

from app.expressions.whitelist import ALIASES  # the language's names, not its evaluation

from .cases import Case, Kind

DIGITS = 50
CHECK_DIGITS = 80


def _cbrt(x: sp.Expr) -> sp.Expr:
    # numpy's cbrt is real for negative x; sympy's is the principal (complex) root
    return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)


def _where(condition: Any, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return sp.Piecewise((a, condition), (b, True))


# Nabla's functions (app/expressions/whitelist.py), in sympy's terms.
FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "arctan2": sp.atan2,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "arcsinh": sp.asinh,
    "arccosh": sp.acosh,
    "arctanh": sp.atanh,
    "exp": sp.exp,
    "expm1": lambda x: sp.exp(x) - 1,
    "exp2": lambda x: sp.Integer(2) ** x,
    "log": sp.log,
    "log1p": lambda x: sp.log(1 + x),
    "log2": lambda x: sp.log(x) / sp.log(2),
    "log10": lambda x: sp.log(x) / sp.log(10),
    "sqrt": sp.sqrt,
    "cbrt": _cbrt,
    "abs": sp.Abs,
    "sign": sp.sign,
    "pow": sp.Pow,
    "hypot": lambda a, b: sp.sqrt(a**2 + b**2),
    "minimum": sp.Min,
    "maximum": sp.Max,
    "where": _where,
    "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
    "relu": lambda x: sp.Max(x, 0),
    "softplus": lambda x: sp.log(1 + sp.exp(x)),
}
CONSTANTS = {
    "pi": sp.Rational(*Fraction(3.141592653589793).as_integer_ratio()),
    "e": sp.Rational(*Fraction(2.718281828459045).as_integer_ratio()),
}
PREFIXES = {"np", "numpy", "math"}


def exact_number(literal: str) -> str:
    """A number's text as the exact value of the float64 it denotes (integers stay exact)."""
    if literal.isdigit():
        return f"Integer({literal})"
    numerator, denominator = float(literal).as_integer_ratio()
    return f"Rational({numerator}, {denominator})"


def sympy_source(text: str) -> str:
    """Nabla's text in sympy's syntax: exact numbers, `^` as power, no module prefixes."""
    plain = re.sub(r"\b(?:np|numpy|math)\.", "", text.replace("^", "**"))
    tokens = tokenize.generate_tokens(io.StringIO(plain).readline)
    out = [
        (tokenize.NAME, exact_number(t.string)) if t.type == tokenize.NUMBER else (t.type, t.string)
        for t in tokens
    ]
    return tokenize.untokenize(out).strip()


def to_sympy(text: str, variables: Sequence[str]) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The expression and its variables (real symbols, so that |x|' = sign(x))."""
    symbols = [sp.Symbol(name, real=True) for name in variables]
    names: dict[str, Any] = {"Integer": sp.Integer, "Rational": sp.Rational}
    names |= CONSTANTS | FUNCTIONS | {a: FUNCTIONS[n] for a, n in ALIASES.items()}
    names |= dict(zip(variables, symbols, strict=True))
    expression = parse_expr(sympy_source(text), local_dict=names)
    unknown = expression.free_symbols - set(symbols)
    if unknown:
        raise ValueError(f"{text!r} uses {sorted(map(str, unknown))}, not among its variables")
    return expression, symbols


def derivatives(expression: sp.Expr, symbols: list[sp.Symbol], kind: Kind) -> list[sp.Expr]:
    """f' or f'' (one entry), the gradient, or the Hessian row by row."""
    if kind == "d1":
        return [sp.diff(expression, symbols[0])]
    if kind == "d2":
        return [sp.diff(expression, symbols[0], 2)]
    gradient = [sp.diff(expression, s) for s in symbols]
    if kind == "gradient":
        return gradient
    return [sp.diff(g, s) for g in gradient for s in symbols]


def nearest_float(value: mpmath.mpf) -> float:
    """The float64 nearest to an mpmath number (float() of an mpf rounds towards zero)."""
    number = mpmath.mpf(value)
    mantissa, exponent = number.man_exp  # |number| = mantissa·2^exponent
    magnitude = float(Fraction(mantissa) * Fraction(2) ** exponent) if mantissa else 0.0
    return -magnitude if number < 0 else magnitude


def numeric(derivative: sp.Expr) -> sp.Expr:
    """Steps and spikes (from |x|, min, max, where) as mpmath can evaluate them: points are
    never on a kink, where DiracDelta would be non-zero."""
    derivative = derivative.replace(sp.DiracDelta, lambda *args: sp.Integer(0))
    return derivative.replace(sp.Heaviside, lambda x, *_: sp.Piecewise((1, x > 0), (0, True)))


def evaluate(function: Callable[..., Any], point: Sequence[float], digits: int) -> list[Any]:
    with mpmath.workdps(digits):
        return list(function(*(mpmath.mpf(x) for x in point)))


def rounded(values: Sequence[Any], where: str) -> float:
    """The value at DIGITS as float64, if the value at CHECK_DIGITS agrees. An exact zero
    shows as rounding noise instead, which shrinks as the precision grows: the value at
    twice CHECK_DIGITS tells the two apart."""
    value, check, deep = (mpmath.re(v) for v in values)
    if nearest_float(value) == nearest_float(check):
        return nearest_float(value)
    if abs(deep) <= abs(check) * mpmath.mpf(10) ** -(CHECK_DIGITS // 2):
        return 0.0
    raise ValueError(f"{where}: {value} at {DIGITS} digits but {check} at {CHECK_DIGITS}")


def exact_values(case: Case) -> list[float]:
    """The exact derivative of `case`, rounded to float64 component by component."""
    expression, symbols = to_sympy(case.expression, case.variables)
    terms = [numeric(d) for d in derivatives(expression, symbols, case.kind)]
    function = sp.lambdify(symbols, terms, modules="mpmath")
    runs = [evaluate(function, case.point, n) for n in (DIGITS, CHECK_DIGITS, 2 * CHECK_DIGITS)]
    for value in runs[0]:
        if not (mpmath.isfinite(value) and mpmath.im(value) == 0):
            raise ValueError(f"{case.id}: the derivative is not a finite real number ({value})")
    return [rounded(values, case.id) for values in zip(*runs, strict=True)]
