"""The stencil sum: one partial derivative of f along one coordinate, at all points at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .checks import StepCheck, one_sided_too_wide, step_too_wide
from .stencils import (
    Array,
    Function,
    Options,
    Stencil,
    _pairs,
    stencil,
)


def _replace(rows: Sequence[Array], j: int, row: Array) -> list[Array]:
    # Only row j is new; the others are passed as they are (no copies of the points).
    return [row if i == j else r for i, r in enumerate(rows)]


def partial(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    rule: Stencil,
    center: Array | None = None,
    out: Array | None = None,
    unsure: StepCheck | None = None,
) -> Array:
    """Σ_k w_k f(x + o_k·h·e_j) / h^m: the m-th partial derivative along coordinate j.

    `center` is f(x) when the caller has it already (the stencil's 0 offset reuses it);
    `out`, if given, receives the result; `unsure`, see `stencil_sum`.
    """
    at = lambda offset: _at(f, rows, j, h, offset)  # noqa: E731
    return stencil_sum(at, h, rule, center, out, unsure)


def stencil_sum(
    at: Callable[[int], Array],
    h: Array,
    rule: Stencil,
    center: Array | None = None,
    out: Array | None = None,
    unsure: StepCheck | None = None,
) -> Array:
    """Σ_k w_k at(o_k) / h^m, where at(o) is f(x + o·h·e_j).

    Symmetric offsets are paired: central stencils have w(−o) = ∓w(o), so each pair costs
    one subtraction (or addition) and one multiplication by w/h^m — a factor computed on
    h's own shape, which for a grid is one axis. `unsure`, if given (first derivatives),
    receives in its flags `step_too_wide` of f(x − h), f(x), f(x + h) and f(x + 2h) for a
    central stencil, `one_sided_too_wide` for the others.
    """
    terms = _pairs(rule)
    power = h if rule.order == 1 else h * h
    if rule.order == 2 and not np.isfinite(power).all():
        # h² past float64 (f'' at 1e300, whose least step is 1.5e284): Σ/h² would be 0
        # whatever f is, not a second derivative; not a number says so
        power = np.where(np.isfinite(power), power, np.nan)
    total: Array | None = None
    if unsure is not None:
        at = _remembered(at)  # f(x + 2h) serves the check and, from accuracy 4, the stencil
    for offset, weight, partner in terms:
        value = center if offset == 0 and center is not None else at(offset)
        if partner:
            other = at(-offset)
            plus = value
            value = value - other if partner < 0 else value + other
            if unsure is not None and offset == 1 and partner < 0:
                step_too_wide(plus, other, at(2), value, rule.accuracy, unsure)
        # Multiply by w/h^m (a reciprocal on h's shape): a division per point costs ~4×.
        if len(terms) == 1 and out is not None:  # central accuracy 2: straight into `out`
            return np.multiply(value, weight / power, out=out)
        term = value * (weight / power)
        if total is None or total.shape != term.shape:
            total = term if total is None else total + term
        else:
            total += term
    assert total is not None
    if unsure is not None and not any(partner for _, _, partner in terms):
        values = at if center is None else lambda o: center if o == 0 else at(o)
        one_sided_too_wide(values, rule, total * power, unsure)
    if out is None:
        return total
    out[...] = total
    return out


def _remembered(at: Callable[[int], Array]) -> Callable[[int], Array]:
    seen: dict[int, Array] = {}

    def remembered(offset: int) -> Array:
        if offset not in seen:
            seen[offset] = at(offset)
        return seen[offset]

    return remembered


def _at(f: Function, rows: Sequence[Array], j: int, h: Array, offset: int) -> Array:
    return f(_replace(rows, j, _shift(rows[j], offset, h)))


def _shift(x: Array, offset: int, h: Array) -> Array:
    if offset == 1:
        return x + h
    if offset == -1:
        return x - h
    return np.asarray(x + offset * h)


def complex_partial(f: Function, rows: Sequence[Array], j: int, h: Array) -> Array:
    """Complex step: f'(x) = Im f(x + ih) / h + O(h²), with no subtractive cancellation."""
    complex_rows = [np.asarray(r, dtype=np.complex128) for r in rows]
    shifted = rows[j] + 1j * h
    return np.asarray(f(_replace(complex_rows, j, shifted)).imag / h)


class Gradient(NamedTuple):
    """Gradient of a d-variable function; arrays are (d, *shape) and (*shape)."""

    values: Array
    gradient: Array
    steps: Array | None  # the step per coordinate and point, unless not kept
    errors: Array | None
    # Where an estimate is not to be trusted: per component (d, *shape) inside the engine,
    # per point (*shape) from `gradient` (`bounds.rounding_swamps`, `bounds.untrusted`).
    unreliable: Array | None = None
    # With a `tolerance` (`tolerance.refine_to_tolerance`), per component (d, *shape) inside
    # the engine and per point from `gradient`: whether it was met, and the evaluations of f.
    converged: Array | None = None
    evaluations: Array | None = None
    # Inside the engine, with a `tolerance`: the flagged components whose step is in doubt
    # (a ladder's smaller steps disagree, or the ladder's budget left it unchecked), which
    # a tolerance may not call converged; the others are flagged for rounding alone.
    doubted: Array | None = None


def _estimate(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    options: Options,
    values: Array,
    out: Array,
    unsure: StepCheck | None = None,
) -> Array:
    if options.method == "complex":
        out[...] = complex_partial(f, rows, j, h)
        return out
    rule = stencil(options.method, options.accuracy, options.order)
    return partial(f, rows, j, h, rule, center=values, out=out, unsure=unsure)


class Hessian(NamedTuple):
    values: Array  # (N,)
    hessians: Array  # (N, d, d), symmetric
    steps: Array  # (N, d)
    unreliable: Array | None = None  # (N,): a term may be off by over 1e-6 (`bounds`)
    errors: Array | None = None  # (N, d, d): bounds on each term's error, when asked for
    converged: Array | None = None  # (N,), with a `tolerance`: where it was met
    evaluations: Array | None = None  # (N,), with a `tolerance`: evaluations of f per point
