"""First (and second) derivatives and gradients at many points: the blocked engine."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .bounds import (
    complex_underflow,
    error_bound,
    float_flags,
    rounding_constant,
    rounding_swamps,
    stencil_magnitude,
    untrusted,
    zeros_swamped,
)
from .checks import (
    HIDDEN,
    NARROW,
    SECOND_ROUNDING,
    STEP_ERROR,
    THIRD_ROUNDING,
    StepCheck,
    _checks_step,
    steps_for,
)
from .core import Gradient, _at, _estimate, _remembered, stencil_sum
from .exceptions import ShapeError
from .ladders import _refine
from .second import _refine_second
from .stencils import (
    EPS,
    Array,
    Function,
    Method,
    Options,
    Stencil,
    Tolerance,
    _checked_offsets,
    _off_center,
    _pairs,
    check_options,
    evaluation_count,
    stencil,
)
from .tolerance import refine_to_tolerance


class Derivative(NamedTuple):
    """First or second derivative of a one-variable function at N points."""

    points: Array
    values: Array  # f(x)
    derivatives: Array
    steps: Array
    intercepts: Array | None  # tangent y = derivatives·t + intercepts (order 1 only)
    errors: Array | None  # estimated absolute error, when asked for
    unreliable: Array | None = None  # where the estimate may be off by over 1e-6 of itself
    converged: Array | None = None  # with a `tolerance`: where it was met
    evaluations: Array | None = None  # with a `tolerance`: evaluations of f per point


def derivative(
    f: Callable[[Array], Array],
    x: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    order: int = 1,
    accuracy: int = 2,
    error_estimate: bool = False,
    refine_limit: int | None = None,
    tolerance: Tolerance | None = None,
) -> Derivative:
    """f'(x) or f''(x) at every x, with the tangent line's intercept f(x) − f'(x)·x.

    Parameters
    ----------
    f : vectorized function of one float64 array.
    x : points.
    method : "central" (O(h^p)), "forward"/"backward" (one-sided, O(h^p)), or "complex"
        (Im f(x+ih)/h, exact to rounding for analytic f; order 1 only).
    step : fixed step, or None for ``automatic_step``, refined where it is not small
        enough for f (domain edges, strong curvature: ``_refine``).
    order : 1 or 2.
    accuracy : truncation order p (1 only for one-sided methods).
    error_estimate : also return |D_p − D_q| + rounding, with q the next accuracy.
    refine_limit : at most this many points re-estimated with smaller steps (`_refine`).
    tolerance : re-estimate to |error| ≤ atol + rtol·|D| where a high-order stencil can
        (`refine_to_tolerance`); `converged` and `evaluations` say where and at what cost.
    """
    options = check_options(method, step, accuracy, order, error_estimate, tolerance)
    points = np.asarray(x, dtype=np.float64)
    flat = points if points.ndim == 1 else points.reshape(-1)  # returned in x's shape
    on_rows: Function = lambda rows: f(rows[0])  # noqa: E731
    result = _gradient(on_rows, [flat], options, refine_limit=refine_limit)
    slopes = result.gradient[0]
    assert result.steps is not None
    if order == 2 and step is None:
        # As /hessian's diagonal: checked at h/4, a ladder of steps where they disagree.
        # (1/x at 1e-6 with h ≈ 1.2e-4 gave −1.3e14 instead of 2e18; forward and backward,
        # unchecked, gave it as 1.3e14, unflagged.)
        rule = stencil(method, accuracy, order)
        limit = sys.maxsize if refine_limit is None else refine_limit
        with np.errstate(all="ignore"):
            changed, doubtful, unsettled, noisy = _refine_second(
                on_rows, [flat], 0, result.steps[0], rule, result.values, slopes, limit
            )
            used = result.steps[0][changed]
            subset, center = [flat[changed]], result.values[changed]
            if result.unreliable is not None and changed.size:  # at the steps now used
                at = _remembered(lambda offset: _at(on_rows, subset, 0, used, offset))
                size = stencil_magnitude(_with(at, center), rule)
                size = np.where(slopes[changed] == 0, np.abs(center), size)  # as `zeros_swamped`
                rounded = rounding_constant(rule) * size
                swamped = rounding_swamps(subset[0], used, rounded, slopes[changed], rule)
                result.unreliable[0][changed] = swamped | doubtful | unsettled | noisy
                if result.doubted is not None:
                    result.doubted[0][changed] = doubtful
            if result.errors is not None and changed.size:
                result.errors[0][changed] = error_bound(
                    on_rows, subset, 0, used, options, center, slopes[changed]
                )
    if tolerance is not None:
        result = _to_tolerance(on_rows, [flat], options, result)
        slopes = result.gradient[0]
    steps = result.steps
    assert steps is not None
    intercepts = None
    if order == 1:
        with np.errstate(all="ignore"):
            intercepts = result.values - slopes * flat
    errors = None if result.errors is None else result.errors[0]
    assert result.unreliable is not None
    flags = result.unreliable[0]
    if errors is not None:
        flags = flags | untrusted(slopes, errors)

    def shaped(array: Array) -> Array:  # a scalar x, or a grid of points, keeps its shape
        return array if points.ndim == 1 else array.reshape(points.shape)

    return Derivative(
        points,
        shaped(result.values),
        shaped(slopes),
        shaped(steps[0]),
        None if intercepts is None else shaped(intercepts),
        None if errors is None else shaped(errors),
        shaped(flags),
        None if result.converged is None else shaped(result.converged[0]),
        None if result.evaluations is None else shaped(result.evaluations),
    )


def gradient(
    f: Function,
    points: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    refine_limit: int | None = None,
    tolerance: Tolerance | None = None,
) -> Gradient:
    """∇f at N points given as an (N, d) array; returns values (N,), gradient (N, d).

    Costs one evaluation of f per non-zero stencil weight per coordinate, on all N points
    at once: 2·d + 1 evaluations for central accuracy 2 with a given step (the +1 is f
    itself), 3·d + 1 with the automatic one, whose check (`step_too_wide`) needs f(x + 2h);
    with a `tolerance`, 8 or 16 more per coordinate and level tried (`refine_to_tolerance`).
    """
    options = check_options(method, step, accuracy, 1, error_estimate, tolerance)
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ShapeError(
            "`points` must be a list of points, each a list of d numbers.", field="points"
        )
    rows = list(np.ascontiguousarray(array.T))
    result = _to_tolerance(f, rows, options, _gradient(f, rows, options, refine_limit=refine_limit))
    errors = None if result.errors is None else result.errors.T
    assert result.steps is not None
    bounded = None if result.errors is None else untrusted(result.gradient, result.errors)
    flagged = np.asarray(_flags(result.unreliable, bounded).any(axis=0))
    converged = None if result.converged is None else np.asarray(result.converged.all(axis=0))
    return Gradient(
        result.values,
        result.gradient.T,
        result.steps.T,
        errors,
        flagged,
        converged,
        result.evaluations,
    )


def _flags(swamped: Array | None, bounded: Array | None) -> Array:
    """The components flagged by rounding or the ladder (`_gradient`), or by the error
    bound where there is one."""
    assert swamped is not None
    return swamped if bounded is None else swamped | bounded


# a grid's rows ((18, 1) and (1, 18)) have one shape per grid: 1.6 µs, remembered
_broadcast_shapes = lru_cache(maxsize=256)(np.broadcast_shapes)
FEW = 64  # points × coordinates up to which every stencil point goes into one call of f
FLOATS = 4  # ... and up to which the arithmetic around that call is done in Python floats
BLOCK = 32768  # points per block: a block's temporaries stay in cache (≈2.5× faster)


def _gradient(
    f: Function,
    rows: Sequence[Array],
    options: Options,
    *,
    keep_steps: bool = True,
    refine_limit: int | None = None,
) -> Gradient:
    """The shared engine: rows broadcast to one shape; returns arrays of (d, *shape).

    Work proceeds in blocks along the first axis so that the dozen temporaries of a
    stencil live in cache instead of streaming through memory.
    """
    shapes = [np.shape(r) for r in rows]
    same = len(set(shapes)) == 1
    shape = shapes[0] if same else _broadcast_shapes(*shapes)
    d = len(rows)
    simple = options.method != "complex" and not options.error_estimate
    simple = simple and options.tolerance is None
    if simple and same and len(shape) == 1 and d * shape[0] <= FEW:
        # (one-sided checks run in NumPy only)
        floats = d * shape[0] <= FLOATS and (
            options.method == "central" or not _checks_step(options)
        )
        few_at = _gradient_in_floats if floats else _gradient_at_few_points
        with np.errstate(all="ignore"):
            few = few_at(f, rows, options)
        if few is not None:
            return few
    out = Gradient(
        values=np.empty(shape),
        gradient=np.empty((d, *shape)),
        steps=np.empty((d, *shape)) if keep_steps else None,
        errors=np.empty((d, *shape)) if options.error_estimate else None,
        unreliable=np.zeros((d, *shape), dtype=bool),
        doubted=None if options.tolerance is None else np.zeros((d, *shape), dtype=bool),
    )
    # Points where the step is too wide for f, flagged block by block, re-estimated at the end
    # all at once (a handful per block would cost more in calls than in arithmetic).
    unsure = np.zeros((d, *shape), dtype=bool) if _checks_step(options) else None
    undefined, wide = np.zeros(d, dtype=bool), np.zeros(d, dtype=bool)  # per coordinate
    with np.errstate(all="ignore"):  # inf − inf and friends become NaN, quietly
        for block in _blocks(shape):
            block_rows = [r[block] if np.shape(r)[:1] not in ((), (1,)) else r for r in rows]
            _gradient_block(f, block_rows, options, out, block, unsure, undefined, wide)
        if options.step is None and options.method != "complex":
            budget = sys.maxsize if refine_limit is None else refine_limit
            for j in np.flatnonzero(undefined | wide):
                flags = None if unsure is None or not wide[j] else unsure[j]
                budget -= _refine(f, rows, int(j), options, out, bool(undefined[j]), flags, budget)
    return out


def _to_tolerance(f: Function, rows: Sequence[Array], options: Options, out: Gradient) -> Gradient:
    """`out` re-estimated to `options.tolerance` (`refine_to_tolerance`), with `converged`
    per component and `evaluations` per point: the first answer's plan (`evaluation_count`,
    without its ladders' few re-estimates) and the levels tried."""
    if options.tolerance is None:
        return out
    d = len(rows)
    with np.errstate(all="ignore"):
        converged, counts = refine_to_tolerance(
            f, rows, options.order, options.tolerance, out, accuracy=options.accuracy
        )
    first = evaluation_count(
        options.method,
        options.accuracy,
        options.order,
        d,
        options.error_estimate,
        automatic_step=True,
    )
    return out._replace(converged=converged, evaluations=counts.sum(axis=0) + first)


