"""Stencils and their options: Fornberg weights, the types and constants every part shares."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .exceptions import MethodUnavailable, OptionError

Array: TypeAlias = npt.NDArray[Any]
Function: TypeAlias = Callable[[Sequence[Array]], Array]
Method: TypeAlias = Literal["central", "forward", "backward", "complex"]
Indexing: TypeAlias = Literal["xy", "ij"]


METHODS: tuple[Method, ...] = ("central", "forward", "backward", "complex")
ACCURACIES = (1, 2, 4, 6, 8)
EPS = float(np.finfo(np.float64).eps)
LARGEST = float(np.finfo(np.float64).max)
PROBE_LEVELS = 5  # smaller steps an error bound tries (`bounds.PROBES`)
COMPLEX_BOUND_EVALUATIONS = 8  # complex steps an error bound adds (`bounds`)
COMPLEX_STEP = 1e-20  # relative: Im f(x + ih)/h has no cancellation, any tiny h works


@dataclass(frozen=True)
class Stencil:
    """Offsets (in steps) and weights of a finite-difference formula; zero weights dropped."""

    offsets: tuple[int, ...]
    weights: tuple[float, ...]
    order: int  # which derivative
    accuracy: int  # truncation error O(h^accuracy)

    @property
    def center_weight(self) -> float:
        return dict(zip(self.offsets, self.weights, strict=True)).get(0, 0.0)


def fornberg_weights(offsets: Sequence[int], order: int) -> list[Fraction]:
    """Weights of the `order`-th derivative at 0 on integer `offsets` (Fornberg, 1988).

    The recursion builds the Lagrange interpolant through the nodes one node at a time;
    `c[j][k]` holds the weight of node j for the k-th derivative. Exact in rationals.
    """
    nodes = [Fraction(o) for o in offsets]
    c = [[Fraction(0)] * (order + 1) for _ in nodes]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    for i in range(1, len(nodes)):
        c2 = Fraction(1)
        for j in range(i):
            c3 = nodes[i] - nodes[j]
            c2 *= c3
            if j == i - 1:
                for k in range(min(i, order), 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - nodes[i - 1] * c[i - 1][k]) / c2
                c[i][0] = -c1 * nodes[i - 1] * c[i - 1][0] / c2
            for k in range(min(i, order), 0, -1):
                c[j][k] = (nodes[i] * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = nodes[i] * c[j][0] / c3
        c1 = c2
    return [row[order] for row in c]


@lru_cache(maxsize=64)
def stencil(method: Method, accuracy: int, order: int = 1) -> Stencil:
    """The standard central or one-sided stencil of the given truncation order."""
    if method == "central":
        # 2·⌊(m+1)/2⌋ − 1 + p points, symmetric about 0.
        half = (2 * ((order + 1) // 2) - 1 + accuracy) // 2
        offsets = list(range(-half, half + 1))
    else:
        sign = 1 if method == "forward" else -1
        offsets = [sign * k for k in range(order + accuracy)]
    weights = fornberg_weights(offsets, order)
    kept = [(o, float(w)) for o, w in zip(offsets, weights, strict=True) if w != 0]
    return Stencil(
        offsets=tuple(o for o, _ in kept),
        weights=tuple(w for _, w in kept),
        order=order,
        accuracy=accuracy,
    )


@dataclass(frozen=True)
class Tolerance:
    """|error| ≤ atol + rtol·|D|, as scipy.differentiate's `atol` and `rtol` (`tolerance`)."""

    rtol: float = 0.0
    atol: float = 0.0


@dataclass(frozen=True)
class Options:
    """Validated options shared by every derivative routine."""

    method: Method = "central"
    step: float | None = None
    accuracy: int = 2
    order: int = 1
    error_estimate: bool = False
    tolerance: Tolerance | None = None


