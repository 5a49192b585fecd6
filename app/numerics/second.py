"""Second partial derivatives: Hessians, with their diagonal and mixed terms checked."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .bounds import hessian_rounding_swamps
from .checks import STEP_ERROR, representable, steps_for
from .core import _replace, partial
from .ladders import LADDER_CHUNK, SHRINKING, _best_level, _best_on_ladder, _quarter_step_change
from .stencils import EPS, Array, Function, Stencil, check_options, stencil


class Hessian(NamedTuple):
    values: Array  # (N,)
    hessians: Array  # (N, d, d), symmetric
    steps: Array  # (N, d)
    unreliable: Array | None = None  # (N,): a term's rounding over 1e-6 of it (`bounds`)


def hessian(
    f: Function,
    points: npt.ArrayLike,
    *,
    step: float | None = None,
    refine_limit: int | None = None,
) -> Hessian:
    """Second partial derivatives at N points given as (N, d); symmetric by construction.

    Diagonal: (f(x+h) − 2f(x) + f(x−h)) / h².  Mixed, the 4-point formula:
    (f(+h_i,+h_j) − f(+h_i,−h_j) − f(−h_i,+h_j) + f(−h_i,−h_j)) / (4·h_i·h_j); both O(h²).
    With the automatic step each diagonal estimate is checked against one at h/4, and
    where the two disagree beyond rounding (1/x next to its pole) the ladder of smaller
    steps picks h_i for that point. Each mixed term, on those steps, is checked the same
    way against one at (h_i/4, h_j/4) and laddered where they disagree (`_refine_mixed`).
    Costs 1 + 4d + 4d(d−1) evaluations of f on all N points, plus the ladders' on the
    points that need them (at most `refine_limit` point-coordinates' worth).
    """
    options = check_options("central", step, 2, 2, False)
    array = np.asarray(points, dtype=np.float64)
    rows = list(np.ascontiguousarray(array.T))
    n, d = array.shape
    values = np.broadcast_to(f(rows), (n,))
    h = np.stack([steps_for(r, options) for r in rows])
    out = np.empty((n, d, d))
    rule = stencil("central", 2, 2)
    budget = sys.maxsize if refine_limit is None else refine_limit
    with np.errstate(all="ignore"):
        for i in range(d):
            out[:, i, i] = partial(f, rows, i, h[i], rule, center=values)
            if step is None:
                budget -= _refine_second(f, rows, i, h[i], rule, values, out[:, i, i], budget).size
        for i in range(d):
            for j in range(i + 1, d):
                mixed = _mixed(f, rows, i, j, h[i], h[j])
                if step is None:  # a ladder level costs 4 evaluations here, 2 on the diagonal
                    budget -= 2 * _refine_mixed(f, rows, (i, j), h, values, mixed, budget // 2)
                out[:, i, j] = out[:, j, i] = mixed
    return Hessian(values, out, h.T, hessian_rounding_swamps(h.T, values, out))


def _refine_second(
    f: Function,
    rows: Sequence[Array],
    i: int,
    h: Array,
    rule: Stencil,
    values: Array,
    estimate: Array,
    limit: int,
) -> Array:
    """Where ∂²f/∂x_i² at h and at h/4 disagree beyond rounding, the ladder's estimate and
    step replace `estimate` and `h` (in place). Returns the indices it re-estimated."""
    change, allowed = _quarter_step_change(f, rows, i, h, rule, values, estimate)
    flagged = np.flatnonzero(np.isfinite(values) & ~(change <= allowed))[: max(limit, 0)]
    for start in range(0, flagged.size, LADDER_CHUNK):
        at = flagged[start : start + LADDER_CHUNK]
        subset = [r[at] for r in rows]
        chosen, steps, found, _ = _best_on_ladder(f, subset, i, h[at], values[at], rule)
        estimate[at] = np.where(found, chosen, estimate[at])
        h[at] = np.where(found, steps, h[at])
    return flagged


def _refine_mixed(
    f: Function,
    rows: Sequence[Array],
    pair: tuple[int, int],
    h: Array,
    values: Array,
    estimate: Array,
    limit: int,
) -> int:
    """∂²f/∂x_i∂x_j checked at (h_i/4, h_j/4): where the two disagree beyond rounding, a
    ladder of both steps scaled by 4^-k (k = 0 … 24) picks the estimate, by the agreement
    rule of `_best_on_ladder`. Updates `estimate` in place; returns how many it redid.

    The diagonal checks do not cover the mixed terms: at (1000, 318π/1000), on a zero of
    sin(x·y), both ∂²/∂x² and ∂²/∂y² are 0 at any step, but with h_y ≈ 1.2e-4 the mixed
    term samples x·h_y = 0.12 radians and came out 0.9926 instead of 1.
    """
    i, j = pair
    quarter = _mixed(
        f, rows, i, j, representable(rows[i], h[i] / 4), representable(rows[j], h[j] / 4)
    )
    rounding = EPS * np.abs(values) * 16 / (h[i] * h[j])  # eps·|f|·Σ|w| at the quarter
    change = np.abs(estimate - quarter)
    allowed = STEP_ERROR * np.abs(estimate) + rounding
    flagged = np.flatnonzero(np.isfinite(values) & ~(change <= allowed))[: max(limit, 0)]
    scales = SHRINKING[:, None]
    for start in range(0, flagged.size, LADDER_CHUNK):
        at = flagged[start : start + LADDER_CHUNK]
        subset = [r[at][None, :] for r in rows]
        hi = representable(subset[i], h[i][at][None, :] * scales)
        hj = representable(subset[j], h[j][at][None, :] * scales)
        trials = _mixed(f, subset, i, j, hi, hj)
        best, change = _best_level(trials, EPS * np.abs(values[at])[None, :] / (hi * hj))
        found = np.isfinite(change.min(axis=0))
        chosen = trials[best, np.arange(at.size)]
        estimate[at] = np.where(found, chosen, estimate[at])
    return int(flagged.size)


def _mixed(f: Function, rows: Sequence[Array], i: int, j: int, hi: Array, hj: Array) -> Array:
    total: Array | None = None
    for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        shifted = _replace(_replace(rows, i, rows[i] + si * hi), j, rows[j] + sj * hj)
        term = si * sj * f(shifted)
        total = term if total is None else total + term
    assert total is not None
    return total / (4.0 * hi * hj)
