"""Derivatives to a tolerance: high-order central stencils at steps fitted to f.

Asked for |error| ≤ atol + rtol·|D| (scipy.differentiate's test), the engine first answers
as it does without one (its step checks, ladders and flags), then re-estimates every point
by the central stencil of accuracy p (8 for f', 12 for f'': a second difference rounds as
eps·|f|/h², so it needs a step near 0.1 of f's scale, where only a high order is exact
enough) at steps fitted to f, up to LEVELS of them; an f' whose 8th order cannot meet the
goal at any step goes on at 16th (HIGHER, `_escalate`):

- f's scale s is read off the first answer's step: the automatic step is eps^(1/(a+m))·s,
  with s = max(|x|, 1) unless its ladder had to shrink it (1/x at 1e-5: s ≈ 1e-5) or grow
  it; the first level's step is eps^(1/(p+m))·s, where truncation and rounding balance
  (for f' half of it, for f'' 0.35: START; for a Hessian, half: HESSIAN_START).
- Each level's bound is its truncation, from D_(p−4) and D_(p−2) on the same evaluations
  (`_geometric`), plus its rounding (`bounds.rounding_bound`). A level counts only where
  it agrees with the first answer, within its bound plus what the first answer may be off
  by (FLAG of it, and its rounding): a stencil 0.02 wide across the pole of 1/x at 1e-8,
  or sampling cos(1e4·x) every 180 radians, agrees with itself at every order, and
  converges to something else.
- From the second level on, where both converge and the step shrank at least twice, the
  truncation is at most what the change between the two estimates says (`_richardson`).
- The next step is the one where the truncation (∝ h^p) and the rounding (∝ h^−m) of this
  level would balance, at most REACH times from it; where even that bound would miss the
  tolerance, the point stops there (`converged: false`, no evaluations spent on hope),
  unless the order can be raised: f' goes on at 16th order, whose truncation falls as
  h^16, at this step or one wide enough for its rounding (`_escalate`; on the accuracy
  suite f' converged 65.5% -> 72.1% at 32.8 -> 38.3 evaluations a point).
  Where the orders do not converge, or disagree with the first answer, the next step is
  WIDE times smaller.

Before the levels, the first answer is checked at two smaller steps, where f's noise
(probed next to x) is FLAG and 1/16 of it (`_small_step_disagrees`): the levels' stencils
are scaled to the first answer's step and see what it saw, so a first answer a smaller
step contradicts (3x + sin(x) at 5.6e12, 3 against 3.11) is left as it is, flagged, and
never converges. A contradiction f's own noise explains (measured further out, where it
is LOUDER times the probe's: MGH's trigonometric function) is checked again at the steps
that noise asks for.

A point converges at the first level whose bound meets the tolerance; otherwise it keeps
the estimate of smallest bound, and `converged` says it did not meet it. Where no level met
it and the first answer's ladder shrank its step (a kink near x, which the levels' wider
stencils reach across), the first answer's own bound is checked too (`_first_checked`). A
point whose step the first answer doubts (`Gradient.doubted`: its ladder saw smaller steps disagree,
3x + sin(x) at 1e12, where every stencil scaled to x agrees on 3) is left as it is and
never counts as converged: agreement there proves nothing. A point the first answer flags
for rounding alone (f ≈ 1e5 at its step of 1e-4 for f'') is refined like any other, and
where the level kept bounds its estimate to FLAG of itself, the flag is lifted: the first
answer's small step was the trouble, not f.

Costs p evaluations of f per level tried, per point and coordinate, and SMALL_STEP_CHECK
for the check (`tolerance_evaluations`, the budget's plan, counts every level, at HIGHER's
order after the first).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .bounds import (
    FLAG,
    NOISE_MOVES,
    NOISE_STEP,
    ROUNDING_SAFETY,
    TABLE_EVALUATIONS,
    TRUNCATION_SAFETY,
    _largest_term,
    error_bound,
    noise_along,
    noise_span,
    rounding_bound,
    rounding_constant,
    rounding_noise,
    untrusted,
    value_noise,
)
from .checks import representable
from .core import Gradient, Hessian, _at, _remembered, _replace, stencil_sum
from .ladders import LADDER_CHUNK, SHRINK_FACTOR, _pick
from .stencils import (
    EPS,
    Array,
    Function,
    Options,
    Stencil,
    Tolerance,
    evaluation_count,
    stencil,
)

ACCURACY = {1: 8, 2: 12}  # the stencil's, per derivative order; p − 2 and p − 4 bound it
# ... and where that order cannot meet the goal (`_escalate`). Second derivatives stay at
# 12th: going on at 20th, f'' converged 31.1% -> 34.4% at 42 -> 56 evaluations a point on
# the accuracy suite, Hessians none more at 302 -> 356 (their levels miss by truncation
# where the 20th order's rounding, four times eps·|f|·Σ|w|/h², is over the goal).
HIGHER = {1: 16}
# The first step, in units of f's scale: where truncation and rounding balance, eps^(1/(p+m)),
# times BALANCE. For f' half of it, as the bound counts truncation at no less than e_(p−2)/8
# (`_geometric`), which moves its own balance to smaller steps (on the accuracy suite: f'
# converged 63.4% -> 64.1% at 1.6 fewer evaluations a point). For f'' 0.35 of it: at the
# balance itself the 12th-order stencil reaches 6·0.076 of f's scale, where f's poles may be
# near enough that it is no closer than the 10th (interpolation on equispaced points
# diverges near a pole), and the orders cannot tell: x/(1 + x⁴) at 4 is 3.5e-9 off, and
# D10 and D12 agree to 8e-11. On `python -m bench.smooth` (10 smooth functions, 4000
# answers) the true error exceeded `errors` in 23.8% of first levels, and 17.3% of answers;
# at 0.35 of the step, 1.7% and 0.5%, never by 10x where it was 2.8%, and no point converged
# off the tolerance (14 before). On the accuracy suite, with ROOM and `_first_scale`, f''
# converges as often (31.1%) at 46.1 -> 48.0 evaluations a point, its median error 3.1e-13
# -> 4.7e-14, and its bounds, exceeded at 1.6% of its components, are no longer exceeded.
BALANCE = {1: 0.5, 2: 0.35}
START = {m: BALANCE[m] * EPS ** (1.0 / (p + m)) for m, p in ACCURACY.items()}
# A Hessian's first step: half the balance. Its mixed terms round over h_i·h_j/2 (half steps
# along e_i + e_j), above f''s at the same steps, so its first level was once 1.5 times wider
# than the balance, where on 6 smooth functions of 2 and 3 variables (`python -m
# bench.smooth`, 6800 terms) the true error exceeded `errors` at 23% of terms, 4.7% by over
# 10x, and 45 points converged off rtol = 1e-8; at half, 0.3%, none by 10x, none off. On the
# accuracy suite Hessians converged 57.0% -> 52.4% at 302 -> 348 evaluations a point (352
# with `EARLY`; the first level's rounding is now often over the goal where f is a
# polynomial, MGH's), and their bounds were exceeded at 0.9% -> 0.3% of terms. At 0.6 of the
# balance: 57.0% at 351, and 1.0% exceeded on bench.smooth; at 0.75, 5.9%; at 1, 16.8%.
HESSIAN_START = 0.5 * EPS ** (1.0 / (ACCURACY[2] + 2))
FLOOR = 1 / 16  # the most one more order is trusted to gain (`_geometric`)
SLOW = 1 / 4  # ... and the least, for f' (`_stencils`)
LEVELS = 3  # steps tried per point: a cap, so that a tolerance cannot exceed the budget
REACH = 16.0  # the next step is at most this many times larger or smaller
WIDE = 8.0  # ... and this many times smaller where the level is not to be trusted
# A higher order's first step may be this many times wider than the last (its truncation at
# h^16 leaves room): at REACH, exp(4x) at ±12 and exp(-x²) at 6 ended 10% over the goal.
ESCALATION_REACH = 64.0


def tolerance_evaluations(dimension: int, order: int | None = None) -> int:
    """Evaluations of f per point a tolerance may add: every level, every coordinate, for
    the derivative `order` (unless it is 1 or 2, the larger of theirs). A point escalated to
    HIGHER's order spends that on every level after its first; a level confirmed at half
    its step (`_confirmed`), half its order more; one whose first answer is checked
    (`_first_checked`), that bound's evaluations."""
    orders = [order] if order in ACCURACY else list(ACCURACY)
    levels = max(
        ACCURACY[m]
        + (LEVELS - 1) * HIGHER.get(m, ACCURACY[m])
        + LEVELS * HIGHER.get(m, ACCURACY[m]) // 2  # (`_confirmed`)
        + _check_cost(CHECKED, m)
        for m in orders
    )
    # and `value_noise`'s probes, and the check at a smaller step (`_small_step_disagrees`)
    return dimension * (levels + 2 * len(NOISE_MOVES) + SMALL_STEP_CHECK + SMALL_STEP_RECHECK)