def _gradient_at_few_points(
    f: Function, rows: Sequence[Array], options: Options
) -> Gradient | None:
    """The same estimate with one call of f for every stencil point of every coordinate.

    At a handful of points a call of f costs its fixed overhead (a dozen NumPy calls), not
    its arithmetic: 1 + 3d calls for a central gradient become one call on (1 + 3d)·N
    points. Same steps, same f values, same sums, so the same bits as the general path.
    Returns None where that path has more to do (a non-finite result, or a step to
    refine: f undefined, or `_refine`); error estimates and complex steps never come here.
    """
    x = np.array(rows, dtype=np.float64)  # (d, N): the caller checked they share one shape
    d, n = x.shape
    h = steps_for(x, options)
    rule = stencil(options.method, options.accuracy, options.order)
    checks = _checks_step(options)
    offsets = _checked_offsets(rule) if checks else _off_center(rule)
    k = len(offsets)
    # moved[i, j] = x_j + o_i·h_j, bit for bit what `_shift` gives (±1·h, ±2·h are exact).
    moved = x + np.array(offsets)[:, None, None] * h
    # Point 0 is x; points 1 + j·k + i are x with coordinate j moved by o_i.
    points = np.repeat(x[:, None, :], 1 + d * k, axis=1)
    for j in range(d):
        points[j, 1 + j * k : 1 + (j + 1) * k] = moved[:, j]
    evaluated = f(list(points.reshape(d, -1)))
    if evaluated.shape != ((1 + d * k) * n,):  # f may return a scalar (a constant)
        evaluated = np.broadcast_to(evaluated, (1 + d * k) * n)
    values = np.array(evaluated[:n])
    around = evaluated[n:].reshape(d, k, n)  # around[j, i] = f(x + o_i·h_j·e_j)
    at = {offset: around[:, i] for i, offset in enumerate(offsets)}
    check = StepCheck.of(values, np.empty((d, n), dtype=bool), rule.accuracy) if checks else None
    gradient = stencil_sum(at.__getitem__, h, rule, values, np.empty((d, n)), check)
    if not math.isfinite(values.sum() + gradient.sum()):  # inf − inf is NaN: one test
        return None
    if check is not None and check.flags.any():
        return None
    size = np.abs(values)
    if rule.order == 2:  # f'' (`stencil_magnitude`); `zeros_swamped` keeps |f(x)| for a 0
        size = stencil_magnitude(_with(at.__getitem__, values), rule)
    flags = rounding_swamps(x, h, rounding_constant(rule) * size, gradient, rule)
    zeros_swamped(list(h), values, gradient, rule, flags)
    return Gradient(values, gradient, h, None, flags)


