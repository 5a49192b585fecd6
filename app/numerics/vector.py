"""Vector calculus: Jacobians, directional derivatives, divergence, curl and Laplacian.

Every result here is a set of partial derivatives of several functions f_1 … f_m along one
coordinate at a time. The m functions are evaluated *together* at each stencil offset: the
points are moved once, each f_i runs on them, and the results are stacked on an expression
axis placed just before the points' own axes (`Stacked`), so that the engine's stencil sums
and error bounds (`core.stencil_sum`, `bounds.error_bound`), which work element by element,
apply to the m functions at once. With an automatic step the step is the engine's
(`checks.steps_for`): it depends on x only, so the m functions share it.

A directional derivative is one such partial: along t of g(t) = f(x + (t − c)·u), centred
at t = c = max(|x|∞, 1) so that the engine's automatic step, eps^(1/(p+1))·max(|t|, 1),
scales with the point and (c + h) − c is h exactly; one stencil, 2 evaluations of f for
central accuracy 2 (1 + 2 with f itself), not the 2·d of ∇f·u.

The automatic step is checked as the engine checks it (`_truncation`: the third difference
on f(x + 2h), or the next accuracy's stencil): a result whose truncation or rounding may
exceed FLAG of the point's largest partial is flagged, and with `error_estimate` the
engine's bound (`bounds.error_bound`: truncation, rounding and smaller steps) decides. A
Jacobian sends those points, and those whose stencil left f's domain, to `first.gradient`
(its ladder of smaller steps), so that /jacobian answers them as /gradient does, and a
directional derivative takes ∇f·u from it there; fields keep the flag, and null where the
stencil left the domain.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from .bounds import FLAG, TRUNCATION_SAFETY, complex_underflow, error_bound, rounding_constant
from .checks import steps_for
from .core import Gradient, _at, _remembered, _shift, complex_partial, stencil_sum
from .exceptions import OptionError, ShapeError
from .fields import MAX_GRID_AXES, grid_rows
from .first import BLOCK, gradient
from .stencils import (
    EPS,
    Array,
    Function,
    Indexing,
    Method,
    Options,
    Tolerance,
    _off_center,
    check_options,
    error_accuracy,
    evaluation_count,
    stencil,
)
from .tolerance import refine_to_tolerance, tolerance_evaluations

Operator = Literal["divergence", "curl", "laplacian"]
OPERATORS: tuple[Operator, ...] = ("divergence", "curl", "laplacian")


class Stacked:
    """f_1 … f_m as one function: their values stacked on the axis `-(core + 1)`, where the
    rows have length 1 (`core` is the number of the points' own axes: 1 for a list of
    points, d for a grid)."""

    def __init__(self, functions: Sequence[Function], core: int) -> None:
        self.functions = list(functions)
        self.axis = -(core + 1)

    def __call__(self, rows: Sequence[Array]) -> Array:
        shape = np.broadcast_shapes(*(np.shape(r) for r in rows))
        parts = [np.broadcast_to(f(rows), shape) for f in self.functions]
        return np.concatenate(parts, axis=self.axis)


class Partials(NamedTuple):
    """∂f_i/∂x_j of the stacked functions along one coordinate: (m, *points) each."""

    estimates: Array
    errors: Array | None
    rounding: Array  # what rounding of f (and, unchecked, truncation) may move each by
    steps: Array


def _partials(
    f: Stacked,
    rows: Sequence[Array],
    j: int,
    options: Options,
    values: Array,
    evaluated: Callable[[int], Array] | None = None,
) -> Partials:
    """The stencil (or complex step) of `options` along coordinate j, and its bound;
    `evaluated(o)`, if given, is f at the stencil's offset o already (`_all_at_once`)."""
    h = steps_for(rows[j], options)
    if options.method == "complex":
        estimates = complex_partial(f, rows, j, h)
        rounding = np.asarray(4 * EPS * np.abs(estimates))
        rounding[complex_underflow(estimates, h, values, rows[j])] = np.inf  # flagged
    else:
        rule = stencil(options.method, options.accuracy, options.order)
        at = evaluated or _remembered(lambda offset: _at(f, rows, j, h, offset))
        estimates = stencil_sum(at, h, rule, center=values)
        power = h if rule.order == 1 else h * h
        rounding = np.asarray(rounding_constant(rule) * np.abs(values) / power)
        if options.step is None and not options.error_estimate:
            truncation = _truncation(at, h, options, values, estimates)
            rounding = np.asarray(rounding + TRUNCATION_SAFETY * truncation)
    errors = None
    if options.error_estimate:
        errors = error_bound(f, rows, j, h, options, values, estimates)
    return Partials(estimates, errors, rounding, h)