def _check_cost(accuracy: int, order: int) -> int:
    """What `error_estimate` adds to a point's plan per coordinate: `_first_checked`'s cost."""
    with_bound = evaluation_count("central", accuracy, order, 1, True)
    return with_bound - evaluation_count("central", accuracy, order, 1, False)


def function_scale(x: Array, h: Array | None, accuracy: int, order: int) -> Array:
    """f's scale as the first answer's step h = eps^(1/(a+m))·s tells it, else max(|x|, 1)."""
    fallback = np.maximum(np.abs(x), 1.0)
    if h is None:
        return fallback
    with np.errstate(all="ignore"):
        s = np.asarray(h) / EPS ** (1.0 / (accuracy + order))
    return np.where(np.isfinite(s) & (s > 0), s, fallback)


def _first_scale(x: Array, scale: Array, order: int) -> Array:
    """The scale the first level's step is a share of: f's, and for a second derivative,
    where the first answer's ladder shrank its step (a pole near: 1/(x0² + x1²) at (0.001,
    0.002)), SHRINK_FACTOR times less, as the ladder knows the scale only to within its
    factor. The accuracy suite's near-pole-015, f₁₁ there: its 12th-order stencil reached
    0.4 of the way to the pole, and was 751 off against a bound of 61 (the orders agreed as
    they do where f's poles are near, `START`); at a quarter, within its bound. On the
    suite, Hessians' bounds were exceeded at 0.6% -> 0.3% of terms, f'' median error
    1.2e-13 -> 4.7e-14, the same points converged."""
    if order != 2:
        return scale
    shrunk = scale < np.maximum(np.abs(x), 1.0) / 2
    return np.where(shrunk, scale / SHRINK_FACTOR, scale)


GROW = 4.0  # where rounding is the larger part of a level's bound, the next step is larger,
# at most GROW and at least MIN_GROW times (less would waste a level) ...
MIN_GROW = 1.25
SPREAD = 4.0  # ... unless f's values over the stencil are this many times its size at x
COMPARABLE = 4.0  # truncation this much under the rounding is still measured, not noise
# Where rounding buries the truncation, the next step is wide enough for the rounding to fall
# to 1/ROOM of the goal (a Hessian's terms: 4). For f'' half: at a quarter, sin at 0.5 went
# from h = 0.107 (bound 5.9e-13 against a goal of 4.8e-13) to 0.237, where the truncation
# the orders can vouch for (`FLOOR`) is 1.9e-12; on the accuracy suite f'' converged 21.3% ->
# 31.1%, Hessians would lose 3% of their points.
ROOM = {1: 4.0, 2: 2.0}


class Level(NamedTuple):
    """One stencil at one step: its estimate and the two parts of its bound."""

    estimate: Array
    truncation: Array
    rounding: Array
    slope: Array  # f' on the same points (the rounding inside f, the first answer's)
    converging: Array  # the orders converge: e_(p−2) < e_(p−4), so truncation is measured
    spread: Array  # the size f rounds at over the stencil, in units of |f(x)| + |x·f'|
    # Where f is one value bit for bit at every point of the stencil but x, the estimate
    # says nothing about f': +1 where that value is f(x), the step under f's resolution
    # (log(1 + x²) at 1e-8 and h ≈ 3e-11: 1 + x² rounds to 1); −1 where it is not, the
    # step beyond where f saturates (1 − (1 + x¹⁰)⁻⁴ at 2 and h ≈ 300: 1.0 on either side,
    # and 0 for its slope of 1.8e-11); 0 elsewhere.
    flat: Array


class Pending(NamedTuple):
    """A chunk of one coordinate's points: where they are, and what the first answer said."""

    flat: Array  # flat indices into the coordinate's (*shape)
    rows: list[Array]
    x: Array
    center: Array  # f(x)
    first: Array  # the first answer's estimate
    first_step: Array  # ... and its step
    goal: Array  # atol + rtol·scale


def refine_to_tolerance(
    f: Function,
    rows: Sequence[Array],
    order: int,
    tolerance: Tolerance,
    out: Gradient,
    *,
    accuracy: int = 2,
) -> tuple[Array, Array]:
    """Re-estimates `out` (gradient, steps, errors, unreliable; (d, *shape)) to `tolerance`;
    `accuracy` is the first answer's (its step tells f's scale).

    Returns (converged, evaluations): per coordinate and point, whether the tolerance was
    met, and how many evaluations of f this took there.
    """
    shape = out.gradient.shape
    # rtol is relative to the point's largest component, as the flags are (`zeros_swamped`):
    # ∂f/∂x0 = 0 next to ∂f/∂x1 = 5 is known to 5·rtol, and counts as converged there.
    with np.errstate(all="ignore"):
        scale = np.nan_to_num(np.max(np.abs(out.gradient), axis=0)).reshape(-1)
    converged = np.zeros(shape, dtype=bool)
    evaluations = np.zeros(shape, dtype=np.int64)
    # Left as they are, with their flags and bounds: the components whose step is in doubt
    # (`doubted`), or where the caller keeps no such mask, every one flagged `unreliable`.
    skipped = out.doubted if out.doubted is not None else out.unreliable
    for j in range(len(rows)):
        pending = np.arange(int(np.prod(shape[1:])))
        if skipped is not None:
            pending = pending[~skipped[j].reshape(-1)]
        for start in range(0, pending.size, LADDER_CHUNK):
            chunk = _pending(rows, j, order, accuracy, out, pending[start : start + LADDER_CHUNK])
            # f's own rounding near x, which eps·|f| undercounts where f cancels inside
            near, zero = _near(chunk, accuracy, order)
            noise = value_noise(f, chunk.rows, j, chunk.center, near)
            # (a first answer a smaller step contradicts is left as it is, flagged, its bound
            # at least its own size and twice what the two are apart: the check is at one
            # step, and a part of f below it may bend the slope further at smaller ones, as
            # sin(x) in 3x + sin(x) at 5.6e12: 1e-4 at 1.4e4, cos(x) = 0.11 below 1)
            known = np.where(zero, noise, 0)
            astray, apart, checked = _small_step_disagrees(f, j, order, chunk, known)
            evaluations[j].flat[chunk.flat] = SMALL_STEP_CHECK + 2 * len(NOISE_MOVES) + checked
            if out.unreliable is not None:
                out.unreliable[j].flat[chunk.flat[astray]] = True
            if out.errors is not None:
                at = chunk.flat[astray]
                unknown = np.abs(chunk.first[astray]) + 2 * apart[astray]
                out.errors[j].flat[at] = np.fmax(out.errors[j].flat[at], unknown)
            if astray.all():
                continue
            chunk = _pending(rows, j, order, accuracy, out, chunk.flat[~astray])
            goal = np.maximum(tolerance.atol + tolerance.rtol * scale[chunk.flat], 0.0)
            chunk = chunk._replace(goal=goal)
            met, used, best = _to_goal(f, j, order, accuracy, chunk, out, noise[~astray])
            used += SMALL_STEP_CHECK + 2 * len(NOISE_MOVES) + checked[~astray]
            first = _first_checked(f, j, order, accuracy, chunk, ~met)
            if first is not None:
                at, bound, spent = first
                better = (bound <= chunk.goal[at]) & (bound < best[at])
                kept = at[better]
                _keep(
                    out,
                    j,
                    chunk.flat[kept],
                    chunk.first[kept],
                    chunk.first_step[kept],
                    bound[better],
                )
                met[kept], best[kept] = True, bound[better]
                used[at] += spent
            converged[j].flat[chunk.flat] = met
            evaluations[j].flat[chunk.flat] = used
            if out.unreliable is not None:
                # A level kept is flagged as the first answer is: where its bound is over
                # FLAG of its estimate (an estimate of exactly 0: of the point's largest
                # component). It lifts the first answer's flag, rounding-bound at its small
                # step, where it is under; and flags a level an `atol` let through (exp(x)
                # at −700 to atol = 1e-10, at a step of 6.3: −6.6e-297, the wrong sign).
                estimate = np.abs(out.gradient[j].flat[chunk.flat])
                against = np.where(estimate == 0, scale[chunk.flat], estimate)
                kept = np.isfinite(best)
                out.unreliable[j].flat[chunk.flat[kept]] = ~(best[kept] <= FLAG * against[kept])
    return converged, evaluations