def _gradient_in_floats(f: Function, rows: Sequence[Array], options: Options) -> Gradient | None:
    """`_gradient_at_few_points` for a point or two: the same operations in the same order
    on Python floats (IEEE doubles: +, −, ×, ÷ round exactly as NumPy's do), so the same
    bits, without the ~35 NumPy calls on 3-element arrays that cost a 1-point request more
    than its arithmetic. Only f itself runs in NumPy, once, on all stencil points.
    """
    x = [np.asarray(row, dtype=np.float64).tolist() for row in rows]  # x[j][p], floats
    d, n = len(x), len(x[0])
    scale = EPS ** (1.0 / (options.accuracy + options.order))
    step = options.step
    h = [
        [step if step is not None else (v + scale * max(abs(v), 1.0)) - v for v in row] for row in x
    ]
    rule = stencil(options.method, options.accuracy, options.order)
    checks = _checks_step(options)
    offsets = _checked_offsets(rule) if checks else _off_center(rule)
    # Point 0 is x; points 1 + j·k + i are x with coordinate j moved by o_i (as in the
    # NumPy version, o·h is exact for o = ±1, ±2 and rounds as NumPy's product otherwise).
    columns = []
    for c in range(d):
        column = list(x[c])
        for j in range(d):
            for o in offsets:
                column += [x[c][p] + o * h[c][p] if c == j else x[c][p] for p in range(n)]
        columns.append(np.array(column))
    evaluated = f(columns)
    if np.shape(evaluated) != ((1 + d * len(offsets)) * n,):
        evaluated = np.broadcast_to(evaluated, (1 + d * len(offsets)) * n)
    flat = evaluated.tolist()
    values = flat[:n]
    sizes = values if rule.order == 1 else list(values)  # the |f| each point's rounding has
    gradient = [[0.0] * n for _ in range(d)]
    for j in range(d):
        for p in range(n):
            at = {o: flat[n * (1 + j * len(offsets) + i) + p] for i, o in enumerate(offsets)}
            estimate = _float_stencil_sum(at, values[p], h[j][p], rule, checks)
            if estimate is None:
                return None  # to be refined, or not finite: the general path decides
            gradient[j][p] = estimate
            if rule.order == 2 and estimate != 0:  # f'' (`stencil_magnitude`; a 0, as
                # `zeros_swamped` says, keeps |f(x)|: 2x³ at 0 mirrors f(±h) bit for bit)
                sizes[p] = float(stencil_magnitude(_with(at.__getitem__, values[p]), rule))
    # With a checked step, a point whose rounding swamps it went to the general path
    # (`_float_stencil_sum` returned None): only estimates of 0 may need a flag.
    flags = np.zeros((d, n), dtype=bool)
    if not checks or any(0.0 in row for row in gradient):
        for p in range(n):
            point = [g[p] for g in gradient]
            flags[:, p] = float_flags([s[p] for s in h], sizes[p], point, rule)
    return Gradient(np.array(values), np.array(gradient), np.array(h), None, flags)


