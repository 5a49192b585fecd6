"""Second partial derivatives: Hessians, with their diagonal and mixed terms checked."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from .bounds import (
    ROUNDING_SAFETY,
    TRUNCATION_SAFETY,
    complex_underflow,
    error_bound,
    hessian_rounding_swamps,
    rounding_constant,
    untrusted,
)
from .checks import STEP_ERROR, representable, steps_for
from .core import Hessian, _remembered, _replace, complex_partial, partial, stencil_sum
from .exceptions import OptionError, ShapeError
from .ladders import LADDER_CHUNK, SHRINKING, _best_level, _best_on_ladder, _quarter_step_change
from .stencils import (
    COMPLEX_STEP,
    EPS,
    Array,
    Function,
    Method,
    Options,
    Stencil,
    Tolerance,
    check_options,
    error_accuracy,
    hessian_evaluations,
    stencil,
)
from .tolerance import hessian_to_tolerance


def hessian(
    f: Function,
    points: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    refine_limit: int | None = None,
    tolerance: Tolerance | None = None,
) -> Hessian:
    """Second partial derivatives at N points given as (N, d); symmetric by construction.

    Central, accuracy p: the diagonal by the central second-difference stencil of order p,
    the mixed terms by the product of two central first-difference stencils of order p,
    Σ_a Σ_b w_a·w_b·f(x + a·h_i·e_i + b·h_j·e_j) / (h_i·h_j) (p = 2: the 4-point formula
    (f(+,+) − f(+,−) − f(−,+) + f(−,−)) / (4·h_i·h_j)); both O(h^p). With the automatic
    step each estimate is checked against one at a quarter of the step, and where the two
    disagree beyond rounding (1/x next to its pole) a ladder of smaller steps picks the
    estimate (`_refine_second`, `_refine_mixed`).

    Complex (f analytic): ∂f/∂x_i by the complex step, Im f(x + i·h·e_i)/h, differentiated
    along x_j by the central first-difference stencil of order p: no subtraction of f
    values for the inner derivative, so twice the digits of central at p = 2 for smooth f.

    `error_estimate` adds `errors`: twice |H_p − H_q| (q the next accuracy) plus rounding.
    `tolerance` (central only) re-estimates each point by 12th-order stencils until its
    worst bound meets it (`tolerance.hessian_to_tolerance`), with `converged` per point
    (never where a diagonal ladder doubts its step: `_to_tolerance`).
    Evaluations per point: `hessian_evaluations`, plus the ladders' on the points that need
    them (at most `refine_limit` point-coordinates' worth).
    """
    options = _check_hessian(method, step, accuracy, error_estimate, tolerance)
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ShapeError(
            "`points` must be a list of points, each a list of d numbers.", field="points"
        )
    rows = list(np.ascontiguousarray(array.T))
    n = array.shape[0]
    values = np.broadcast_to(f(rows), (n,))
    with np.errstate(all="ignore"):
        if method == "complex":
            return _complex_hessian(f, rows, values, options)
        result, doubted = _central_hessian(f, rows, values, options, refine_limit)
        if tolerance is None:
            return result
        result = _to_tolerance(f, rows, values, result, doubted, tolerance, accuracy)
        assert result.evaluations is not None
        first = hessian_evaluations(
            len(rows), accuracy=accuracy, error_estimate=error_estimate, automatic_step=True
        )
        return result._replace(evaluations=result.evaluations + first)


def _check_hessian(
    method: str,
    step: float | None,
    accuracy: int,
    error_estimate: bool,
    tolerance: Tolerance | None,
) -> Options:
    if method not in ("central", "complex"):
        raise OptionError(
            f"`method` for a Hessian must be central or complex; got {method!r}.", field="method"
        )
    if tolerance is not None and method == "complex":
        raise OptionError(
            "`tolerance` for a Hessian works with the `central` method; omit `method` or "
            "`tolerance`.",
            field="tolerance",
        )
    options = check_options("central", step, accuracy, 2, error_estimate, tolerance)
    return replace(options, method=method)  # type: ignore[arg-type]


def _to_tolerance(
    f: Function,
    rows: Sequence[Array],
    values: Array,
    result: Hessian,
    doubted: Array,
    tolerance: Tolerance,
    accuracy: int,
) -> Hessian:
    """`hessian_to_tolerance` at every point, also those whose first answer rounding swamps
    (a level at its wider steps resolves them, and its bound then vouches for the point). A
    point a diagonal ladder doubts (`doubted`) is re-estimated, but never converges and
    stays flagged: its bound does not see what the ladder saw (MGH's trigonometric Hessian,
    6 − Σcos x_i cancelling inside f, claimed 1e-12 and was 1.4e-10 off)."""
    refined = hessian_to_tolerance(f, rows, values, result, tolerance, accuracy=accuracy)
    assert refined.converged is not None
    assert refined.unreliable is not None
    return refined._replace(
        converged=refined.converged & ~doubted, unreliable=refined.unreliable | doubted
    )


def _central_hessian(
    f: Function, rows: Sequence[Array], values: Array, options: Options, refine_limit: int | None
) -> tuple[Hessian, Array]:
    """The central Hessian and its flags, and apart from them the points a diagonal
    ladder's doubt flags (`_to_tolerance` treats those apart)."""
    n, d = values.shape[0], len(rows)
    h = np.stack([steps_for(r, options) for r in rows])
    out = np.empty((n, d, d))
    errors = np.empty((n, d, d)) if options.error_estimate else None
    rule = stencil("central", options.accuracy, 2)
    first = stencil("central", options.accuracy, 1)
    automatic = options.step is None
    budget = sys.maxsize if refine_limit is None else refine_limit
    doubted = np.zeros(n, dtype=bool)  # a diagonal ladder's smaller steps disagree
    noisy = np.zeros(n, dtype=bool)  # ... by f's own noise (flagged, and refined)
    for i in range(d):
        out[:, i, i] = partial(f, rows, i, h[i], rule, center=values)
        if automatic:
            # (A Hessian judges its diagonal's rounding against its largest term, not
            # against itself: a ladder unsettled on a small H_ii is left to that test.)
            changed, doubtful, _, heard = _refine_second(
                f, rows, i, h[i], rule, values, out[:, i, i], budget
            )
            budget -= changed.size
            doubted[changed[doubtful]] = True
            noisy[changed[heard]] = True
        if errors is not None:
            errors[:, i, i] = error_bound(f, rows, i, h[i], options, values, out[:, i, i])
    for i in range(d):
        for j in range(i + 1, d):
            mixed = _mixed(f, rows, i, j, h[i], h[j], first)
            if automatic:  # a ladder level costs 4 evaluations here, 2 on the diagonal
                bends = out[:, i, i], out[:, j, j]
                budget -= 2 * _refine_mixed(
                    f, rows, (i, j), h, values, mixed, budget // 2, first, bends
                )
            out[:, i, j] = out[:, j, i] = mixed
            if errors is not None:
                errors[:, i, j] = errors[:, j, i] = _mixed_bound(
                    f, rows, (i, j), h, values, mixed, options
                )
    flags = hessian_rounding_swamps(h, values, out, rule, first)
    if errors is not None:
        flags |= untrusted(out, errors).reshape(n, -1).any(axis=1)
    return Hessian(values, out, h.T, flags | doubted | noisy, errors), doubted


def _mixed_bound(
    f: Function,
    rows: Sequence[Array],
    pair: tuple[int, int],
    h: Array,
    values: Array,
    estimate: Array,
    options: Options,
) -> Array:
    """Twice |H_p − H_q| (the product stencil of the next accuracy) plus the rounding of f,
    ROUNDING_SAFETY·eps·|f|·(Σ|w|)²/(h_i·h_j), |f| the larger of f(x) and its size over
    the stencil: x0³·x1² at (1e100, 1e-100) is 1e100 at x and 1.4e292 at x ± h (h_1 =
    1.2e-4), where (x1 ± h1)² round alike and f₀₁ came out 0 with a bound of 6e-8, against
    6e100."""
    i, j = pair
    rule = stencil("central", options.accuracy, 1)
    higher = stencil("central", error_accuracy(options.accuracy), 1)
    other, spread = _mixed_and_size(f, rows, i, j, h[i], h[j], higher, size=True)
    assert spread is not None
    weight = sum(abs(w) for w in rule.weights) ** 2
    # f's rounding, and rounding x inside f times f' at the outer points (as `rounding_bound`)
    reach = max(rule.offsets) * (np.abs(rows[i]) * h[i] + np.abs(rows[j]) * h[j])
    size = np.fmax(np.abs(values), np.nan_to_num(spread, nan=0.0)) + reach * np.abs(estimate)
    rounding = ROUNDING_SAFETY * EPS * weight * size / (h[i] * h[j])
    return np.asarray(TRUNCATION_SAFETY * np.abs(estimate - other) + rounding)


def _complex_hessian(
    f: Function, rows: Sequence[Array], values: Array, options: Options
) -> Hessian:
    """H_ij = Σ_b w_b·Im f(x + b·h_j·e_j + i·η·e_i)/(η·h_j), for j ≥ i, mirrored.

    Every term's bound is computed, asked for or not: the next accuracy's stencil along x_j
    adds q − p complex steps (2 at p = 2), and the flags (`unreliable`) come from it, there
    being no ladder here to say where a step is too wide (sqrt(x0·x1) at (1e-6, 2))."""
    n, d = values.shape[0], len(rows)
    first = replace(options, method="central", order=1)
    h = np.stack([steps_for(r, first) for r in rows])
    out, bounds = np.empty((n, d, d)), np.empty((n, d, d))
    lost = np.zeros(n, dtype=bool)  # a slope's Im f underflowed (`complex_underflow`)
    for i in range(d):
        for j in range(i, d):
            estimate, bound, underflow = _complex_term(f, rows, (i, j), h[j], options, values)
            out[:, i, j] = out[:, j, i] = estimate
            bounds[:, i, j] = bounds[:, j, i] = bound
            lost |= underflow
    flags = np.asarray(untrusted(out, bounds).reshape(n, -1).any(axis=1) | lost)
    return Hessian(values, out, h.T, flags, bounds if options.error_estimate else None)


def _complex_term(
    f: Function,
    rows: Sequence[Array],
    pair: tuple[int, int],
    h: Array,
    options: Options,
    values: Array,
) -> tuple[Array, Array, Array]:
    """One term of `_complex_hessian`, its bound (twice the change to the next accuracy
    along x_j, plus the rounding of the complex-step slopes), and where a slope's Im f
    underflowed (x0 + x1² + x2³ at 1.2e-314: 3·x2²·η is 0, and so is H_22)."""
    i, j = pair
    eta = COMPLEX_STEP * np.maximum(np.abs(rows[i]), 1.0)
    slope = _remembered(lambda b: complex_partial(f, _moved(rows, j, b, h), i, eta))
    rule = stencil("central", options.accuracy, 1)
    estimate = stencil_sum(slope, h, rule)
    other = stencil_sum(slope, h, stencil("central", error_accuracy(options.accuracy), 1))
    # The slopes' rounding, relative to themselves and to x_j·H (as `rounding_bound`'s
    # x·f' term: rounding x_j inside f' moves it by eps·|x_j·∂f'/∂x_j|).
    size = np.max([np.abs(slope(b)) for b in rule.offsets], axis=0) + np.abs(rows[j] * estimate)
    rounding = rounding_constant(rule) * size / h
    lost = np.any([complex_underflow(slope(b), eta, values, rows[i]) for b in rule.offsets], axis=0)
    bound = np.asarray(TRUNCATION_SAFETY * np.abs(estimate - other) + rounding)
    return estimate, bound, np.asarray(lost)


def _moved(rows: Sequence[Array], j: int, offset: int, h: Array) -> list[Array]:
    return _replace(rows, j, rows[j] + offset * h)


def _refine_second(
    f: Function,
    rows: Sequence[Array],
    i: int,
    h: Array,
    rule: Stencil,
    values: Array,
    estimate: Array,
    limit: int,
) -> tuple[Array, Array, Array, Array]:
    """Where ∂²f/∂x_i² at h and at h/4 disagree beyond rounding, the ladder's estimate and
    step replace `estimate` and `h` (in place). Returns the indices it re-estimated and,
    for each, whether steps below the chosen one disagree with it (`Rung.doubt`: abs(x0)·x1²
    at x0 = 1e-7, where every step over 1e-7 straddles the kink and the ladder settles on
    3.3e6 for a true 0), whether the ladder left it unsettled, and whether they disagree
    within f's own noise (`Rung.noisy`: flagged, not doubted)."""
    change, allowed = _quarter_step_change(f, rows, i, h, rule, values, estimate)
    flagged = np.flatnonzero(np.isfinite(values) & ~(change <= allowed))[: max(limit, 0)]
    doubtful, unsettled, noisy = (np.zeros(flagged.size, dtype=bool) for _ in range(3))
    for start in range(0, flagged.size, LADDER_CHUNK):
        at = flagged[start : start + LADDER_CHUNK]
        subset = [r[at] for r in rows]
        rung = _best_on_ladder(f, subset, i, h[at], values[at], rule)
        estimate[at] = np.where(rung.found, rung.estimate, estimate[at])
        h[at] = np.where(rung.found, rung.step, h[at])
        part = slice(start, start + at.size)
        doubtful[part] = rung.doubt & rung.found
        unsettled[part] = rung.unsettled & rung.found
        noisy[part] = rung.noisy & rung.found
    return flagged, doubtful, unsettled, noisy


def _refine_mixed(
    f: Function,
    rows: Sequence[Array],
    pair: tuple[int, int],
    h: Array,
    values: Array,
    estimate: Array,
    limit: int,
    rule: Stencil,
    bends: tuple[Array, Array] | None = None,
) -> int:
    """∂²f/∂x_i∂x_j checked at (h_i/4, h_j/4): where the two disagree beyond rounding, a
    ladder of both steps scaled by 4^-k (k = 0 … 24) picks the estimate, by the agreement
    rule of `_best_on_ladder`. Updates `estimate` in place; returns how many it redid.

    Each level is charged the rounding of f at its points, eps·|f(x)|, and, given the
    diagonal's terms (`bends`), that of x_i and x_j inside f there, eps·|x_i·∂f/∂x_i| with
    ∂f/∂x_i ≈ H_ii·h_i + H_ij·h_j: at a least-squares minimum f(x) is 0, and the ladder
    went down to steps where the residuals' rounding left every difference exactly 0,
    which agreed perfectly (a mixed term of 3·(cos(…) + 0.996)² + …: 0 for −0.0113,
    unflagged).

    The diagonal checks do not cover the mixed terms: at (1000, 318π/1000), on a zero of
    sin(x·y), both ∂²/∂x² and ∂²/∂y² are 0 at any step, but with h_y ≈ 1.2e-4 the mixed
    term samples x·h_y = 0.12 radians and came out 0.9926 instead of 1.
    """
    i, j = pair
    hi, hj = representable(rows[i], h[i] / 4), representable(rows[j], h[j] / 4)
    quarter = _mixed(f, rows, i, j, hi, hj, rule)
    weight = sum(abs(w) for w in rule.weights) ** 2
    rounding = EPS * np.abs(values) * weight / (hi * hj)  # eps·|f|·Σ|w| at the quarter
    change = np.abs(estimate - quarter)
    allowed = STEP_ERROR * np.abs(estimate) + rounding
    flagged = np.flatnonzero(np.isfinite(values) & ~(change <= allowed))[: max(limit, 0)]
    scales = SHRINKING[:, None]
    for start in range(0, flagged.size, LADDER_CHUNK):
        at = flagged[start : start + LADDER_CHUNK]
        subset = [r[at][None, :] for r in rows]
        hi = representable(subset[i], h[i][at][None, :] * scales)
        hj = representable(subset[j], h[j][at][None, :] * scales)
        trials = _mixed(f, subset, i, j, hi, hj, rule)
        size = np.abs(values[at])[None, :]
        if bends is not None:
            reach = max(rule.offsets)
            bend_i, bend_j = (np.abs(b[at])[None, :] for b in bends)
            with np.errstate(all="ignore"):
                inside = np.abs(subset[i]) * (bend_i * hi + np.abs(trials) * hj)
                inside += np.abs(subset[j]) * (bend_j * hj + np.abs(trials) * hi)
            size = size + np.nan_to_num(inside * reach, nan=0.0)
        rounded = EPS * weight * size / (hi * hj)
        best, change = _best_level(trials, rounded)
        found = np.isfinite(change.min(axis=0))
        chosen = trials[best, np.arange(at.size)]
        estimate[at] = np.where(found, chosen, estimate[at])
    return int(flagged.size)


def _mixed(
    f: Function, rows: Sequence[Array], i: int, j: int, hi: Array, hj: Array, rule: Stencil
) -> Array:
    """Σ_a Σ_b w_a·w_b·f(x + a·h_i·e_i + b·h_j·e_j) / (h_i·h_j), w the first-derivative
    `rule`; the terms in the order (+,+), (+,−), (−,+), (−,−) for p = 2, as before."""
    return _mixed_and_size(f, rows, i, j, hi, hj, rule, size=False)[0]


def _mixed_and_size(
    f: Function,
    rows: Sequence[Array],
    i: int,
    j: int,
    hi: Array,
    hj: Array,
    rule: Stencil,
    *,
    size: bool,
) -> tuple[Array, Array | None]:
    """`_mixed`, and with `size` the mean |f| over its points, weighted as they are
    (Σ|w_a·w_b|·|f(…)| / Σ|w_a·w_b|): the size f rounds at there."""
    terms = sorted(zip(rule.offsets, rule.weights, strict=True), reverse=True)
    # Weights in units of the largest product (±1 for p = 2), so that the sum and the
    # division round as (f(+,+) − f(+,−) − f(−,+) + f(−,−)) / (4·h_i·h_j) does, even for
    # f values deep in the subnormals (h at its floor, 1e-154).
    unit = max(abs(wa * wb) for _, wa in terms for _, wb in terms)
    total: Array | None = None
    weighted: Array | None = None
    for a, wa in terms:
        for b, wb in terms:
            shifted = _replace(_moved(rows, i, a, hi), j, rows[j] + b * hj)
            value = f(shifted)
            term = (wa * wb / unit) * value
            total = term if total is None else total + term
            if size:
                part = abs(wa * wb) * np.abs(value)
                weighted = part if weighted is None else weighted + part
    assert total is not None
    mean = (
        None
        if weighted is None
        else weighted / sum(abs(wa * wb) for _, wa in terms for _, wb in terms)
    )
    return np.asarray(total / ((1.0 / unit) * hi * hj)), mean