def _pending(
    rows: Sequence[Array], j: int, order: int, accuracy: int, out: Gradient, flat: Array
) -> Pending:
    at = np.unravel_index(flat, out.gradient.shape[1:])
    subset = [_pick(r, at) for r in rows]
    x = subset[j]
    if out.steps is None:  # (a grid's): the automatic step, as `steps_for` takes it
        h = representable(x, EPS ** (1.0 / (accuracy + order)) * np.maximum(np.abs(x), 1.0))
    else:
        h = np.array(out.steps[j][at])
    first = np.array(out.gradient[j][at])
    return Pending(flat, subset, x, _pick(out.values, at), first, h, np.zeros(flat.size))


CHECK_STEPS = 4  # `_checked`'s evaluations: two central differences


def _subset(chunk: Pending, at: Array) -> Pending:
    """The chunk's points `at` (indices into it)."""
    rows = [r[at] for r in chunk.rows]
    x, center, first, step = chunk.x[at], chunk.center[at], chunk.first[at], chunk.first_step[at]
    return Pending(chunk.flat[at], rows, x, center, first, step, chunk.goal[at])


SMALL_STEP_CHECK = CHECK_STEPS + 2 * len(NOISE_MOVES)  # `_small_step_disagrees`' evaluations,
# and where they contradict the first answer, the noise measured further out and the check
# again, where that noise is LOUDER times the probe's and asks for steps LOUDER times wider
# than its tables reach
SMALL_STEP_RECHECK = 2 * TABLE_EVALUATIONS + CHECK_STEPS
LOUDER = 8.0
PROBE_ULPS = 16.0  # ... whose noise probe moves x by this many ulps
COARSE = 1 / 16  # ... and the share of D its second step's rounding may be
NEAR_ZERO = 16.0  # `_near`: |f/D|^(1/m) this many times under f's scale is near a zero of f


def _small_step_disagrees(
    f: Function, j: int, order: int, chunk: Pending, known: Array
) -> tuple[Array, Array, Array]:
    """Where the central difference at a smaller step contradicts the first answer D, by
    more than 2·FLAG of it and the check's own rounding, W·n/h^m, n being f's noise as 4
    evaluations PROBE_ULPS ulps from x show it (twice the largest difference: `value_noise`),
    and at least eps·(|f| + |x·D|). Two steps, each at most a quarter of the first answer's,
    where that rounding is FLAG and COARSE of D: the first sees a part of f that bends the
    slope by more than FLAG over it, the second one of a scale near its own. Where the
    first answer is good to FLAG, both agree with it.

    The levels' stencils are scaled to the first answer's step, and see what it saw: 3x +
    sin(x) at random points from 1e12, whose step check found nothing (sin(x)'s values at
    four points 1e7 apart happened to lie near a line), converged on 3 to rtol 1e-8, and
    from 1e13 up nearly always. It also catches f whose values are coarser than its noise
    shows (1 − cos(x) near 0, whose smaller steps move f by whole grid steps).

    The noise is at least `known`: the levels' own probe, moving x by 1e-11 of |f/D| where
    f is small next to its slope's reach (`_near`), which sees f's rounding where f cancels
    inside near a zero of f (exp(x) − 1 at 3e-3, log(1 + x) at 1e-4: 16 ulps of x leave 1 + x
    as it was, and the check's steps came out small enough to land on f's grid, where 400
    of 3,000 points an outside attack tried near 0 no longer converged, all correct).
    Elsewhere its moves, 1e-11 of |x|, may see a part of f as noise (sin(x) next to 3x at
    5.6e12, moved by 56), and it is not used.

    Returns where, by how much (|check − D| plus the check's rounding; 0 elsewhere), and the
    evaluations a recheck took (SMALL_STEP_RECHECK at most)."""
    x, first = chunk.x, chunk.first
    # (at x = 0, ulps of the first answer's step: f's values there are of its size)
    moves = PROBE_ULPS * np.spacing(np.maximum(np.abs(x), chunk.first_step)) / NOISE_STEP
    probe = value_noise(f, chunk.rows, j, chunk.center, moves)
    with np.errstate(all="ignore"):
        change = np.abs(first) * chunk.first_step**order  # f's change over the first step
        size = np.abs(chunk.center) + np.abs(x * first) + change
        noise = np.maximum(np.maximum(probe, known), EPS * size)
    astray, apart = _checked(f, j, order, chunk, noise)
    spent = np.zeros(x.shape, dtype=np.int64)
    if astray.any():
        # A contradiction f's own noise explains is none: MGH's trigonometric function, 6 −
        # Σcos x_i, carries noise of 750 eps·|f|, which 16 ulps from x do not show (each
        # cos x_i stays on one value), and its gradient was flagged. Where two difference
        # tables further out show noise that looks like rounding (`rounding_noise`) and is
        # LOUDER times the noise assumed, the check is made again at the steps that noise
        # asks for. (Not where it is about as loud: 3x + sin(x) at 5.6e12, where the tables
        # see f's rounding and the first check's step happened to see cos(x), 0.11, and a
        # step a third wider happened not to.)
        some = np.flatnonzero(astray)
        rows = [r[some] for r in chunk.rows]
        heard = rounding_noise(f, rows, j, chunk.center[some], chunk.first_step[some], size[some])
        spent[some] = 2 * TABLE_EVALUATIONS
        louder = heard > LOUDER * noise[some]
        # ... and where the steps it asks for are well wider than the tables, whose span
        # may otherwise hold a part of f: sin(x) next to 3x from 3e13, where 45 ulps of x are
        # 0.18 radians and more, read as noise 8-28 times eps·|f| at two of 200 points
        asked = _check_step(heard, first[some], COARSE, order)
        span = noise_span(x[some], chunk.first_step[some])
        louder &= asked >= LOUDER * span
        if louder.any():
            at = some[louder]
            astray[at], apart[at] = _checked(f, j, order, _subset(chunk, at), heard[louder])
            spent[at] += CHECK_STEPS
    return astray, apart, spent


def _check_step(noise: Array, first: Array, share: float, order: int) -> Array:
    """The step where a central difference's rounding, W·noise/h^m, is `share` of the first
    answer."""
    weight = sum(abs(w) for w in stencil("central", 2, order).weights)
    with np.errstate(all="ignore"):
        return np.asarray((weight * noise / (share * np.abs(first))) ** (1.0 / order))