def _truncation(
    at: Callable[[int], Array], h: Array, options: Options, values: Array, estimates: Array
) -> Array:
    """The automatic step's check: about D's truncation error. For the default, a central
    first derivative of accuracy 2, h²/6 times the third derivative, from the third
    difference on f(x − h) … f(x + 2h): one evaluation more (as `checks.step_too_wide`);
    otherwise |D − D_q| with the next accuracy q on (mostly) the same points. sin(x) at 1e8
    with h = 600 shows it either way."""
    if options.method == "central" and options.accuracy == 2 and options.order == 1:
        third = at(2) - 3.0 * at(1) + 3.0 * values - at(-1)
        return np.asarray(np.abs(third) / (6.0 * h))
    higher = stencil(options.method, error_accuracy(options.accuracy), options.order)
    return np.asarray(np.abs(estimates - stencil_sum(at, h, higher, center=values)))


def _flagged(estimates: Array, rounding: Array, errors: Array | None, scale: Array) -> Array:
    """Where rounding (or the bound, when there is one) may exceed FLAG of `scale`, the
    point's largest partial: a 0 next to a slope of 5 is as good as the 5. Where every
    partial is exactly 0, f(x ± h) were equal bit for bit along every axis (a field constant
    there, the curl of x0, x1, x2): not flagged, as `bounds.untrusted` does not flag zeros."""
    limit = FLAG * scale
    doubt = rounding if errors is None else np.maximum(rounding, errors)  # NaN: flagged
    flags = ~(doubt <= limit) & np.isfinite(estimates) & (scale > 0)
    # (an infinite rounding is a complex step's lost Im f, `complex_underflow`: flagged
    # even where every partial came out 0)
    return np.asarray(flags | (np.isinf(rounding) & np.isfinite(estimates)))


