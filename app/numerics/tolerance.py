"""Derivatives to a tolerance: the 8th-order central stencil at up to three steps.

Asked for |error| ≤ atol + rtol·|D| (scipy.differentiate's test), the engine first answers
as it does without one (its step checks, ladders and flags), then re-estimates every point
with the central stencil of accuracy 8 at h = eps^(1/(8+m))·max(|x|, 1) (0.018·max(|x|, 1)
for f', where its truncation and rounding balance near eps^(8/9) ≈ 1e-14), and where that
does not meet the tolerance, at h/4 and h/16. Each level's bound is |D_8 − D_6| (D_6 from
the same evaluations, on offsets ±1…±3: the error of the *lower* order, so the bound is
wide for D_8) plus its rounding (`bounds.rounding_bound`). A point converges at the first
level whose bound meets the tolerance; otherwise it keeps the estimate of smallest bound,
and `converged` says it did not meet it. A point the first answer flagged `unreliable` (its
ladder saw smaller steps disagree: 3x + sin(x) at 1e12, where every stencil scaled to x
agrees on 3) never counts as converged: agreement there proves nothing.

Costs 8 evaluations of f per level tried, per point and coordinate: 8 where the first
level meets the tolerance, 24 at most (`tolerance_evaluations`, the budget's plan).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .bounds import FLAG, ROUNDING_SAFETY, TRUNCATION_SAFETY, _largest_term, rounding_bound
from .checks import representable
from .core import Gradient, Hessian, _at, _remembered, _replace, stencil_sum
from .ladders import LADDER_CHUNK, _pick
from .stencils import EPS, Array, Function, Tolerance, stencil

ACCURACY = 8  # the stencil's; its comparison is the order below on the same points
LEVELS = 3  # steps tried per point: a cap, so that a tolerance cannot exceed the budget
SHRINK = 16.0  # where truncation dominates a level's bound, the next step is this smaller
GROW = 4.0  # ... and where rounding does, this larger
PER_LEVEL = ACCURACY  # off-center points of the central stencil of accuracy 8


def tolerance_evaluations(dimension: int) -> int:
    """Evaluations of f per point a tolerance may add: every level, every coordinate."""
    return dimension * LEVELS * PER_LEVEL


def refine_to_tolerance(
    f: Function, rows: Sequence[Array], order: int, tolerance: Tolerance, out: Gradient
) -> tuple[Array, Array]:
    """Re-estimates `out` (gradient, steps, errors, unreliable; (d, *shape)) to `tolerance`.

    Returns (converged, evaluations): per coordinate and point, whether the tolerance was
    met, and how many evaluations of f this took there (levels tried × 8).
    """
    shape = out.gradient.shape
    # rtol is relative to the point's largest component, as the flags are (`zeros_swamped`):
    # ∂f/∂x0 = 0 next to ∂f/∂x1 = 5 is known to 5·rtol, and counts as converged there.
    with np.errstate(all="ignore"):
        scale = np.nan_to_num(np.max(np.abs(out.gradient), axis=0)).reshape(-1)
    converged = np.zeros(shape, dtype=bool)
    evaluations = np.zeros(shape, dtype=np.int64)
    for j in range(len(rows)):
        # A point the first answer flags is left as it is (`unreliable`, with its bound).
        flagged = None if out.unreliable is None else out.unreliable[j].reshape(-1)
        pending = np.arange(int(np.prod(shape[1:])))
        best = np.full(pending.size, np.inf)
        if flagged is not None:
            pending = pending[~flagged]
        factor = np.ones(best.size)  # each point's step, in units of the first level's
        for _ in range(LEVELS):
            for start in range(0, pending.size, LADDER_CHUNK):
                chunk = pending[start : start + LADDER_CHUNK]
                goal = tolerance.atol + tolerance.rtol * scale[chunk]
                met, rounded = _level(f, rows, j, order, goal, out, factor[chunk], chunk, best)
                converged[j].flat[chunk[met]] = True
                evaluations[j].flat[chunk] += PER_LEVEL
                factor[chunk] *= np.where(rounded, GROW, 1 / SHRINK)
            pending = pending[~converged[j].flat[pending]]
    return converged, evaluations


def _truncation(
    values: Callable[[int], Array], h: Array, order: int, center: Array, estimate: Array
) -> Array:
    """D_8's truncation error from D_4 and D_6 on the same points (`_geometric`)."""
    lower = [stencil_sum(values, h, stencil("central", p, order), center=center) for p in (4, 6)]
    return _geometric(lower[0], lower[1], estimate)