def _checked(f: Function, j: int, order: int, chunk: Pending, noise: Array) -> tuple[Array, Array]:
    """`_small_step_disagrees`' two central differences, at steps where f's `noise` rounds
    to FLAG and COARSE of the first answer: where, and by how much, they contradict it."""
    x, first = chunk.x, chunk.first
    rule = stencil("central", 2, order)
    weight = sum(abs(w) for w in rule.weights)
    astray, apart = np.zeros(x.shape, dtype=bool), np.zeros(x.shape)
    with np.errstate(all="ignore"):
        for share in (FLAG, COARSE):
            step = _check_step(noise, first, share, order)
            step = np.minimum(step, chunk.first_step / SHRINK_FACTOR)
            usable = np.isfinite(step) & (step > 0) & np.isfinite(first) & (first != 0)
            h = representable(x, np.where(usable, step, chunk.first_step))
            check = stencil_sum(_values(f, chunk.rows, j, h), h, rule, center=chunk.center)
            rounding = weight * noise / h**order
            contradicts = usable & ~(np.abs(check - first) <= 2 * FLAG * np.abs(first) + rounding)
            astray |= contradicts
            apart = np.where(contradicts, np.fmax(apart, np.abs(check - first) + rounding), apart)
    return astray, apart


CHECKED = 2  # the first answer's accuracy `_first_checked` checks: its bound costs 14
# evaluations a coordinate there (at accuracy 8, 50)


def _first_checked(
    f: Function, j: int, order: int, accuracy: int, chunk: Pending, pending: Array
) -> tuple[Array, Array, int] | None:
    """Where the levels did not meet the goal and the first answer's ladder shrank its step
    (a kink or pole near x), the first answer's own bound (`error_bound`: the next accuracy
    and smaller steps): |x| at 1e-9, whose levels' stencils, at steps scaled to the ladder's,
    reach across the kink, is exact at the ladder's step, 1 ± 4.8e-15. Returns the points
    (indices into the chunk), their bounds, and the evaluations each cost; None if none."""
    if accuracy != CHECKED:
        return None
    scale = function_scale(chunk.x, chunk.first_step, accuracy, order)
    shrunk = scale < np.maximum(np.abs(chunk.x), 1.0) / 2
    # (not where the bound's rounding alone, known without evaluating f, misses the goal;
    # for f'', whose f' is not known here, f's own)
    rule = stencil("central", accuracy, order)
    slope = chunk.first if order == 1 else np.zeros_like(chunk.first)
    rounding = rounding_bound(chunk.x, chunk.first_step, chunk.center, slope, rule)
    within = rounding <= chunk.goal
    at = np.flatnonzero(pending & shrunk & within & np.isfinite(chunk.first) & (chunk.goal > 0))
    if at.size == 0:
        return None
    options = Options(accuracy=accuracy, order=order)
    rows = [r[at] for r in chunk.rows]
    bound = error_bound(
        f, rows, j, chunk.first_step[at], options, chunk.center[at], chunk.first[at]
    )
    bound = np.where(np.isfinite(bound), bound, np.inf)
    return at, bound, _check_cost(accuracy, order)


def _near(chunk: Pending, accuracy: int, order: int) -> tuple[Array, Array]:
    """Where f's rounding near x is probed (`value_noise`'s scale): within f's scale, and
    |f/D|^(1/m) where that is smaller (x² at 1e-8: 5e-9, where the first answer's step
    says 1), so that the probe's curvature stays under the noise. Returns it, and where it
    is NEAR_ZERO times smaller (f small next to what its slope makes of its scale: near a
    zero of f; not 3x + sin(x), whose |f/D| is about x, give or take what cos(x) adds)."""
    scale = function_scale(chunk.x, chunk.first_step, accuracy, order)
    with np.errstate(all="ignore"):
        own = (np.abs(chunk.center) / np.abs(chunk.first)) ** (1.0 / order)
    smaller = np.isfinite(own) & (own > 0) & (own < scale)
    return np.where(smaller, own, scale), smaller & (own < scale / NEAR_ZERO)


def _to_goal(
    f: Function, j: int, order: int, accuracy: int, chunk: Pending, out: Gradient, noise: Array
) -> tuple[Array, Array, Array]:
    """The levels at one chunk; where a level's bound is the smallest so far, its estimate
    replaces the one in `out`. Returns where the goal was met, the evaluations, and the
    bound of the level kept (inf: none)."""
    n = chunk.flat.size
    scale = function_scale(chunk.x, chunk.first_step, accuracy, order)
    h = representable(chunk.x, START[order] * _first_scale(chunk.x, scale, order))
    best, used = np.full(n, np.inf), np.zeros(n, dtype=np.int64)
    met, live = np.zeros(n, dtype=bool), np.arange(n)
    p = np.full(n, ACCURACY[order])  # each point's order: ACCURACY's, HIGHER's once escalated
    first = stencil("central", accuracy, order)
    # the last level's estimate, step and bound, where it converged
    before = np.full((3, n), np.nan)
    held = np.full((2, n), np.nan)  # the estimate and step of the level kept so far
    for _ in range(LEVELS):
        # (the groups as the level starts: a point escalated in one is not tried again in
        # the next, at the same step)
        groups = [(q, live[p[live] == q]) for q in sorted(set(p[live].tolist()))]
        for q, group in groups:
            rows = [r[group] for r in chunk.rows]
            values = _values(f, rows, j, h[group])
            level = _stencils(values, rows[j], h[group], order, chunk.center[group], q)
            heard = _weight(q, order) * noise[group] / h[group] ** order
            # f(x) all over the stencil, where the first answer saw a slope (0: f does not
            # depend on x_j here, and 0 is the answer)
            under = (level.flat > 0) & (chunk.first[group] != 0)
            level = level._replace(
                rounding=np.maximum(level.rounding, heard),
                flat=np.where((level.flat > 0) & ~under, 0, level.flat),
            )
            level = _richardson(level, before[:, group], h[group], q)
            bound = level.truncation + level.rounding
            before[:, group] = np.where(level.converging, [level.estimate, h[group], bound], np.nan)
            finite = np.isfinite(bound) & np.isfinite(level.estimate) & (level.flat == 0)
            bound = np.where(finite, bound, np.inf)
            # What the first answer may be off by: FLAG of it (its step check), its rounding.
            slack = FLAG * np.abs(chunk.first[group]) + rounding_bound(
                chunk.x[group], chunk.first_step[group], chunk.center[group], level.slope, first
            )
            slack += _weight(accuracy, order) * noise[group] / chunk.first_step[group] ** order
            agrees = np.abs(level.estimate - chunk.first[group]) <= bound + slack
            # ... and, at a wider step, with the level kept so far within both bounds
            # (sin(1000x) at π: a 16th-order level at 27 times the 8th's step sampled it
            # aliased, 4.8e-7 of f' off, inside the first answer's FLAG but far outside the
            # kept level's bound). A narrower one is nearer where truncation falls as h^p:
            # f'' of sin(x²) at 1.9, whose first level's bound was 2x too small, is kept
            # from its second.
            apart = np.abs(level.estimate - held[0, group]) > bound + best[group]
            agrees &= ~(apart & (h[group] > held[1, group]))
            goal = chunk.goal[group]
            # A level about to be kept is confirmed at half its step first (`_confirmed`):
            # its orders may agree on a wrong value.
            keeps = bound <= np.maximum(goal, FLAG * np.abs(level.estimate))
            claim = np.flatnonzero(agrees & keeps & (bound < best[group]))
            if claim.size:
                center, heard = chunk.center[group], noise[group]
                level = _confirmed(
                    f, j, order, q, level, values, rows, h[group], center, heard, claim
                )
                bound = level.truncation + level.rounding
                used[group[claim]] += q // 2
            usable = agrees & (bound <= np.maximum(goal, FLAG * np.abs(level.estimate)))
            better = usable & (bound < best[group])
            best[group] = np.where(better, bound, best[group])
            kept = group[better]
            _keep(out, j, chunk.flat[kept], level.estimate[better], h[kept], bound[better])
            held[:, kept] = [level.estimate[better], h[kept]]
            met[group[better & (bound <= goal)]] = True
            used[group] += q
            trusted = agrees & np.isfinite(bound)
            factor, hopeless = _next_step(level, trusted, goal, q, order, ROOM[order])
            escalate, wider = _escalate(level, trusted & (bound > goal), goal, q, order)
            p[group[escalate]] = HIGHER.get(order, q)
            before[:, group[escalate]] = np.nan  # Richardson compares estimates of one order
            factor = np.where(escalate, wider, factor)
            hopeless &= ~escalate
            h[group] = representable(chunk.x[group], h[group] * factor)
            live = live[~np.isin(live, group[hopeless | (goal <= 0)])]
        live = live[~met[live]]
        if live.size == 0:
            break
    return met, used, best