def _blocks(length: int, per_row: int) -> list[slice]:
    rows = max(1, BLOCK // max(per_row, 1))
    return [slice(start, start + rows) for start in range(0, max(length, 1), rows)]


FEW = 64  # points × coordinates up to which every stencil point goes into one call of f


def _offsets(options: Options) -> tuple[int, ...]:
    """The off-center offsets `_partials` evaluates: the stencil's, and its check's."""
    rule = stencil(options.method, options.accuracy, options.order)
    offsets = set(_off_center(rule))
    if options.step is None:
        offsets |= set(_truncation_offsets(options.method, options.accuracy, options.order))
    return tuple(sorted(offsets))


def _truncation_offsets(method: str, accuracy: int, order: int) -> tuple[int, ...]:
    """The offsets `_truncation` evaluates."""
    if method == "central" and accuracy == 2 and order == 1:
        return (-1, 1, 2)
    return _off_center(stencil(method, error_accuracy(accuracy), order))


def _all_at_once(f: Stacked, rows: Sequence[Array], options: Options) -> tuple[Array, list[Any]]:
    """f at the points and at every stencil point of every coordinate, in one call of each
    function: at a handful of points a call costs its overhead, not its arithmetic (as
    `first._gradient_at_few_points`). The same moved points (`core._shift`), so the same
    bits. Returns f at the points and, per coordinate, offset → f there."""
    x = np.concatenate(rows, axis=0)  # (d, n): each row is (1, n)
    d, n = x.shape
    offsets = _offsets(options)
    columns = [x]
    for j in range(d):
        h = steps_for(rows[j], options)[0]
        for offset in offsets:
            moved = x.copy()
            moved[j] = _shift(x[j], offset, h)
            columns.append(moved)
    evaluated = f([row[None, :] for row in np.concatenate(columns, axis=1)])

    def column(j: int, offset: int) -> Array:
        start = n * (1 + j * len(offsets) + offsets.index(offset))
        return evaluated[:, start : start + n]

    return evaluated[:, :n], [partial_of(column, j) for j in range(d)]


def partial_of(column: Callable[[int, int], Array], j: int) -> Callable[[int], Array]:
    return lambda offset: column(j, offset)


# ---------------------------------------------------------------- Jacobian


class Jacobian(NamedTuple):
    """J_ij = ∂f_i/∂x_j of m functions at N points."""

    values: Array  # (N, m)
    jacobian: Array  # (N, m, d)
    errors: Array | None  # (N, m, d), with `error_estimate`
    unreliable: Array  # (N,): a term may be off by over FLAG of its row's largest
    converged: Array | None = None  # (N,), with a `tolerance`: every term met it
    evaluations: Array | None = None  # (N,), with a `tolerance`: evaluations of each f


def jacobian_evaluations(
    dimension: int,
    *,
    method: str = "central",
    accuracy: int = 2,
    error_estimate: bool = False,
    automatic_step: bool = True,
    tolerance: bool = False,
) -> int:
    """Evaluations of the m functions together per point: f itself and each off-center
    stencil point per coordinate, an error bound's (`evaluation_count`), or without one,
    with an automatic step, the next accuracy's points its check adds; and what a
    tolerance may add (each function apart)."""
    plan = evaluation_count(method, accuracy, 1, dimension, error_estimate)
    plan += dimension * _check_offsets(method, accuracy, 1, error_estimate, automatic_step)
    return plan + (tolerance_evaluations(dimension, 1) if tolerance else 0)


def _check_offsets(
    method: str, accuracy: int, order: int, error_estimate: bool, automatic_step: bool
) -> int:
    """Off-center points the automatic step's check adds to the stencil's, per coordinate."""
    if method == "complex" or error_estimate or not automatic_step:
        return 0
    rule = stencil(method, accuracy, order)
    return len(set(_truncation_offsets(method, accuracy, order)) - set(_off_center(rule)))


def jacobian_arrays(functions: int, dimension: int, *, error_estimate: bool = False) -> int:
    """Float arrays of one value per point alive at once: the points (the caller's and the
    transposed copy), the steps, f and J (and J's bound) with the answer's transposed copies,
    J's rounding, and the scale of each row."""
    terms = functions * dimension
    return 3 * dimension + 3 * functions + terms * (3 + (2 if error_estimate else 0))


def jacobian(
    functions: Sequence[Function],
    points: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    tolerance: Tolerance | None = None,
    refine_limit: int | None = None,
) -> Jacobian:
    """J(x) of f_1 … f_m (each a function of d rows) at N points given as an (N, d) array.

    Costs `jacobian_evaluations` evaluations of the m functions per point, evaluated
    together at each stencil offset: 1 + 2·d for central accuracy 2 (O(h²)) with a given
    step, 1 + 3·d with the automatic one (its check's f(x + 2h)), whatever m.
    Points whose automatic step fails its check, or whose stencil leaves f's domain, are
    re-estimated by `first.gradient` one function at a time (its ladder of smaller steps),
    at most `refine_limit` of them. With a `tolerance` each function is then re-estimated
    apart to it (`tolerance.refine_to_tolerance`: 8th- or 16th-order stencils, steps fitted to f).
    """
    options = check_options(method, step, accuracy, 1, error_estimate, tolerance)
    array = _point_array(points)
    if not functions:
        raise ShapeError("`functions` needs at least one function.", field="functions")
    n, d = array.shape
    rows = [np.ascontiguousarray(array[:, j]).reshape(1, n) for j in range(d)]
    with np.errstate(all="ignore"):
        values, terms, steps, errors, rounding = _jacobian_blocks(functions, rows, options)
        scale = np.max(np.abs(np.nan_to_num(terms)), axis=1, keepdims=True)
        flags = _flagged(terms, rounding, errors, scale)
        limit = sys.maxsize if refine_limit is None else refine_limit
        _by_gradient(functions, array, options, (values, terms, errors, flags), limit)
        converged = counts = None
        if tolerance is not None:
            converged, counts = _jacobian_to_tolerance(
                functions, rows, options, values, terms, steps, errors, flags
            )
    first = jacobian_evaluations(
        d,
        method=method,
        accuracy=accuracy,
        error_estimate=error_estimate,
        automatic_step=step is None,
    )
    return Jacobian(
        np.ascontiguousarray(values.T),
        np.ascontiguousarray(terms.transpose(2, 0, 1)),
        None if errors is None else np.ascontiguousarray(errors.transpose(2, 0, 1)),
        np.asarray(flags.any(axis=(0, 1))),
        converged,
        None if counts is None else counts + first,
    )


def _may_refine(options: Options, limit: int) -> bool:
    """Whether flagged points may be re-estimated by the engine's gradient: not with a
    fixed step, nor the complex step, nor without points to spare."""
    return options.step is None and options.method != "complex" and limit > 0


def _regradient(f: Function, points: Array, options: Options, limit: int) -> Gradient:
    """/gradient's answer at `points`: its step checked, a ladder of others where needed."""
    return gradient(
        f,
        points,
        method=options.method,
        accuracy=options.accuracy,
        error_estimate=options.error_estimate,
        refine_limit=limit,
    )


def _by_gradient(
    functions: Sequence[Function],
    points: Array,
    options: Options,
    out: tuple[Array, Array, Array | None, Array],
    limit: int,
) -> None:
    """The points flagged, or whose estimate is not finite where f is (a stencil across a
    domain edge: d√x/dx at 1e-7), re-estimated in `out` by the engine's gradient, which
    checks its step and climbs down a ladder of smaller ones, as /gradient answers them."""
    values, terms, errors, flags = out
    if not _may_refine(options, limit):
        return
    broken = (~np.isfinite(terms)).any(axis=(0, 1)) & np.isfinite(values).all(axis=0)
    chosen = np.flatnonzero(flags.any(axis=(0, 1)) | broken)[:limit]
    if chosen.size == 0:
        return
    for i, f in enumerate(functions):
        again = _regradient(f, points[chosen], options, limit)
        terms[i][:, chosen] = again.gradient.T
        if errors is not None and again.errors is not None:
            errors[i][:, chosen] = again.errors.T
        assert again.unreliable is not None
        flags[i][:, chosen] = again.unreliable[None, :]


def _point_array(points: npt.ArrayLike) -> Array:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ShapeError(
            "`points` must be a list of points, each a list of d numbers.", field="points"
        )
    return array


def _jacobian_blocks(
    functions: Sequence[Function], rows: Sequence[Array], options: Options
) -> tuple[Array, Array, Array, Array | None, Array]:
    """f (m, n), J (m, d, n), the steps (d, n), the bound and the rounding (m, d, n), in
    blocks of points whose m stacked temporaries stay near BLOCK values each."""
    m, d, n = len(functions), len(rows), rows[0].shape[1]
    f = Stacked(functions, core=1)
    values, terms, steps = np.empty((m, n)), np.empty((m, d, n)), np.empty((d, n))
    errors = np.empty((m, d, n)) if options.error_estimate else None
    rounding = np.empty((m, d, n))
    few = n * d <= FEW and options.method != "complex" and not options.error_estimate
    for block in _blocks(n, max(1, m // 4)):
        part = [r[:, block] for r in rows]
        center, at = _all_at_once(f, part, options) if few else (f(part), [None] * d)
        values[:, block] = center
        for j in range(d):
            result = _partials(f, part, j, options, center, at[j])
            terms[:, j, block] = result.estimates
            rounding[:, j, block] = result.rounding
            steps[j, block] = result.steps[0]
            if errors is not None and result.errors is not None:
                errors[:, j, block] = result.errors
    terms[np.broadcast_to(~np.isfinite(values)[:, None, :], terms.shape)] = np.nan
    return values, terms, steps, errors, rounding


def _jacobian_to_tolerance(
    functions: Sequence[Function],
    rows: Sequence[Array],
    options: Options,
    values: Array,
    terms: Array,
    steps: Array,
    errors: Array | None,
    flags: Array,
) -> tuple[Array, Array]:
    """Each function's row re-estimated in place by the engine's `refine_to_tolerance`
    (points flagged are left alone, as it does). Returns (converged, evaluations) per point."""
    flat = [r.reshape(-1) for r in rows]
    n = flat[0].size
    converged = np.ones(n, dtype=bool)
    counts = np.zeros(n, dtype=np.int64)
    for i, f in enumerate(functions):
        out = Gradient(
            values[i],
            terms[i],
            steps.copy(),
            None if errors is None else errors[i],
            flags[i],
        )
        assert options.tolerance is not None
        met, used = refine_to_tolerance(
            f, flat, 1, options.tolerance, out, accuracy=options.accuracy
        )
        converged &= met.all(axis=0) & ~flags[i].any(axis=0)
        counts += used.sum(axis=0)
    return converged, counts


# ---------------------------------------------------------------- directional derivative


class Directional(NamedTuple):
    """D_u f = ∇f·u at N points along one direction u."""

    direction: Array  # (d,): u as used (unit length when normalized)
    values: Array  # (N,)
    derivatives: Array  # (N,)
    steps: Array  # (N,): the step along u, in units of |u|
    errors: Array | None  # (N,), with `error_estimate`
    unreliable: Array  # (N,)
    converged: Array | None = None
    evaluations: Array | None = None


def directional_evaluations(
    *,
    method: str = "central",
    accuracy: int = 2,
    error_estimate: bool = False,
    automatic_step: bool = True,
    tolerance: bool = False,
) -> int:
    """Evaluations of f per point: one stencil along the direction (its check or bound)."""
    return jacobian_evaluations(
        1,
        method=method,
        accuracy=accuracy,
        error_estimate=error_estimate,
        automatic_step=automatic_step,
        tolerance=tolerance,
    )


def unit_direction(direction: npt.ArrayLike, *, normalize: bool) -> Array:
    """`direction` as float64, divided by its length when `normalize`."""
    u = np.asarray(direction, dtype=np.float64).reshape(-1)
    if u.size == 0 or not np.all(np.isfinite(u)):
        raise ShapeError("`direction` must be a list of finite numbers.", field="direction")
    if not normalize:
        return u
    length = float(np.max(np.abs(u)))
    if length == 0:
        raise ShapeError(
            "`direction` is the zero vector, which has no direction; give a non-zero vector.",
            field="direction",
        )
    scaled = u / length  # no overflow or underflow in the squares
    return np.asarray(scaled / math.sqrt(float(scaled @ scaled)))


class _Along:
    """g(x, t, c) = f(x + (t − c)·u): rows are the d coordinates, t and c, where t = c at the
    point; c is max(|x|∞, 1) with an automatic step (the step scales with the point), 0
    with a fixed one (t − 0 = h exactly). Only t is ever moved."""

    def __init__(self, f: Function, u: Array) -> None:
        self.f, self.u = f, u

    def __call__(self, rows: Sequence[Array]) -> Array:
        x, along = rows[:-2], rows[-2] - rows[-1]
        return self.f([xk + along * uk if uk else xk for xk, uk in zip(x, self.u, strict=True)])


def _centre(x: Sequence[Array], centred: bool) -> Array:
    if not centred:
        return np.zeros(np.shape(x[0]))
    centre = np.ones(np.shape(x[0]))
    for xk in x:
        np.fmax(centre, np.abs(xk), out=centre)
    return centre


def directional_derivative(
    f: Function,
    points: npt.ArrayLike,
    direction: npt.ArrayLike,
    *,
    normalize: bool = True,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    tolerance: Tolerance | None = None,
    refine_limit: int | None = None,
) -> Directional:
    """d/dt f(x + t·u) at t = 0, at N points of d coordinates, by one stencil along u.

    Equals ∇f(x)·u for differentiable f (u unit length when `normalize`, else the Jacobian-
    vector product ∇f·v of JAX's `jvp`), at the cost of one first derivative: 1 + 2
    evaluations for central accuracy 2 with a given step instead of 1 + 2·d (1 + 3 with the
    automatic step and its check). The step is along u, so its length in x is h·|u|. Points
    whose step fails its check, or whose stencil leaves f's domain, get ∇f·u from
    `first.gradient` instead (its ladder of smaller steps), at most `refine_limit` of them.
    """
    options = check_options(method, step, accuracy, 1, error_estimate, tolerance)
    array = _point_array(points)
    u = unit_direction(direction, normalize=normalize)
    d = array.shape[1]
    if u.size != d:
        raise ShapeError(
            f"`direction` has {u.size} components but each point has {d}; make them match.",
            field="direction",
        )
    g = _Along(f, u)
    x = [np.ascontiguousarray(array[:, j]) for j in range(d)]
    centre = _centre(x, centred=step is None)
    rows = [*x, centre, centre]
    with np.errstate(all="ignore"):
        values, estimates, steps, errors, flags = _along_blocks(g, rows, options)
        limit = sys.maxsize if refine_limit is None else refine_limit
        _dotted_gradient(f, array, u, options, (values, estimates, errors, flags), limit)
        converged = counts = None
        if tolerance is not None:
            converged, counts = _directional_to_tolerance(
                g, rows, options, values, estimates, steps, errors, flags
            )
    first = directional_evaluations(
        method=method,
        accuracy=accuracy,
        error_estimate=error_estimate,
        automatic_step=step is None,
    )
    return Directional(
        u,
        values,
        estimates,
        steps,
        errors,
        flags,
        converged,
        None if counts is None else counts + first,
    )


def _dotted_gradient(
    f: Function,
    points: Array,
    u: Array,
    options: Options,
    out: tuple[Array, Array, Array | None, Array],
    limit: int,
) -> None:
    """∇f·u by the engine's gradient where the stencil along u is flagged or not finite
    where f is: /gradient's answer there, dotted with u (its bound: Σ|u_j|·bound_j)."""
    values, estimates, errors, flags = out
    if not _may_refine(options, limit):
        return
    chosen = np.flatnonzero(flags | (~np.isfinite(estimates) & np.isfinite(values)))[:limit]
    if chosen.size == 0:
        return
    again = _regradient(f, points[chosen], options, limit)
    estimates[chosen] = again.gradient @ u
    if errors is not None and again.errors is not None:
        errors[chosen] = again.errors @ np.abs(u)
    assert again.unreliable is not None
    flags[chosen] = again.unreliable


def _along_blocks(
    g: _Along, rows: Sequence[Array], options: Options
) -> tuple[Array, Array, Array, Array | None, Array]:
    """f, the derivative along t (the row before last), its step, bound and flag, on
    blocks of points."""
    n, t = rows[0].size, len(rows) - 2
    stacked = Stacked([g], core=1)
    values, estimates, steps = np.empty(n), np.empty(n), np.empty(n)
    errors = np.empty(n) if options.error_estimate else None
    flags = np.empty(n, dtype=bool)
    for block in _blocks(n, 1):
        part = [r[block].reshape(1, -1) for r in rows]
        center = stacked(part)
        result = _partials(stacked, part, t, options, center)
        estimate = result.estimates[0]
        estimate[~np.isfinite(center[0])] = np.nan
        values[block], estimates[block], steps[block] = center[0], estimate, result.steps[0]
        bound = None if result.errors is None else result.errors[0]
        if errors is not None and bound is not None:
            errors[block] = bound
        flagged = _flagged(estimate, result.rounding[0], bound, np.abs(estimate))
        # A lone 0 has no other partial to vouch for it: flagged where rounding could hide
        # a slope (cos at 2e-14), as `bounds.zeros_swamped` does for f of one x.
        flags[block] = flagged | ((estimate == 0) & (result.rounding[0] > 0))
    return values, estimates, steps, errors, flags


def _directional_to_tolerance(
    g: _Along,
    rows: Sequence[Array],
    options: Options,
    values: Array,
    estimates: Array,
    steps: Array,
    errors: Array | None,
    flags: Array,
) -> tuple[Array, Array]:
    """`refine_to_tolerance` on the t row only, in place: the other rows are marked as
    flagged (zeros, which it leaves alone), so it re-estimates t alone."""
    t, n = len(rows) - 2, values.size
    terms = np.zeros((len(rows), n))
    terms[t] = estimates
    marks = np.ones((len(rows), n), dtype=bool)
    marks[t] = flags
    bounds = None
    if errors is not None:
        bounds = np.zeros((len(rows), n))
        bounds[t] = errors
    taken = np.zeros((len(rows), n))
    taken[t] = steps
    assert options.tolerance is not None
    out = Gradient(values, terms, taken, bounds, marks)
    met, used = refine_to_tolerance(g, rows, 1, options.tolerance, out, accuracy=options.accuracy)
    estimates[...], steps[...] = terms[t], taken[t]
    if errors is not None and bounds is not None:
        errors[...] = bounds[t]
    return np.asarray(met[t] & ~flags), np.asarray(used[t])


# ---------------------------------------------------------------- fields on grids


class VectorField(NamedTuple):
    """An operator's result on a grid, flattened in `numpy.meshgrid` order (M points)."""

    axes: list[Array]
    shape: tuple[int, ...]
    components: Array  # (m, M): the field itself (the arrows), or f for a Laplacian
    result: Array  # (M,), or (3, M) for the curl of a 3-D field
    errors: Array | None  # shaped like `result`, with `error_estimate`
    unreliable: Array  # (M,)


def field_plan(operator: Operator, dimension: int) -> list[list[int]]:
    """For each coordinate j, the components whose partial along j the operator needs
    (a Laplacian's one function is component 0)."""
    if operator == "curl":
        return [[i for i in range(dimension) if i != j] for j in range(dimension)]
    if operator == "divergence":
        return [[j] for j in range(dimension)]
    return [[0] for _ in range(dimension)]


def field_evaluations(
    operator: Operator,
    dimension: int,
    *,
    method: str = "central",
    accuracy: int = 2,
    error_estimate: bool = False,
    automatic_step: bool = True,
) -> list[int]:
    """Evaluations per point of each component: once at the point, and each off-center
    stencil point (its check's or bound's) along every coordinate whose partial it enters."""
    order = 2 if operator == "laplacian" else 1
    per_coordinate = evaluation_count(method, accuracy, order, 1, error_estimate) - 1
    per_coordinate += _check_offsets(method, accuracy, order, error_estimate, automatic_step)
    plan = field_plan(operator, dimension)
    components = 1 if operator == "laplacian" else dimension
    return [1 + per_coordinate * sum(i in used for used in plan) for i in range(components)]


def field_arrays(operator: Operator, dimension: int, *, error_estimate: bool = False) -> int:
    """Float arrays of one value per grid point alive at once: the components, the result
    (and its bound), each once more as the answer's copies."""
    components = 1 if operator == "laplacian" else dimension
    outputs = 3 if operator == "curl" and dimension == 3 else 1
    return 2 * components + 2 * outputs * (2 if error_estimate else 1)


def _check_field(operator: str, functions: int, dimension: int) -> None:
    if operator not in OPERATORS:
        raise OptionError(
            f"`operator` must be one of {', '.join(OPERATORS)}; got {operator!r}.", field="operator"
        )
    if dimension > MAX_GRID_AXES:
        raise ShapeError(f"a grid has at most {MAX_GRID_AXES} axes.", field="axes")
    if operator == "laplacian" and functions != 1:
        raise ShapeError(
            f"the Laplacian takes one scalar function; got {functions}.", field="functions"
        )
    if operator != "laplacian" and functions != dimension:
        raise ShapeError(
            f"the {operator} of a field on {dimension} axes needs {dimension} components; "
            f"got {functions}.",
            field="functions",
        )
    if operator == "curl" and dimension not in (2, 3):
        raise ShapeError(
            f"the curl is defined on 2 or 3 axes; the grid has {dimension}.", field="axes"
        )


def vector_field(
    functions: Sequence[Function],
    axes: Sequence[npt.ArrayLike],
    *,
    operator: Operator,
    indexing: Indexing = "xy",
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
) -> VectorField:
    """div F = Σ ∂F_j/∂x_j, curl F (2-D: ∂F_1/∂x_0 − ∂F_0/∂x_1; 3-D: the vector) or
    ∇²f = Σ ∂²f/∂x_j² at every point of the grid spanned by `axes`.

    Each partial is the stencil of `method` and `accuracy` along its axis (O(h^p)); the
    components a coordinate needs are evaluated together at each offset (`field_plan`).
    `errors` sums the bounds of the partials that make each result.
    """
    d = len(axes)
    _check_field(operator, len(functions), d)
    order = 2 if operator == "laplacian" else 1
    options = check_options(method, step, accuracy, order, error_estimate)
    if indexing not in ("xy", "ij"):
        raise OptionError(f"`indexing` must be xy or ij; got {indexing!r}.", field="indexing")
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in axes]
    rows = [r[None, ...] for r in grid_rows(arrays, indexing)]
    shape = tuple(int(s) for s in np.broadcast_shapes(*(r.shape for r in rows))[1:])
    outputs = 3 if operator == "curl" and d == 3 else 1
    components = np.empty((len(functions), *shape))
    result = np.zeros((outputs, *shape))
    errors = np.zeros((outputs, *shape)) if error_estimate else None
    flags = np.zeros(shape, dtype=bool)
    with np.errstate(all="ignore"):
        for block in _blocks(shape[0], math.prod(shape[1:])):
            part = [r[:, block] if r.shape[1] != 1 else r for r in rows]
            out = (result[:, block], None if errors is None else errors[:, block], flags[block])
            components[:, block] = _field_block(functions, part, operator, options, out)
    size = math.prod(shape)
    return VectorField(
        axes=arrays,
        shape=shape,
        components=components.reshape(len(functions), size),
        result=result.reshape(outputs, size)[0] if outputs == 1 else result.reshape(3, size),
        errors=None
        if errors is None
        else errors.reshape(outputs, size)[0 if outputs == 1 else ...],
        unreliable=flags.reshape(size),
    )


# The signed terms of each result: (output, component, coordinate, sign).
_CURL_2D = ((0, 1, 0, 1.0), (0, 0, 1, -1.0))
_CURL_3D = (
    (0, 2, 1, 1.0),
    (0, 1, 2, -1.0),
    (1, 0, 2, 1.0),
    (1, 2, 0, -1.0),
    (2, 1, 0, 1.0),
    (2, 0, 1, -1.0),
)


def field_terms(operator: Operator, d: int) -> tuple[tuple[int, int, int, float], ...]:
    """(output, component, coordinate, sign): the result `output` sums sign·∂F_component
    along `coordinate` (twice along it for a Laplacian)."""
    if operator == "curl":
        return _CURL_2D if d == 2 else _CURL_3D
    if operator == "divergence":
        return tuple((0, j, j, 1.0) for j in range(d))
    return tuple((0, 0, j, 1.0) for j in range(d))


def _field_block(
    functions: Sequence[Function],
    rows: Sequence[Array],
    operator: Operator,
    options: Options,
    out: tuple[Array, Array | None, Array],
) -> Array:
    """One block of grid rows: the components, and the result summed into `out`."""
    result, errors, flags = out
    d = len(rows)
    shape = np.broadcast_shapes(*(r.shape for r in rows))
    values = np.stack([np.broadcast_to(f(rows), shape)[0] for f in functions])
    rounding = np.zeros_like(result)
    scale = np.zeros(shape[1:])
    terms = field_terms(operator, d)
    for j, used in enumerate(field_plan(operator, d)):
        stacked = Stacked([functions[i] for i in used], core=d)
        partials = _partials(stacked, rows, j, options, values[used])
        for k, i in enumerate(used):
            for output, component, coordinate, sign in terms:
                if (component, coordinate) != (i, j):
                    continue
                result[output] += sign * partials.estimates[k]
                rounding[output] += partials.rounding[k]
                if errors is not None and partials.errors is not None:
                    errors[output] += partials.errors[k]
            scale = np.fmax(scale, np.abs(partials.estimates[k]))
    undefined = ~np.isfinite(values).all(axis=0)
    result[:, undefined] = np.nan
    flags[...] = _flagged(result, rounding, errors, scale).any(axis=0)
    return values