def _float_stencil_sum(
    at: dict[int, float], center: float, h: float, rule: Stencil, checks: bool
) -> float | None:
    """`stencil_sum` and `step_too_wide` at one point, on floats, in their order of
    operations; None where the step is flagged or the estimate is not finite."""
    power = h if rule.order == 1 else h * h
    if not math.isfinite(power):  # (h² past float64: `stencil_sum` says NaN)
        return None
    total = None
    for offset, weight, partner in _pairs(rule):
        value = center if offset == 0 else at[offset]
        if partner:
            plus, other = value, at[-offset]
            value = value - other if partner < 0 else value + other
            if checks and offset == 1 and partner < 0:
                third = (at[2] - other) - plus * 3.0 + center * 3.0
                factor = (3.0 * STEP_ERROR) ** (-2.0 / rule.accuracy)
                noise = abs(center) * THIRD_ROUNDING
                wide = (abs(third) - noise) * factor
                spread = abs(value)
                if not wide <= spread or 0 < spread < abs(center) * NARROW:
                    return None
                if wide > noise * factor:  # (`step_too_wide`'s `hidden_structure`)
                    beyond = wide * (3.0 * STEP_ERROR) ** (2.0 / rule.accuracy)
                    second = abs(plus + other - 2.0 * center)
                    size = abs(plus) + abs(other) + 2.0 * abs(center)
                    comparable = HIDDEN * second < beyond < second / HIDDEN
                    if comparable and SECOND_ROUNDING * size < second < HIDDEN * size:
                        return None
        term = value * (weight / power)
        total = term if total is None else total + term
    assert total is not None
    return total if math.isfinite(total) and math.isfinite(center) else None