def _confirmed(
    f: Function,
    j: int,
    order: int,
    p: int,
    level: Level,
    values: Callable[[int], Array],
    rows: Sequence[Array],
    h: Array,
    center: Array,
    noise: Array,
    claim: Array,
) -> Level:
    """`level` (on `values`, f at x + k·h, with f(x) `center` and its `noise`) with the
    points `claim` (indices into them) checked at half its step: p/2 new evaluations each
    (the even offsets at h/2 are the level's own points). Where f is
    smooth over the stencil, D(h/2) is 2^p times nearer than D(h), so their difference is
    D(h)'s error, within its bound and both roundings. Where it is not, the bound was wrong:
    the orders agreed on an error that falls with h and not with the order (a kink inside
    the stencil: |x|^3 + x at 1.7e-7 said `converged` at 1e-12 with a bound of 3.2e-13, and
    was 1.1e-11 off), and the truncation is 2·TRUNCATION_SAFETY times the difference; not
    converging, the next step is smaller (`_next_step`)."""
    sub = [r[claim] for r in rows]
    half = h[claim] / 2

    def fine(offset: int) -> Array:
        if offset % 2 == 0:
            return values(offset // 2)[claim]
        return _at(f, sub, j, half, offset)

    check = _stencils(_remembered(fine), sub[j], half, order, center[claim], p)
    rounding = np.maximum(check.rounding, _weight(p, order) * noise[claim] / half**order)
    change = np.abs(level.estimate[claim] - check.estimate)
    bound = level.truncation[claim] + level.rounding[claim]
    refuted = np.zeros(h.size, dtype=bool)
    refuted[claim] = ~(change <= bound + rounding)
    measured = np.zeros(h.size)
    measured[claim] = 2 * TRUNCATION_SAFETY * change
    return level._replace(
        truncation=np.where(refuted, np.maximum(level.truncation, measured), level.truncation),
        converging=level.converging & ~refuted,
    )


def _escalate(level: Level, trusted: Array, goal: Array, p: int, m: int) -> tuple[Array, Array]:
    """Where the next level goes to HIGHER's order, and the factor to its step.

    Where the orders converge, this order's least bound over the steps within reach,
    T·s^p + R·s^−m at s = (m·R/(p·T))^(1/(p+m)), misses the goal: its truncation (∝ h^p)
    or its rounding (∝ h^−m) is in the way at every step. A higher order's truncation falls
    faster as h shrinks, so it is far under this one's at the same step or a wider one:
    the step where its rounding (HIGHER's Σ|w| over this stencil's, times R) is half the
    goal, never narrower, at most ESCALATION_REACH times wider. exp(4x) at 12 (goal 2.8e9): D_8 at
    h = 0.0068 has T = 1e9 and R = 9.3e9, whose least sum is 1e10; D_16 at 0.06 meets it.
    """
    higher = HIGHER.get(m, p)
    if higher <= p:
        return np.zeros(goal.shape, dtype=bool), np.ones(goal.shape)
    t, r = level.truncation, level.rounding
    ratio = _weight(higher, m) / _weight(p, m)
    with np.errstate(all="ignore"):
        s = np.clip(np.nan_to_num((m * r / (p * t)) ** (1.0 / (p + m)), nan=1.0), 1 / REACH, GROW)
        least = t * s**p + r * s ** (-m)
        wider = np.clip(
            np.nan_to_num((2 * ratio * r / goal) ** (1.0 / m), nan=1.0), 1.0, ESCALATION_REACH
        )
    # Not where f's values over the stencil dwarf f(x) (x² at 1e-8): a narrower step is the
    # remedy there (`_next_step`), not a wider one.
    spread = (level.spread > SPREAD) & ~(level.converging & (t >= r))
    escalate = trusted & level.converging & (t > 0) & (least > goal) & (goal > 0) & ~spread
    return escalate, wider


def _weight(p: int, m: int) -> float:
    return sum(abs(w) for w in stencil("central", p, m).weights)


def _richardson(level: Level, before: Array, h: Array, p: int) -> Level:
    """The level's truncation, at most what the change from the last level's estimate says
    (TRUNCATION_SAFETY·|D(h) − D(h')|/((h'/h)^p − 1)) where both converged and h' ≥ 2h:
    D's error falls as h^p, so its error at h' was ((h'/h)^p − 1) times its error at h.
    (exp(x) at 12: D_8 at h' = 0.11, then 0.032: the orders' guess is 1e-12 of f', this
    4e-15; with the rounding the bound is 7.5e-13, the true error 4.5e-15.)"""
    estimate, step, bound = before
    with np.errstate(all="ignore"):
        q = step / h
        apart = np.abs(level.estimate - estimate)
        change = TRUNCATION_SAFETY * apart / (q**p - 1)
    # Only where the last level was within its own bound of this one: one whose orders
    # seemed to converge at a step too wide for f (1 − (1 + x¹⁰)⁻⁴ at 0.37, h = 0.25: off by
    # 0.31 against a bound of 0.01) is not yet where its error falls as h^p.
    sure = level.converging & (q >= 2) & np.isfinite(change)
    sure &= apart <= bound + level.truncation + level.rounding
    return level._replace(
        truncation=np.where(sure, np.minimum(level.truncation, change), level.truncation)
    )


def _keep(out: Gradient, j: int, flat: Array, estimate: Array, h: Array, bound: Array) -> None:
    at = np.unravel_index(flat, out.gradient.shape[1:])
    out.gradient[j][at] = estimate
    if out.steps is not None:
        out.steps[j][at] = h
    if out.errors is not None:
        out.errors[j][at] = bound


def _next_step(
    level: Level, trusted: Array, goal: Array, p: int, m: int, room: float = 4.0
) -> tuple[Array, Array]:
    """The factor to the next level's step, and where no step can meet the goal.

    Where the orders converge and truncation is not far under the rounding (COMPARABLE),
    truncation scales as h^p and the rounding as h^−m: their sum is least at the ratio
    (m·R/(p·T))^(1/(p+m)), smaller or larger (1/x at 1: T and R of 5e-13 each at h = 0.007,
    1e-12 together; 7e-13 at 0.8·h); the next step goes there, at most REACH times smaller
    or GROW times larger, and where even that least sum would miss the goal, no step meets
    it. Where they do not converge while their differences are far over the rounding, the
    step is too wide: WIDE times smaller. Where they do not converge otherwise, or
    truncation is far under it, rounding buries the truncation: a step just large enough
    for the rounding to fall to 1/`room` of the goal (a Hessian's first level, rounding 5x
    over it, went 4x wider and lost to truncation),
    from MIN_GROW to GROW times larger, hopeless only if rounding alone REACH times larger
    would still miss. Untrusted: WIDE smaller.
    """
    t, r = level.truncation, level.rounding
    # Rounding that grows with the step (f's values at the stencil's ends far above f(x):
    # x² at 1e-8) falls with it, to about the size at x where the spread is gone.
    spread = trusted & (level.spread > SPREAD) & ~(level.converging & (t >= r))
    measured = trusted & level.converging & ~spread & (t >= r / COMPARABLE)
    with np.errstate(all="ignore"):
        best = np.nan_to_num((m * r / (p * t)) ** (1.0 / (p + m)), nan=1.0, posinf=GROW)
        predicted = np.where(t > 0, t * best**p + r * best ** (-m), 0.0)
        # (f(x) and x·f' both 0, a least-squares minimum: no step brings f's values there)
        narrower = np.clip(np.nan_to_num(level.spread**-0.5, nan=1.0), 1e-8, 1.0)
        narrower = np.where(np.isinf(level.spread), 1 / REACH, narrower)
        enough = np.clip(np.nan_to_num((room * r / goal) ** (1.0 / m), nan=GROW), MIN_GROW, GROW)
    # Orders that do not converge while their differences are far over the rounding: the
    # step is too wide for f, not buried in noise (MGH's Powell badly scaled function at
    # (0, 10): ∂f/∂x1 = 5e-9 from exp(−x1), at a step of 1.5 read off a first answer whose
    # ladder grew its step for f's rounding; the next steps grew, 3e-7 off, none converged).
    wide = trusted & ~level.converging & ~spread & (t > COMPARABLE * r)
    rounded = trusted & ~measured & ~spread & ~wide
    factor = np.where(measured, np.clip(best, 1 / REACH, GROW), np.where(rounded, enough, 1 / WIDE))
    factor = np.where(spread, narrower, factor)
    # until f changes over the stencil, and not only at x
    factor = np.where(level.flat > 0, REACH, np.where(level.flat < 0, 1 / WIDE, factor))
    # Below the rounding, the measured truncation is partly noise: the model's least sum
    # may be too high, so only the rounding decides there.
    above = measured & (t >= r)
    hopeless = (above & (predicted > goal)) | (~above & ~spread & trusted & (r / REACH**m > goal))
    hopeless &= level.flat == 0
    return factor, hopeless


def _level(
    f: Function,
    rows: Sequence[Array],
    j: int,
    order: int,
    h: Array,
    center: Array,
    p: int | None = None,
) -> Level:
    return _stencils(_values(f, rows, j, h), rows[j], h, order, center, p)


def _values(f: Function, rows: Sequence[Array], j: int, h: Array) -> Callable[[int], Array]:
    """f at x + k·h along x_j, each offset evaluated once."""
    return _remembered(lambda offset: _at(f, rows, j, h, offset))


def _stencils(
    values: Callable[[int], Array],
    x: Array,
    h: Array,
    order: int,
    center: Array,
    p: int | None = None,
) -> Level:
    """The stencil of accuracy p (ACCURACY's for the order unless given) on `values` (f at
    x + k·h), its truncation from p − 2 and p − 4 on the same points, and its rounding."""
    p = p or ACCURACY[order]
    rule = stencil("central", p, order)
    estimate = stencil_sum(values, h, rule, center=center)
    slope = estimate if order == 1 else stencil_sum(values, h, stencil("central", p, 1))
    lower = [
        stencil_sum(values, h, stencil("central", q, order), center=center) for q in (p - 4, p - 2)
    ]
    e_far, e_near = np.abs(lower[0] - estimate), np.abs(lower[1] - estimate)
    truncation = _geometric(lower[0], lower[1], estimate)
    converging = e_near < e_far
    if order == 1:
        # Orders that gain less than SLOW from one to the next do not decrease as a smooth
        # f's do (h^2 a step of order): a kink inside the stencil adds an error that falls
        # with h, not with the order, and they agree on it (|x|^3 + x at 1.6e-5, h = 4e-6:
        # e_6/e_4 = 0.3, a bound of 2.6e-13 against 8.2e-12). Not converging, their
        # truncation is e_(p-2) itself, and the next step smaller (`_next_step`).
        with np.errstate(all="ignore"):
            slow = converging & (e_near > SLOW * e_far)
        truncation = np.where(slow, TRUNCATION_SAFETY * e_near, truncation)
        converging = converging & ~slow
    if order == 2:
        truncation = np.where(
            _slow(values, h, center, estimate, p), TRUNCATION_SAFETY * e_near, truncation
        )
    # Each f(x + k·h) rounds to eps of its own size, which at steps this wide can be far
    # above |f(x)|: x² at 1e-8 is 1e-16 there and 5e-3 four steps of 0.018 away. So the
    # size is Σ|w_k|·|f(x + k·h)| / Σ|w_k|.
    weighted = sum(abs(w) * np.abs(center if k == 0 else values(k)) for k, w in _terms(rule))
    size = np.asarray(weighted / sum(abs(w) for w in rule.weights))
    # (f' at the stencil's ends for f'' only: for f' at a level's wide steps, k·h·|f''|
    # over |f'| counted on the accuracy suite kept 12 points from converging that did
    # within their bounds)
    rounding = rounding_bound(x, h, size, slope, rule, estimate if order == 2 else None)
    # The spread counts only what a narrower step would take away: f's parts over the
    # stencil of degree above m, whose rounding over h^m falls with h; not its linear part,
    # |f'|·|k·h|, nor for f'' its quadratic one, |f''|·(k·h)²/2, whose rounding over h^m is
    # the same or larger at a narrower step (at a least-squares minimum, (c0 + c1·exp(0.6·c2)
    # − 4.14)², f and f' are 0 at x, and narrowing the step for f's quadratic spread left the
    # bound as it was; f'' of 1e4·x³ + 0.01·x² + 5·x at 1e-9 lost 100x to its linear part).
    kept = np.abs(center) + np.abs(x * slope) + np.abs(slope) * h * _part(rule, 1)
    if order == 2:
        kept = kept + np.abs(estimate) * h**2 * _part(rule, 2)
    with np.errstate(all="ignore"):
        spread = size / kept
    return Level(
        estimate, truncation, rounding, slope, converging, spread, _flat(values, rule, center)
    )


# Where the second derivative's low orders gain less than this from one to the next
# (e_(p−6) ≥ EARLY·e_(p−8)), the step reaches too near f's poles for the high orders'
# decrease to be trusted (`START`): the truncation is taken as e_(p−2), no less. On the
# first level of `python -m bench.smooth`'s f'', the bound was exceeded at 30% of
# truncation-led points with e_6/e_4 ≥ 0.03, 5% below; with this, f'' exceeded 0.50% ->
# 0.25% of answers (0.05% -> 0 by over 10x), Hessian terms 0.28% -> 0.12%, and the
# accuracy suite converged as before (Hessians at 348 -> 352 evaluations a point).
EARLY = 1 / 32


def _slow(
    values: Callable[[int], Array], h: Array, center: Array, estimate: Array, p: int
) -> Array:
    """Where D_(p−6) of f'' (on the same values) is not EARLY times closer to D_p than
    D_(p−8) is."""
    far, near = (
        np.abs(stencil_sum(values, h, stencil("central", q, 2), center=center) - estimate)
        for q in (p - 8, p - 6)
    )
    with np.errstate(all="ignore"):
        return np.asarray(near >= EARLY * far)


def _flat(values: Callable[[int], Array], rule: Stencil, center: Array) -> Array:
    """`Level.flat`: +1, −1 or 0 at each point."""
    ends = [k for k in rule.offsets if k != 0]
    same = np.logical_and.reduce([values(k) == values(ends[0]) for k in ends])
    return np.where(same, np.where(values(ends[0]) == center, 1, -1), 0)


def _part(rule: Stencil, n: int) -> float:
    """Σ|w_k|·|k|^n/n! / Σ|w_k|: f's part of degree n over the stencil, weighted as its size
    is (`_stencils`), in units of |f^(n)|·h^n."""
    moments = sum(abs(w) * abs(k) ** n for k, w in _terms(rule)) / math.factorial(n)
    return float(moments) / _weight(rule.accuracy, rule.order)


def _terms(rule: Stencil) -> list[tuple[int, float]]:
    return list(zip(rule.offsets, rule.weights, strict=True))


def _geometric(d_far: Array, d_near: Array, d: Array) -> Array:
    """e = |D_(p−2) − D_p| is D_(p−2)'s error, and while the orders converge (e below
    |D_(p−4) − D_p|) D_p's is about e·(e/e_(p−4)), the next term of the same geometric
    decrease (sin at 1, p = 8: e_4 ≈ 1e-9, e_6 ≈ 3e-13, D_8's ≈ 1e-16), but never below
    e·FLOOR: the decrease need not be geometric ((1 + x^−10.5)^−4.3 at 1.28, h = 0.0058:
    errors 6e-7, 2e-11, 6e-12, where e·(e/e_4) claims 1e-15); counted TRUNCATION_SAFETY
    times. Where they do not converge, e itself."""
    e_far, e_near = np.abs(d_far - d), np.abs(d_near - d)
    with np.errstate(all="ignore"):
        ratio = np.where(e_near < e_far, np.maximum(e_near / e_far, FLOOR), 1.0)
    return np.asarray(TRUNCATION_SAFETY * e_near * ratio)


# ---------------------------------------------------------------- Hessians


def hessian_tolerance_evaluations(dimension: int) -> int:
    """Evaluations of f per point a Hessian's tolerance may add: p per term of the upper
    triangle (a mixed one along e_i + e_j), at every level, and `noise_along`'s probes."""
    return LEVELS * ACCURACY[2] * (dimension * (dimension + 1) // 2) + 2 * len(NOISE_MOVES)


class HessianLevel(NamedTuple):
    terms: Array  # (m, d, d)
    truncation: Array  # (m, d, d)
    rounding: Array  # (m, d, d)
    converging: Array  # (m, d, d)
    spread: Array  # (m, d, d)
    slopes: Array  # (m, d): ∂f/∂x_i, for the rounding inside f
    # (m, d, d): the coordinate whose step a term's truncation comes from, −1 for both: a
    # mixed term's is mostly its diagonal's where that part, v_i²·T_ii/(2·v_i·v_j), leads
    owner: Array


def hessian_to_tolerance(
    f: Function,
    rows: Sequence[Array],
    values: Array,
    out: Hessian,
    tolerance: Tolerance,
    *,
    accuracy: int = 2,
) -> Hessian:
    """`out` re-estimated to `tolerance` as `refine_to_tolerance` does derivatives, a point
    at a time: every term of a level from the 12th-order second-difference stencil (the
    mixed ones along e_i + e_j, less the diagonal's), the point converged when its worst
    bound meets atol + rtol·max|H|, the terms of the level of smallest worst bound kept.
    Adds `converged` and `evaluations` (per point) to `out`."""
    n = out.hessians.shape[0]
    converged, evaluations = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    errors = np.full(out.hessians.shape, np.inf) if out.errors is None else out.errors
    # A point whose level was kept is flagged as `error_estimate` flags a Hessian: where a
    # bound is over FLAG of its term (`untrusted`, per value; exactly 0 is not flagged).
    # That lifts the first answer's flag, which may have come from its small steps alone,
    # where every bound is under; judged against the largest term, x0²·x1 + sin(x1) at
    # (1e6, 1e3) was vouched for with f₁₁ = 1e-4 against −0.827. And it flags a term the
    # level does not resolve against itself where the first answer's rule, against the
    # largest term, let it pass: x0³·x1² at (1e100, 1e-100), f₀₁ = −2e184 ± 2e188 against
    # 6e100. rtol counts against the largest term, so a point can converge and be flagged
    # at once: a term far under the largest, often an exact 0 come out as rounding noise
    # (1e4 + x0² + x1²), is not known to 1e-6 of itself. On the accuracy suite 48% of the
    # Hessians' terms to a tolerance are flagged (26% before), 95% of those within 1e-6.
    kept = np.zeros(n, dtype=bool)
    over = np.zeros(n, dtype=bool)
    for start in range(0, n, LADDER_CHUNK):
        at = np.arange(start, min(start + LADDER_CHUNK, n))
        met, used, best = _hessian_to_goal(f, rows, values, out, errors, tolerance, accuracy, at)
        converged[at], evaluations[at] = met, used
        kept[at] = np.isfinite(best)
        over[at] = untrusted(out.hessians[at], errors[at]).reshape(at.size, -1).any(axis=1)
    unreliable = None if out.unreliable is None else np.where(kept, over, out.unreliable)
    return out._replace(
        errors=errors if out.errors is not None else None,
        converged=converged,
        evaluations=evaluations,
        unreliable=unreliable,
    )


def _hessian_to_goal(
    f: Function,
    rows: Sequence[Array],
    values: Array,
    out: Hessian,
    errors: Array,
    tolerance: Tolerance,
    accuracy: int,
    at: Array,
) -> tuple[Array, Array, Array]:
    """The levels at the points `at`, in place in `out` and `errors`; returns where the
    goal was met, the evaluations, and the worst bound of the level kept (inf: none)."""
    p, d = ACCURACY[2], len(rows)
    first, first_steps = out.hessians[at].copy(), out.steps[at].T.copy()  # (m, d, d), (d, m)
    subset, center = [r[at] for r in rows], values[at]
    scale = _largest_term(first)
    goal = np.maximum(tolerance.atol + tolerance.rtol * scale, 0.0)
    h = np.stack(
        [
            representable(r, HESSIAN_START * _first_scale(r, function_scale(r, s, accuracy, 2), 2))
            for r, s in zip(subset, first_steps, strict=True)
        ]
    )
    best, used = np.full(at.size, np.inf), np.zeros(at.size, dtype=np.int64)
    met, live = np.zeros(at.size, dtype=bool), np.arange(at.size)
    # f's own rounding near x, as for a derivative (`_to_goal`), probed along every
    # coordinate at once: (6 − Σcos x_i)² at x_i = 1/6 cancels inside f, and its terms came
    # out 3-4 times their bounds (8.5e-13 against 2-3e-13).
    with np.errstate(all="ignore"):
        own = np.sqrt(np.abs(center) / scale)
    near = [
        np.where(np.isfinite(own) & (own > 0), np.minimum(s, own), s)
        for s in (
            function_scale(r, s, accuracy, 2) for r, s in zip(subset, first_steps, strict=True)
        )
    ]
    noise = noise_along(f, subset, center, near)
    used += 2 * len(NOISE_MOVES)
    for _ in range(LEVELS):
        x = [r[live] for r in subset]
        level = _hessian_level(f, x, center[live], h[:, live], noise[live])
        bounds = level.truncation + level.rounding
        finite = np.isfinite(bounds) & np.isfinite(level.terms)
        bounds = np.where(finite, bounds, np.inf)
        slack = _first_slack(x, center[live], first_steps[:, live], level.slopes, scale[live])
        slack += (
            _weight(accuracy, 2)
            * noise[live, None, None]
            / (first_steps[:, live].T[:, :, None] * first_steps[:, live].T[:, None, :])
        )
        agrees = (np.abs(level.terms - first[live]) <= bounds + slack).all(axis=(1, 2))
        worst = _largest_term(bounds)
        usable = agrees & (worst <= np.maximum(goal[live], FLAG * _largest_term(level.terms)))
        better = usable & (worst < best[live])
        best[live] = np.where(better, worst, best[live])
        keep = at[live[better]]
        out.hessians[keep], errors[keep] = level.terms[better], bounds[better]
        out.steps[keep] = h[:, live[better]].T
        done = better & (worst <= goal[live])
        met[live[done]] = True
        used[live] += p * (d * (d + 1) // 2)
        factors, hopeless = _next_steps(level, bounds, agrees, goal[live], p)
        hopeless |= goal[live] <= 0
        h[:, live] = np.stack(
            [
                representable(r, hi * factor)
                for r, hi, factor in zip(x, h[:, live], factors, strict=True)
            ]
        )
        live = live[~(done | hopeless)]
        if live.size == 0:
            break
    return met, used, best


def _next_steps(
    level: HessianLevel, bounds: Array, trusted: Array, goal: Array, p: int
) -> tuple[Array, Array]:
    """The factor to each coordinate's next step (d, m), and the points no step can help.

    Every term that misses the goal asks `_next_step` for its own factor, and the factor
    goes to the coordinates it is made of: a diagonal term's to its own, a mixed term's
    to both; a smaller step only to the one whose diagonal's truncation is the larger part
    of it, where one is (`HessianLevel.owner`). A coordinate asked to shrink by any term
    shrinks to the smallest factor asked; otherwise it grows to the largest, but no
    further than where its diagonal's measured truncation balances its rounding; a
    coordinate no missing term names keeps its step. One factor for all, the worst term's,
    could not serve MGH's Biggs EXP6 at (1, 2, 1, 1, 1, 1) (the accuracy suite's mgh-051,
    m = 10): ∂²f/∂x1² wanted a smaller step (truncation 4e-10 against a goal of 8e-12),
    ∂²f/∂x2∂x5 a larger one (rounding 3e-11); its terms came out 1.5e-11 of the largest
    off, and now 1.2e-14. A point stops where its worst term is hopeless, or where no
    step would change; where the level disagrees with the first answer, every step is WIDE
    times smaller."""
    m, d = bounds.shape[:2]
    terms = m * d * d

    def spread_out(a: Array) -> Array:
        return np.repeat(a, d * d)

    each = Level(
        level.terms.reshape(terms),
        level.truncation.reshape(terms),
        level.rounding.reshape(terms),
        np.zeros(terms),
        level.converging.reshape(terms),
        level.spread.reshape(terms),
        np.zeros(terms, dtype=int),  # (a Hessian's levels do not look for flat stencils)
    )
    asked, hopeless = _next_step(each, spread_out(trusted), spread_out(goal), p, 2)
    asked, hopeless = asked.reshape(m, d, d), hopeless.reshape(m, d, d)
    missing = ~(bounds <= goal[:, None, None])
    diagonal = np.arange(d)
    t, r = level.truncation[:, diagonal, diagonal], level.rounding[:, diagonal, diagonal]
    measured = level.converging[:, diagonal, diagonal] & (t >= r / COMPARABLE)
    factors = np.ones((d, m))
    for k in range(d):
        named = missing & ((diagonal[None, :, None] == k) | (diagonal[None, None, :] == k))
        blamed = named & ((level.owner == k) | (level.owner < 0))
        shrink = np.where(blamed & (asked < 1), asked, np.inf).min(axis=(1, 2))
        grow = np.where(named & (asked > 1), asked, 0.0).max(axis=(1, 2))
        cap = np.where(measured[:, k], np.maximum(asked[:, k, k], 1.0), np.inf)
        factors[k] = np.where(
            np.isfinite(shrink), shrink, np.where(grow > 0, np.minimum(grow, cap), 1.0)
        )
    factors = np.where(trusted[None, :], factors, 1 / WIDE)
    # where every step stays (each coordinate a term wants wider is held by its diagonal's
    # truncation), the next level would repeat this one
    stuck = (factors == 1.0).all(axis=0)
    worst = np.argmax(np.nan_to_num(bounds.reshape(m, -1), nan=np.inf), axis=1)
    return factors, hopeless.reshape(m, -1)[np.arange(m), worst] | stuck


def _first_slack(
    rows: Sequence[Array], center: Array, h: Array, slopes: Array, scale: Array
) -> Array:
    """What the first answer's terms may be off by (m, d, d): FLAG of its largest term, and
    the rounding of its stencils (the mixed product's, the larger) at its steps."""
    first = stencil("central", 2, 1)
    constant = max(
        rounding_constant(stencil("central", 2, 2)),
        ROUNDING_SAFETY * EPS * sum(abs(w) for w in first.weights) ** 2,
    )
    size = np.abs(center) + sum(np.abs(r * s) for r, s in zip(rows, slopes.T, strict=True))
    steps = h.T  # (m, d)
    return np.asarray(
        FLAG * scale[:, None, None]
        + constant * size[:, None, None] / (steps[:, :, None] * steps[:, None, :])
    )


def _hessian_level(
    f: Function, rows: Sequence[Array], center: Array, h: Array, noise: Array
) -> HessianLevel:
    """Every term at steps h (d, m): H_ii by the stencil along e_i, H_ij from the second
    difference S along v = h_i·e_i + h_j·e_j (S ≈ vᵀHv), less the diagonal's part:
    H_ij = (S − h_i²·H_ii − h_j²·H_jj) / (2·h_i·h_j), whose bound gathers the three. Each
    stencil's rounding is at least what f's `noise` makes of it."""
    heard = _weight(ACCURACY[2], 2) * noise
    m, d = center.shape[0], len(rows)
    shape = (m, d, d)
    terms, truncation, rounding = np.empty(shape), np.empty(shape), np.empty(shape)
    converging, slopes, spread = np.empty(shape, dtype=bool), np.empty((m, d)), np.empty(shape)
    owner = np.full(shape, -1)
    for i in range(d):
        level = _level(f, rows, i, 2, h[i], center)
        terms[:, i, i], truncation[:, i, i] = level.estimate, level.truncation
        rounding[:, i, i] = np.maximum(level.rounding, heard / h[i] ** 2)
        converging[:, i, i], owner[:, i, i] = level.converging, i
        slopes[:, i], spread[:, i, i] = level.slope, level.spread
    for i in range(d):
        for j in range(i + 1, d):
            # Half steps: v moves f along both coordinates, about twice as fast as e_i.
            v = h[i] / 2, h[j] / 2
            mixed = _mixed_level(f, rows, (i, j), v, center)  # in units of v
            parts = [mixed.estimate, mixed.truncation, np.maximum(mixed.rounding, heard)]
            diagonal = [terms, truncation, rounding]
            for k, (part, whole) in enumerate(zip(parts, diagonal, strict=True)):
                sign = -1.0 if k == 0 else 1.0
                value = part + sign * (v[0] ** 2 * whole[:, i, i] + v[1] ** 2 * whole[:, j, j])
                whole[:, i, j] = whole[:, j, i] = value / (2 * v[0] * v[1])
            own, along_i, along_j = (
                mixed.truncation,
                v[0] ** 2 * truncation[:, i, i],
                v[1] ** 2 * truncation[:, j, j],
            )
            led = np.where(along_i > np.maximum(own, along_j), i, -1)
            owner[:, i, j] = owner[:, j, i] = np.where(along_j > np.maximum(own, along_i), j, led)
            both = mixed.converging & converging[:, i, i] & converging[:, j, j]
            converging[:, i, j] = converging[:, j, i] = both
            spread[:, i, j] = spread[:, j, i] = mixed.spread
    return HessianLevel(terms, truncation, rounding, converging, spread, slopes, owner)


def _mixed_level(
    f: Function,
    rows: Sequence[Array],
    pair: tuple[int, int],
    h: tuple[Array, Array],
    center: Array,
) -> Level:
    """The second-difference stencil along v = h_i·e_i + h_j·e_j (`h`), in units of v: its
    rounding inside f counts |x_i|/h_i + |x_j|/h_j as the argument, in those units."""
    (i, j), (h_i, h_j) = pair, h

    def at(offset: int) -> Array:
        moved = _replace(rows, i, rows[i] + offset * h_i)
        return f(_replace(moved, j, rows[j] + offset * h_j))

    along = np.abs(rows[i]) / h_i + np.abs(rows[j]) / h_j
    return _stencils(_remembered(at), along, np.ones_like(center), 2, center)