def check_options(
    method: str,
    step: float | None,
    accuracy: int,
    order: int,
    error_estimate: bool,
    tolerance: Tolerance | None = None,
) -> Options:
    """Validate options apart from the algorithm; raise `OptionError` with a fix."""
    if method not in METHODS:
        raise OptionError(
            f"`method` must be one of {', '.join(METHODS)}; got {method!r}.", field="method"
        )
    if step is not None and not (np.isfinite(step) and step > 0):
        raise OptionError(f"`step` must be a positive finite number; got {step}.", field="step")
    if accuracy not in ACCURACIES:
        raise OptionError(
            f"`accuracy` must be one of 1, 2, 4, 6, 8; got {accuracy}.", field="accuracy"
        )
    if method == "central" and accuracy % 2:
        raise OptionError(
            "`accuracy` must be even for the central method (2, 4, 6 or 8), "
            f"not {accuracy}; odd orders exist only for `forward` and `backward`.",
            field="accuracy",
        )
    if order not in (1, 2):
        raise OptionError(f"`order` must be 1 or 2; got {order}.", field="order")
    if method == "complex" and order != 1:
        raise MethodUnavailable(
            "the `complex` method computes first derivatives only; use `central` for order 2.",
            field="method",
        )
    if tolerance is not None:
        _check_tolerance(tolerance, method, step)
    options = Options(method, step, accuracy, order, error_estimate, tolerance)
    _check_step_floor(options)
    return options


def _check_tolerance(tolerance: Tolerance, method: str, step: float | None) -> None:
    for name in ("rtol", "atol"):
        value = getattr(tolerance, name)
        if not (math.isfinite(value) and value >= 0):
            raise OptionError(
                f"`tolerance.{name}` must be a finite number ≥ 0; got {value}.", field="tolerance"
            )
    if tolerance.rtol == 0 and tolerance.atol == 0:
        raise OptionError(
            '`tolerance` needs `rtol` or `atol` above 0, such as {"rtol": 1e-12}.',
            field="tolerance",
        )
    if method != "central" or step is not None:
        raise OptionError(
            "`tolerance` works with the `central` method and the automatic step; omit "
            "`method` and `step`, or omit `tolerance`.",
            field="tolerance",
        )


def _check_step_floor(options: Options) -> None:
    """Refuse a fixed step below `smallest_step`: a mistake of the request, not of f.

    Below it every estimate at every point is ±inf or NaN whatever f is, so answering
    200 with nothing but nulls (what NumPy's inf and NaN would give) would blame f for
    the step; the client is told the smallest step that gives numbers instead.
    """
    step = options.step
    if step is None:
        return
    least = smallest_step(options.method, options.accuracy, options.order, options.error_estimate)
    if step < least:
        kind, power = ("first", "h") if options.order == 1 else ("second", "h²")
        raise OptionError(
            f"`step` {step!r} is too small for a {kind} derivative: the stencil's weights "
            f"divided by {power} overflow, so no estimate would be a number; use a step of "
            f"at least {least!r}.",
            field="step",
        )


def error_accuracy(accuracy: int) -> int:
    """The accuracy of the second estimate an error estimate compares with: the next one
    up (2 after 1), or 6 for 8, the highest."""
    higher = accuracy + (1 if accuracy == 1 else 2)
    return higher if higher <= ACCURACIES[-1] else accuracy - 2


@lru_cache(maxsize=64)
def smallest_step(method: Method, accuracy: int, order: int, error_estimate: bool = False) -> float:
    """The smallest fixed step h for which the stencil sums can give a number.

    A stencil sum multiplies differences of f by w_k / h^m. Below this step one of those
    factors overflows to inf (or h^m underflows to 0: h² is 0 below 1.6e-162), and each
    estimate is ±inf or NaN at every point for any f. At it or above, every factor is
    finite; whether the estimate is any good is the step's business (the step study shows
    how bad 1e-50 is), not a question of floating-point range. With an error estimate the
    second stencil counts too. The complex step divides Im f(x + ih) by h itself and has
    no such floor: any positive step is a number.
    """
    if method == "complex":
        return math.ulp(0.0)
    rules = [stencil(method, accuracy, order)]
    if error_estimate:
        rules.append(stencil(method, error_accuracy(accuracy), order))
    largest = max(abs(w) for rule in rules for w in rule.weights)

    def usable(h: float) -> bool:
        power = h if order == 1 else h * h  # as `stencil_sum` computes it
        return power > 0.0 and math.isfinite(largest / power)

    h = float((largest / LARGEST) ** (1.0 / order))
    while not usable(h):
        h = math.nextafter(h, math.inf)
    while usable(math.nextafter(h, 0.0)):
        h = math.nextafter(h, 0.0)
    return h


