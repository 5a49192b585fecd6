"""Derivatives of order 3 to 6 at many points: the stencil of any order, and where float64
stops giving digits.

f^(m)(x) ≈ Σ_k w_k f(x + o_k·h) / h^m (Fornberg's weights, `stencils.stencil`), truncation
O(h^p). Each f(x + o·h) is off by a few ulps of |f|, so the sum is off by about
eps·|f|·Σ|w|/h^m: the step that balances the two is h ≈ eps^(1/(p+m))·max(|x|, 1), and the
best relative error is about eps^(p/(p+m))·Σ|w|. The V of error against step moves to larger
steps and higher floors as m grows: for f = exp at 1, central accuracy 2 gives about 1e-7
for f‴, 1e-5 for f⁗ and 1e-2 for the sixth derivative; accuracy 8, 1e-11, 1e-9 and 1e-6.

The automatic step is checked by the next accuracy's stencil on (mostly) the same points
(`error_accuracy`), and a point whose truncation or rounding may exceed FLAG of its value is
flagged `unreliable`; there is no ladder of smaller steps (a smaller step only adds
rounding at these orders). `error_estimate` is that comparison twice plus the rounding of
and inside f, 4·eps·(Σ|w_k·f_k| + |x|·|f(x + h) − f(x)|/h·Σ|w|)/h^m.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .bounds import FLAG, ROUNDING_SAFETY, TRUNCATION_SAFETY
from .checks import representable
from .core import _remembered, _shift
from .exceptions import MethodUnavailable, OptionError
from .first import BLOCK, Derivative
from .stencils import (
    ACCURACIES,
    EPS,
    LARGEST,
    METHODS,
    Array,
    Method,
    Stencil,
    Tolerance,
    error_accuracy,
    stencil,
)

ORDERS = (3, 4, 5, 6)


def higher_evaluations(
    method: str, accuracy: int, order: int, *, error_estimate: bool, automatic_step: bool
) -> int:
    """Evaluations of f per point: f itself, the stencil's off-center points, and the
    comparison stencil's besides (with an automatic step or an error estimate)."""
    offsets = set(_off(stencil(method, accuracy, order)))
    if _compares(method, error_estimate, automatic_step):
        higher = stencil(method, error_accuracy(accuracy), order)
        offsets |= set(_off(higher))
    return 1 + len(offsets)


def _off(rule: Stencil) -> tuple[int, ...]:
    return tuple(o for o in rule.offsets if o != 0)


def _compares(method: str, error_estimate: bool, automatic_step: bool) -> bool:
    # One-sided stencils compare only when asked: their plan (`evaluation_count`) counts
    # the comparison's points only with an error estimate.
    return error_estimate or (automatic_step and method == "central")


def higher_step_floor(method: str, accuracy: int, order: int, error_estimate: bool) -> float:
    """The smallest fixed step whose weights divided by h^m stay finite."""
    rules = [stencil(method, accuracy, order)]
    if error_estimate:
        rules.append(stencil(method, error_accuracy(accuracy), order))
    largest = max(abs(w) for rule in rules for w in rule.weights)
    h = float((largest / LARGEST) ** (1.0 / order))
    while not (h**order > 0 and math.isfinite(largest / h**order)):
        h = math.nextafter(h, math.inf) if h > 0 else math.ulp(0.0)
    return h


def _check(
    method: str, step: float | None, accuracy: int, order: int, error_estimate: bool
) -> None:
    if order not in ORDERS:
        raise OptionError(f"`order` must be 3, 4, 5 or 6 here; got {order}.", field="order")
    if method == "complex":
        raise MethodUnavailable(
            "the `complex` method computes first derivatives only; use `central` for order "
            f"{order}.",
            field="method",
        )
    if method not in METHODS:
        raise OptionError(f"`method` must be one of {', '.join(METHODS)}.", field="method")
    if accuracy not in ACCURACIES or (method == "central" and accuracy % 2):
        raise OptionError(
            "`accuracy` must be 2, 4, 6 or 8 (1 also for one-sided methods).", field="accuracy"
        )
    if step is not None:
        least = higher_step_floor(method, accuracy, order, error_estimate)
        if not (math.isfinite(step) and step >= least):
            raise OptionError(
                f"`step` {step!r} is too small for a derivative of order {order}: the weights "
                f"divided by h^{order} overflow; use a step of at least {least!r}.",
                field="step",
            )