def _geometric(d4: Array, d6: Array, d8: Array) -> Array:
    """e_6 = |D_6 − D_8| is D_6's error, and while the orders converge (e_6 < e_4) D_8's
    is about e_6·(e_6/e_4), the next term of the same geometric decrease (sin at 1:
    e_4 ≈ 1e-9, e_6 ≈ 3e-13, D_8's ≈ 1e-16); counted TRUNCATION_SAFETY times. Where they
    do not converge, e_6 itself."""
    e4, e6 = np.abs(d4 - d8), np.abs(d6 - d8)
    with np.errstate(all="ignore"):
        ratio = np.where(e6 < e4, e6 / e4, 1.0)
    return np.asarray(TRUNCATION_SAFETY * e6 * ratio)


def _level(
    f: Function,
    rows: Sequence[Array],
    j: int,
    order: int,
    goal: Array,
    out: Gradient,
    factor: Array,
    chunk: Array,
    best: Array,
) -> tuple[Array, Array]:
    """One level at the flat indices `chunk`: where its bound is the smallest so far, its
    estimate replaces the one in `out`. Returns where it meets the tolerance, and where
    rounding is the larger part of its bound (masks)."""
    d = out.gradient[j]
    at = np.unravel_index(chunk, d.shape)
    subset = [_pick(r, at) for r in rows]
    x, center = subset[j], _pick(out.values, at)
    scale = EPS ** (1.0 / (ACCURACY + order)) * factor
    h = representable(x, scale * np.maximum(np.abs(x), 1.0))
    values = _remembered(lambda offset: _at(f, subset, j, h, offset))
    rule = stencil("central", ACCURACY, order)
    estimate = stencil_sum(values, h, rule, center=center)
    slope = estimate if order == 1 else stencil_sum(values, h, stencil("central", ACCURACY, 1))
    truncation = _truncation(values, h, order, center, estimate)
    rounding = rounding_bound(x, h, center, slope, rule, estimate)
    bound = truncation + rounding
    bound = np.where(np.isfinite(bound) & np.isfinite(estimate), bound, np.inf)
    index = chunk  # positions in `best`: the coordinate's flat indices
    goal = np.maximum(goal, 0.0)
    # Replaces the first answer only with a bound that is good for something: the tolerance
    # or FLAG (a stencil 0.018·|x| wide across a pole is finite garbage with a large bound).
    usable = (bound <= np.maximum(goal, FLAG * np.abs(estimate))) | ~np.isfinite(d[at])
    better = usable & (bound < best[index])
    best[index] = np.where(better, bound, best[index])
    d[at] = np.where(better, estimate, d[at])
    if out.steps is not None:
        out.steps[j][at] = np.where(better, h, out.steps[j][at])
    if out.errors is not None:
        out.errors[j][at] = np.where(better, bound, out.errors[j][at])
    met: Array = better & (bound <= goal)
    return met, rounding > truncation


# ---------------------------------------------------------------- Hessians


def hessian_tolerance_evaluations(dimension: int) -> int:
    """Evaluations of f per point a Hessian's tolerance may add: 8 per diagonal term and
    8² per mixed one (the product of two 8th-order stencils), at every level."""
    pairs = dimension * (dimension - 1) // 2
    return LEVELS * (dimension * PER_LEVEL + pairs * PER_LEVEL**2)


class HessianTerms(NamedTuple):
    terms: Array  # (m, d, d)
    bounds: Array  # (m, d, d)
    steps: Array  # (m, d)
    rounded: Array  # (m,): rounding is the larger part of the worst term's bound


def hessian_to_tolerance(
    f: Function, rows: Sequence[Array], values: Array, out: Hessian, tolerance: Tolerance
) -> Hessian:
    """`out` re-estimated to `tolerance` as `refine_to_tolerance` does derivatives, a point
    at a time: every term by 8th-order stencils at the level's steps, the point converged
    when its worst bound meets atol + rtol·max|H|, the terms of the level of smallest worst
    bound kept. Adds `converged` and `evaluations` (per point) to `out`."""
    n, d = out.hessians.shape[0], len(rows)
    scale = _largest_term(out.hessians)
    best, factor = np.full(n, np.inf), np.ones(n)
    converged, evaluations = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    errors = np.full(out.hessians.shape, np.inf) if out.errors is None else out.errors
    flagged = np.zeros(n, dtype=bool) if out.unreliable is None else out.unreliable
    pending = np.flatnonzero(~flagged)
    per_level = hessian_tolerance_evaluations(d) // LEVELS
    for _ in range(LEVELS):
        for start in range(0, pending.size, LADDER_CHUNK):
            at = pending[start : start + LADDER_CHUNK]
            level = _hessian_level(f, [r[at] for r in rows], values[at], factor[at])
            worst = _largest_term(level.bounds)
            worst = np.where(
                np.isfinite(level.terms.reshape(at.size, -1)).all(axis=1), worst, np.inf
            )
            goal = tolerance.atol + tolerance.rtol * scale[at]
            usable = worst <= np.maximum(goal, FLAG * _largest_term(level.terms))
            better = usable & (worst < best[at])
            keep = better[:, None, None]
            out.hessians[at] = np.where(keep, level.terms, out.hessians[at])
            errors[at] = np.where(keep, level.bounds, errors[at])
            out.steps[at] = np.where(better[:, None], level.steps, out.steps[at])
            best[at] = np.where(better, worst, best[at])
            converged[at[better & (worst <= goal)]] = True
            evaluations[at] += per_level
            factor[at] *= np.where(level.rounded, GROW, 1 / SHRINK)
        pending = pending[~converged[pending]]
    kept = errors if out.errors is not None else None
    return out._replace(errors=kept, converged=converged, evaluations=evaluations)