def hessian_evaluations(
    dimension: int,
    *,
    method: str = "central",
    accuracy: int = 2,
    error_estimate: bool = False,
    automatic_step: bool = True,
) -> int:
    """Evaluations of f per point for a Hessian (`second.hessian`), f itself included.

    Central, accuracy p: p per axis on the diagonal and p² per mixed pair (the product of
    two first-difference stencils), each twice with an automatic step (the check at a
    quarter of it); an error estimate adds the next accuracy's (q per axis, q² per pair)
    and the diagonal's smaller steps (`bounds`). Complex: p complex-step evaluations per
    term of the upper triangle, and the q − p the next accuracy adds (its bound, always).
    """
    pairs = dimension * (dimension - 1) // 2
    if method == "complex":  # its bound is computed anyway, for the flags
        per_term = max(accuracy, error_accuracy(accuracy))
        return 1 + (dimension + pairs) * per_term
    checks = 2 if automatic_step else 1
    diagonal, mixed = accuracy * checks, accuracy * accuracy * checks
    if error_estimate:
        higher = error_accuracy(accuracy)
        diagonal += higher + PROBE_LEVELS * accuracy
        mixed += higher * higher
    return 1 + dimension * diagonal + pairs * mixed


def evaluation_count(
    method: str,
    accuracy: int,
    order: int,
    dimension: int,
    error_estimate: bool,
    *,
    automatic_step: bool = False,
) -> int:
    """Evaluations of f per point: f itself, plus each off-center stencil point per coordinate
    (and, with an automatic step, the offset a first derivative's check adds, or the
    stencil again at h/4 for a second derivative)."""
    if method == "complex":  # the bound: D at 3 more steps, at x + δ, and 4 noise probes
        per_coordinate = 1 + (COMPLEX_BOUND_EVALUATIONS if error_estimate else 0)
    else:
        rule = stencil(method, accuracy, order)
        if automatic_step and order == 1:
            per_coordinate = len(_checked_offsets(rule))
        else:  # with an automatic step, second derivatives are checked at h/4
            per_coordinate = len(_off_center(rule)) * (2 if automatic_step else 1)
        if error_estimate:  # the comparison stencil's off-center points, evaluated anew,
            # and the stencil's at each smaller step the bound probes (`bounds`)
            per_coordinate += len(_off_center(stencil(method, error_accuracy(accuracy), order)))
            per_coordinate += PROBE_LEVELS * len(_off_center(rule))
    return 1 + dimension * per_coordinate


def arrays_alive(dimension: int, *, error_estimate: bool = False, hessian: bool = False) -> int:
    """Float arrays of one value per point that the engine holds at once: the points (the
    caller's and the engine's transposed copy), f, and per coordinate the estimate and its
    step (and error), each once more as the caller's contiguous copy of the result; for a
    Hessian, the d×d estimates per point and the steps, and with `error_estimate` their
    d×d bounds and the two d×d temporaries that compare them (`bounds.untrusted`: measured
    264 MiB for 20,000 points of 20 variables, 117 MiB counted without them). Each
    evaluation of f adds a temporary per level of the expression, on at most `BLOCK` points
    (a Hessian: all)."""
    if hessian:
        squares = 4 if error_estimate else 1
        return 2 * dimension + 1 + dimension + squares * dimension * dimension
    per_coordinate = 2 + 2 * (2 if error_estimate else 1)
    return 2 + dimension * per_coordinate


@lru_cache(maxsize=64)
def _off_center(rule: Stencil) -> tuple[int, ...]:
    return tuple(o for o in rule.offsets if o != 0)


@lru_cache(maxsize=64)
def _checked_offsets(rule: Stencil) -> tuple[int, ...]:
    """A first-derivative stencil's off-center offsets, and the one its check adds: 2 for
    a central stencil (`step_too_wide`), ±(p+1) for a one-sided one (`one_sided_too_wide`)."""
    offsets = _off_center(rule)
    if min(rule.offsets) < 0 < max(rule.offsets):
        return offsets if 2 in offsets else (*offsets, 2)
    sign = 1 if max(rule.offsets) > 0 else -1
    return (*offsets, sign * (rule.accuracy + 1))


@lru_cache(maxsize=64)
def _pairs(rule: Stencil) -> tuple[tuple[int, float, int], ...]:
    """(offset, weight, partner): partner −1 pairs f(x+oh) − f(x−oh), +1 pairs the sum."""
    weights = dict(zip(rule.offsets, rule.weights, strict=True))
    terms: list[tuple[int, float, int]] = []
    for offset in sorted(weights, key=lambda o: (abs(o), -o)):
        weight, mirror = weights[offset], weights.get(-offset)
        if offset < 0 and any(t[0] == -offset and t[2] for t in terms):
            continue  # already taken as the partner of +offset
        partner = 0
        if offset > 0 and mirror is not None:
            partner = -1 if mirror == -weight else 1 if mirror == weight else 0
        terms.append((offset, weight, partner))
    return tuple(terms)