def higher_derivative(
    f: Callable[[Array], Array],
    x: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    order: int = 3,
    accuracy: int = 2,
    error_estimate: bool = False,
    tolerance: Tolerance | None = None,
    refine_limit: int | None = None,
) -> Derivative:
    """f^(m)(x) for m = 3 … 6 at every x, by the stencil of `method` and `accuracy` (O(h^p)).

    Parameters
    ----------
    f : vectorized function of one float64 array.
    x : points.
    method : "central" or one-sided "forward"/"backward".
    step : fixed step, or None for h = eps^(1/(p+m))·max(|x|, 1), made exact.
    order : 3, 4, 5 or 6.
    accuracy : truncation order p.
    error_estimate : also return a bound (see the module's docstring).
    tolerance : not available above order 2 (an `OptionError` says so).
    refine_limit : unused: no ladder at these orders (the signature is `first.derivative`'s).
    """
    del refine_limit
    if tolerance is not None:
        raise OptionError(
            "`tolerance` applies to orders 1 and 2; omit it, or ask for a higher `accuracy`.",
            field="tolerance",
        )
    _check(method, step, accuracy, order, error_estimate)
    points = np.asarray(x, dtype=np.float64)
    flat = points.reshape(-1)
    n = flat.size
    values, estimates, steps = np.empty(n), np.empty(n), np.empty(n)
    errors = np.empty(n) if error_estimate else None
    flags = np.zeros(n, dtype=bool)
    with np.errstate(all="ignore"):
        for start in range(0, max(n, 1), BLOCK):
            block = slice(start, start + BLOCK)
            out = (values[block], estimates[block], steps[block], flags[block])
            bound = _block(f, flat[block], method, step, accuracy, order, error_estimate, out)
            if errors is not None and bound is not None:
                errors[block] = bound

    def shaped(array: Array) -> Array:
        return array if points.ndim == 1 else array.reshape(points.shape)

    return Derivative(
        points,
        shaped(values),
        shaped(estimates),
        shaped(steps),
        None,
        None if errors is None else shaped(errors),
        shaped(flags),
    )


def _block(
    f: Callable[[Array], Array],
    x: Array,
    method: str,
    step: float | None,
    accuracy: int,
    order: int,
    error_estimate: bool,
    out: tuple[Array, Array, Array, Array],
) -> Array | None:
    """One block of points: f, the estimate, its step and flag into `out`; the bound."""
    values, estimates, steps, flags = out
    if step is None:
        h = representable(x, EPS ** (1.0 / (accuracy + order)) * np.maximum(np.abs(x), 1.0))
    else:
        h = np.full(x.shape, step)
    center = np.broadcast_to(f(x), x.shape)
    at = _remembered(lambda offset: np.broadcast_to(f(_shift(x, offset, h)), x.shape))
    rule = stencil(method, accuracy, order)
    power = h**order
    estimate = _sum(at, center, rule) / power
    estimate[~np.isfinite(center)] = np.nan
    values[...], estimates[...], steps[...] = center, estimate, h
    rounding = ROUNDING_SAFETY * EPS * _magnitude(at, center, rule) / power
    if not _compares(method, error_estimate, step is None):
        flags[...] = ~(rounding <= FLAG * np.abs(estimate)) & np.isfinite(estimate)
        return None
    higher = stencil(method, error_accuracy(accuracy), order)
    truncation = TRUNCATION_SAFETY * np.abs(estimate - _sum(at, center, higher) / power)
    # |f(x ± h) − f(x)|/h, the slope on points the stencils have: rounding x inside f
    slope = np.abs(center - at(-1)) if method == "backward" else np.abs(at(1) - center)
    inside = ROUNDING_SAFETY * EPS * np.abs(x) * slope / h * sum(abs(w) for w in rule.weights)
    bound = np.asarray(truncation + rounding + inside / power)
    flags[...] = ~(bound <= FLAG * np.abs(estimate)) & np.isfinite(estimate)
    return bound if error_estimate else None


def _sum(at: Callable[[int], Array], center: Array, rule: Stencil) -> Array:
    total = np.zeros(center.shape)
    for offset, weight in zip(rule.offsets, rule.weights, strict=True):
        total += weight * (center if offset == 0 else at(offset))
    return total


def _magnitude(at: Callable[[int], Array], center: Array, rule: Stencil) -> Array:
    """Σ|w_k·f(x + o_k·h)|: what the rounding of each value adds up to."""
    total = np.zeros(center.shape)
    for offset, weight in zip(rule.offsets, rule.weights, strict=True):
        total += abs(weight) * np.abs(center if offset == 0 else at(offset))
    return total