def _hessian_level(
    f: Function, rows: Sequence[Array], values: Array, factor: Array
) -> HessianTerms:
    m, d = values.shape[0], len(rows)
    h = np.stack(
        [
            representable(r, EPS ** (1 / (ACCURACY + 2)) * factor * np.maximum(np.abs(r), 1.0))
            for r in rows
        ]
    )
    terms, bounds = np.empty((m, d, d)), np.empty((m, d, d))
    truncated, rounding = np.zeros(m), np.zeros(m)
    for i in range(d):
        at = _along(f, rows, i, h[i])
        rule = stencil("central", ACCURACY, 2)
        estimate = stencil_sum(at, h[i], rule, center=values)
        slope = stencil_sum(at, h[i], stencil("central", ACCURACY, 1))
        cut = _truncation(at, h[i], 2, values, estimate)
        rounded = rounding_bound(rows[i], h[i], values, slope, rule, estimate)
        terms[:, i, i], bounds[:, i, i] = estimate, cut + rounded
        truncated, rounding = _worse(truncated, rounding, cut, rounded)
    for i in range(d):
        for j in range(i + 1, d):
            estimate, cut, rounded = _mixed_term(f, rows, (i, j), h, values)
            terms[:, i, j] = terms[:, j, i] = estimate
            bounds[:, i, j] = bounds[:, j, i] = cut + rounded
            truncated, rounding = _worse(truncated, rounding, cut, rounded)
    return HessianTerms(terms, bounds, h.T, rounding > truncated)


def _along(f: Function, rows: Sequence[Array], i: int, h: Array) -> Callable[[int], Array]:
    return _remembered(lambda offset: _at(f, rows, i, h, offset))


def _worse(truncated: Array, rounding: Array, cut: Array, rounded: Array) -> tuple[Array, Array]:
    """The parts of whichever bound is the larger, term by term."""
    larger = cut + rounded > truncated + rounding
    return np.where(larger, cut, truncated), np.where(larger, rounded, rounding)


def _mixed_term(
    f: Function, rows: Sequence[Array], pair: tuple[int, int], h: Array, values: Array
) -> tuple[Array, Array, Array]:
    """H_ij by the product of two first-difference stencils of order 8 (and of 4 and 6 on
    the same 64 points, for `_geometric`), with its rounding as `second._mixed_bound`'s."""
    i, j = pair
    reach = [k for k in range(-(ACCURACY // 2), ACCURACY // 2 + 1) if k]
    grid: dict[tuple[int, int], Array] = {
        (a, b): f(_replace(_replace(rows, i, rows[i] + a * h[i]), j, rows[j] + b * h[j]))
        for a in reach
        for b in reach
    }
    sums = []
    for p in (4, 6, ACCURACY):
        rule = stencil("central", p, 1)
        weights = list(zip(rule.offsets, rule.weights, strict=True))
        total = np.zeros(values.shape)
        for a, wa in weights:
            for b, wb in weights:
                total = total + (wa * wb) * grid[(a, b)]
        sums.append(total / (h[i] * h[j]))
    cut = _geometric(*sums)
    rule = stencil("central", ACCURACY, 1)
    weight = sum(abs(w) for w in rule.weights) ** 2
    size = np.abs(values) + max(rule.offsets) * (
        np.abs(rows[i]) * h[i] + np.abs(rows[j]) * h[j]
    ) * np.abs(sums[2])
    rounded = ROUNDING_SAFETY * EPS * weight * size / (h[i] * h[j])
    return sums[2], cut, np.asarray(rounded)
