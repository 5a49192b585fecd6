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

import numpy as np

from .bounds import FLAG, TRUNCATION_SAFETY, rounding_bound
from .checks import representable
from .core import Gradient, _at, _remembered, stencil_sum
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
    """D_8's truncation error from D_4 and D_6 on the same points: e_6 = |D_6 − D_8| is
    D_6's, and while the orders converge (e_6 < e_4) D_8's is about e_6·(e_6/e_4), the next
    term of the same geometric decrease (sin at 1: e_4 ≈ 1e-9, e_6 ≈ 3e-13, D_8's ≈ 1e-16);
    counted TRUNCATION_SAFETY times. Where they do not converge, e_6 itself."""
    lower = [stencil_sum(values, h, stencil("central", p, order), center=center) for p in (4, 6)]
    e4, e6 = np.abs(lower[0] - estimate), np.abs(lower[1] - estimate)
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