def _with(at: Callable[[int], Any], center: Any) -> Callable[[int], Any]:
    """`at` with f(x) at offset 0."""
    return lambda offset: center if offset == 0 else at(offset)


def _blocks(shape: tuple[int, ...]) -> list[Any]:
    if not shape:
        return [Ellipsis]
    per_row = math.prod(shape[1:])
    length = max(1, BLOCK // max(per_row, 1))
    return [slice(start, start + length) for start in range(0, shape[0], length)]


def _gradient_block(
    f: Function,
    rows: Sequence[Array],
    options: Options,
    out: Gradient,
    block: Any,
    unsure: Array | None,
    estimate_undefined: Array,
    wide: Array,
) -> None:
    """One block: f, then each partial; notes per coordinate whether any estimate of the
    block is non-finite or has too wide a step (checked here, while the block is in cache)."""
    values = out.values[block]
    values[...] = f(rows)
    # Where f(x) itself is undefined (1/x at 0) so is f'(x), whatever the stencil says.
    undefined = None if np.isfinite(values.sum()) else ~np.isfinite(values)
    check = None if unsure is None else StepCheck.of(values, unsure[0, block], options.accuracy)
    complex_step = options.method == "complex"
    rule = None if complex_step else stencil(options.method, options.accuracy, options.order)
    steps = []
    # A checked step flags every point `rounding_swamps` would (`step_too_wide`'s NARROW
    # is wider) for `_refine`, whose ladder flags what it cannot fix: no pass needed here.
    swamps = rule is not None and not _checks_step(options)
    limit = rounding_constant(rule) * np.abs(values) if swamps and rule is not None else None
    for j in range(len(rows)):
        h = steps_for(rows[j], options)
        steps.append(h)
        d = out.gradient[j, block]
        flags = None if check is None or unsure is None else check.to(unsure[j, block])
        if swamps and rule is not None and rule.order == 2:  # f'': `stencil_magnitude`
            at = _remembered(partial(_at, f, rows, j, h))
            stencil_sum(at, h, rule, center=values, out=d)
            limit = rounding_constant(rule) * stencil_magnitude(_with(at, values), rule)
        else:
            _estimate(f, rows, j, h, options, values, out=d, unsure=flags)
        estimate_undefined[j] |= not np.isfinite(d.sum())
        wide[j] |= flags is not None and bool(flags.flags.any())
        if undefined is not None:
            d[undefined] = np.nan
        if swamps and limit is not None and out.unreliable is not None:
            assert rule is not None
            rounding_swamps(rows[j], h, limit, d, rule, out=out.unreliable[j, block])
        if complex_step and out.unreliable is not None:
            out.unreliable[j, block] |= complex_underflow(d, h, values, rows[j])
        if out.steps is not None:
            out.steps[j, block] = h
        if out.errors is not None:
            out.errors[j, block] = error_bound(f, rows, j, h, options, values, d)
    if rule is not None and out.unreliable is not None:
        marks = out.unreliable[:, block]
        zeros_swamped(steps, values, out.gradient[:, block], rule, marks)
