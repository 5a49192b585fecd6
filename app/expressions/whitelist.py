"""What users may write: the functions, constants and operators, and the limits checked first."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import special  # type: ignore[import-untyped]

Array: TypeAlias = npt.NDArray[Any]


Function: TypeAlias = Callable[[Sequence[Array]], Array]


@dataclass(frozen=True)
class Limits:
    """Bounds checked before the expensive step they protect."""

    max_length: int = 1000
    max_depth: int = 64
    max_nodes: int = 500


def _sigmoid(x: Array) -> Array:
    # 1/(1+e^-x) where x >= 0 and e^x/(1+e^x) where x < 0: the exponential stays <= 1, so
    # nothing overflows, and both forms keep full relative precision in the left tail, which
    # 0.5 + 0.5*tanh(x/2) loses to cancellation (it returns 0 for x < -37). Both forms are the
    # same holomorphic function, so the complex step still works.
    right = np.real(x) >= 0
    t = np.exp(np.where(right, -x, x))
    return np.where(right, 1 / (1 + t), t / (1 + t))


def _softplus(x: Array) -> Array:
    if np.iscomplexobj(x):
        # log(1+e^x) = x + log(1+e^-x): pick the branch that does not overflow.
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _reflected(z: Array) -> tuple[Array, Array]:
    """For complex z: sin(πz), with the sign that makes its real part positive, and 1 − z.

    The complex step puts h = 1e-20 in the imaginary part; scipy's complex Γ and log Γ lose
    it for Re z < 0 (log Γ carries an offset of 2πk there, next to which 1e-20 is below
    rounding). The reflection Γ(z)·Γ(1 − z) = π/sin(πz) moves the work to Re > 1/2, where
    they keep it: an identity, so the values are unchanged."""
    sine = np.sin(np.pi * z)
    return sine * np.where(sine.real < 0, -1.0, 1.0), 1.0 - z


def _gamma(x: Array) -> Array:
    if not np.iscomplexobj(x):
        return np.asarray(special.gamma(x))
    sine = np.sin(np.pi * x)
    left = np.pi / (sine * special.gamma(1.0 - x))
    return np.asarray(np.where(x.real < 0.5, left, special.gamma(x)))


def _lgamma(x: Array) -> Array:
    if not np.iscomplexobj(x):
        return np.asarray(special.gammaln(x))  # log|Γ(x)|, also where Γ(x) < 0
    # log|Γ| continued off the real axis: log Γ where Γ > 0, log(−Γ) where Γ < 0 (both
    # holomorphic), through the reflection on the left half.
    positive_sine, one_minus = _reflected(x)
    left = math.log(math.pi) - np.log(positive_sine) - special.loggamma(one_minus)
    return np.asarray(np.where(x.real < 0.5, left, special.loggamma(x)))


def _heaviside(x: Array, at_zero: Array) -> Array:
    return np.asarray(np.heaviside(x, at_zero))


def _clip(x: Array, low: Array, high: Array) -> Array:
    return np.minimum(np.maximum(x, low), high)


def _polygamma(n: Array, x: Array) -> Array:
    return np.asarray(special.polygamma(np.asarray(n).astype(np.int64), x))


def _norm(x: Array) -> Array:
    squares: Array = np.asarray(np.sum(x * x, axis=0))
    return np.sqrt(squares)


def _dot(a: Array, b: Array) -> Array:
    return np.asarray(np.sum(a * b, axis=0))


@dataclass(frozen=True)
class Func:
    """A whitelisted function: its NumPy implementation and what the engine must know."""

    impl: Callable[..., Array]
    arity: int
    analytic: bool = True  # safe for the complex step (holomorphic where defined)
    reduction: bool = False  # reduces a vector argument to one value per point
    fewest: int | None = None  # fewest arguments when the last ones are optional


FUNCTIONS: dict[str, Func] = {
    "sin": Func(np.sin, 1),
    "cos": Func(np.cos, 1),
    "tan": Func(np.tan, 1),
    "arcsin": Func(np.arcsin, 1),
    "arccos": Func(np.arccos, 1),
    "arctan": Func(np.arctan, 1),
    "arctan2": Func(np.arctan2, 2, analytic=False),
    "sinh": Func(np.sinh, 1),
    "cosh": Func(np.cosh, 1),
    "tanh": Func(np.tanh, 1),
    "arcsinh": Func(np.arcsinh, 1),
    "arccosh": Func(np.arccosh, 1),
    "arctanh": Func(np.arctanh, 1),
    "exp": Func(np.exp, 1),
    "expm1": Func(np.expm1, 1),
    "exp2": Func(np.exp2, 1),
    "log": Func(np.log, 2, fewest=1),  # log(x, base) becomes log(x)/log(base)
    "log1p": Func(np.log1p, 1),
    "log2": Func(np.log2, 1),
    "log10": Func(np.log10, 1),
    "sqrt": Func(np.sqrt, 1),
    "cbrt": Func(np.cbrt, 1, analytic=False),
    "abs": Func(np.abs, 1, analytic=False),
    "sign": Func(np.sign, 1, analytic=False),
    "floor": Func(np.floor, 1, analytic=False),
    "ceil": Func(np.ceil, 1, analytic=False),
    "pow": Func(np.power, 2),
    "hypot": Func(np.hypot, 2, analytic=False),
    "minimum": Func(np.minimum, 2, analytic=False),
    "maximum": Func(np.maximum, 2, analytic=False),
    "where": Func(np.where, 3, analytic=False),
    "erf": Func(special.erf, 1),
    "erfc": Func(special.erfc, 1),
    "gamma": Func(_gamma, 1),
    "lgamma": Func(_lgamma, 1),
    "digamma": Func(special.psi, 1),
    # polygamma(n, x): scipy evaluates it for real x only, so no complex step.
    "polygamma": Func(_polygamma, 2, analytic=False),
    "square": Func(np.square, 1),
    "sinc": Func(np.sinc, 1),  # sin(πx)/(πx), NumPy's normalized sinc
    "heaviside": Func(_heaviside, 2, analytic=False, fewest=1),
    "clip": Func(_clip, 3, analytic=False),
    "sigmoid": Func(_sigmoid, 1),
    "relu": Func(_relu, 1, analytic=False),
    "softplus": Func(_softplus, 1),
    "sum": Func(lambda x: np.sum(x, axis=0), 1, reduction=True),
    "prod": Func(lambda x: np.prod(x, axis=0), 1, reduction=True),
    "mean": Func(lambda x: np.mean(x, axis=0), 1, reduction=True),
    "norm": Func(_norm, 1, reduction=True),
    "dot": Func(_dot, 2, reduction=True),
}


ALIASES: dict[str, str] = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "atan2": "arctan2",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "ln": "log",
    "power": "pow",
    "absolute": "abs",
    "fabs": "abs",
    "max": "maximum",
    "min": "minimum",
    "sgn": "sign",
}


# `inf` and `nan` exist so that every exact derivative prints as text that parses back.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}


MODULE_PREFIXES = frozenset({"np", "numpy", "math"})


BINARY_OPS: dict[type[ast.operator], tuple[str, Callable[..., Array]]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.divide),
    ast.Pow: ("**", np.power),
    ast.Mod: ("%", np.mod),
}


COMPARISONS: dict[type[ast.cmpop], tuple[str, Callable[..., Array]]] = {
    ast.Lt: ("<", np.less),
    ast.LtE: ("<=", np.less_equal),
    ast.Gt: (">", np.greater),
    ast.GtE: (">=", np.greater_equal),
    ast.Eq: ("==", np.equal),
    ast.NotEq: ("!=", np.not_equal),
}


# Names of AST nodes users may write by accident, for a message better than the class name.
_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.IfExp: "conditional expressions (use `where(cond, a, b)`)",
    ast.BoolOp: "`and`/`or` (use `where` with a comparison)",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "strings",
    ast.NamedExpr: "assignments",
    ast.Await: "`await` expressions",
    ast.Yield: "`yield` expressions",
    ast.YieldFrom: "`yield` expressions",
    ast.Starred: "starred arguments",
    ast.Slice: "slices",
}


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
