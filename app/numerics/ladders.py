"""Re-estimating the points whose step failed its check, on a ladder of smaller or larger steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .bounds import (
    FLAG,
    NOISE,
    ROUNDING_SAFETY,
    TABLE_EVALUATIONS,
    TRUNCATION_SAFETY,
    _bend,
    error_bound,
    rounding_bound,
    rounding_constant,
    rounding_noise,
    rounding_swamps,
)
from .checks import (
    ROUNDING_ERROR,
    STEP_ERROR,
    _tolerance,
    representable,
    shows_hidden_structure,
    steps_for,
)
from .core import Gradient, _at, _remembered, partial, stencil_sum
from .stencils import EPS, Array, Function, Method, Options, Stencil, stencil

SHRINK_FACTOR = 4.0  # `_refine`: each smaller step is the last one divided by this
SHRINK_LEVELS = 24  # ... down to h / 4^24 ≈ h · 3.6e-15
GROW_LEVELS = 8  # where rounding swamps the estimate, steps grow up to h · 4^8 = h · 65536


def ladder_evaluations(off_center: int) -> int:
    """Evaluations of f a ladder takes per point: a stencil of `off_center` evaluations at
    each of SHRINK_LEVELS + 1 steps, and where smaller steps disagree, the two difference
    tables that may show f's noise to be why (`bounds.rounding_noise`)."""
    return (SHRINK_LEVELS + 1) * off_center + 2 * TABLE_EVALUATIONS


def _refine(
    f: Function,
    rows: Sequence[Array],
    j: int,
    options: Options,
    out: Gradient,
    undefined: bool,
    unsure: Array | None,
    limit: int,
) -> int:
    """Re-estimate ∂f/∂x_j with other steps where f(x) is finite but the estimate is not
    to be trusted. Smaller steps where the stencil left f's domain (non-finite: `undefined`
    says there are some) or where the step is too wide for f (`unsure`, from
    `step_too_wide`) and an estimate at h/4 disagrees; larger ones where the rounding of f
    swamps the estimate (`unsure` again: cos near 0, arctan far out).

    Updates `out` (gradient, steps, errors) at up to `limit` such points
    and returns how many it re-estimated: the ladder costs 25 stencils a point, so a
    caller with a work budget caps it (a million points of sin(1e6·x) would take seconds).

    log(x) at x = 1e-8 with h ≈ 6e-6 evaluates log of a negative number; 1/x there is
    finite on both sides but changes by a factor of 600 within the step. At each such
    point we evaluate the stencil for h, h/4, h/16, … (all levels in one call of f) and
    keep the estimate that agrees best with the next smaller step: truncation error falls
    and rounding error grows as h shrinks, so neighbours agree most near the best step.
    Work is on the flagged points only (index arrays, not masks over the grid), a chunk at
    a time.
    """
    d, values = out.gradient[j], out.values
    h = steps_for(rows[j], options)  # on the row's own shape: an axis, for a grid
    flagged = np.zeros(0, dtype=np.intp)  # flat indices
    narrow = np.zeros(0, dtype=np.intp)
    if undefined:
        flagged = np.flatnonzero(~np.isfinite(d) & np.isfinite(values))
    if unsure is not None:
        candidates = np.flatnonzero(unsure)
        disagree = _disagree_at_quarter_step(f, rows, j, h, options, values, d, candidates)
        more = candidates[disagree]
        flagged = np.union1d(flagged, more) if flagged.size else more
        # Not too wide, by the second estimate: then maybe too narrow. (Both tests fire
        # for x**-3 at 6e-9 with h ≈ 6e-6: f(x ± h) are tiny next to f(x), which looks
        # like rounding, but the step is far too wide and must shrink.)
        settled = candidates[~disagree]
        narrow = settled[_rounding_swamps(h, values, d, settled, options)]
    kept = max(limit, 0), max(limit - min(flagged.size, max(limit, 0)), 0)
    if out.unreliable is not None:  # beyond the budget, estimates stay as they are: flagged
        for beyond in (flagged[kept[0] :], narrow[kept[1] :]):
            out.unreliable[j].flat[beyond] = True
            if out.doubted is not None:
                out.doubted[j].flat[beyond] = True
    flagged, narrow = flagged[: kept[0]], narrow[: kept[1]]
    for indices, levels in ((flagged, SHRINKING), (narrow, GROWING)):
        for start in range(0, indices.size, LADDER_CHUNK):
            chunk = indices[start : start + LADDER_CHUNK]
            _ladder(f, rows, j, options, out, h, chunk, levels)
    return int(flagged.size + narrow.size)


SHRINKING = SHRINK_FACTOR ** -np.arange(0.0, SHRINK_LEVELS + 1)  # h, h/4, … h/4^24
GROWING = SHRINK_FACTOR ** np.arange(0.0, GROW_LEVELS + 1)  # h, 4h, … 4^8·h


def _rounding_swamps(
    h: Array, values: Array, d: Array, candidates: Array, options: Options
) -> Array:
    """Of the flat indices `candidates`, where the rounding of f, eps·|f|·Σ|w|/h, is more
    than ROUNDING_ERROR of the estimate (a mask): the test of the checks for narrow steps."""
    at = np.unravel_index(candidates, d.shape)
    rule = stencil(options.method, options.accuracy, 1)
    weight = sum(abs(w) for w in rule.weights)
    spread = np.abs(d[at]) * _pick(h, at)  # |Σ w·f(x + o·h)|
    bound = (EPS * weight / max(_tolerance(rule), ROUNDING_ERROR)) * np.abs(_pick(values, at))
    swamped: Array = np.isfinite(d[at]) & (spread < bound)
    return swamped


LADDER_CHUNK = 2048  # points per ladder call: 25 levels × 2048 keep its arrays in cache


def _ladder(
    f: Function,
    rows: Sequence[Array],
    j: int,
    options: Options,
    out: Gradient,
    h: Array,
    flagged: Array,
    levels: Array,
) -> None:
    """The estimates at steps h·levels at the `flagged` flat indices; keeps the best."""
    d, values = out.gradient[j], out.values
    at = np.unravel_index(flagged, d.shape)
    subset = [_pick(r, at) for r in rows]
    h_bad, center = _pick(h, at), _pick(values, at)
    rule = stencil(options.method, options.accuracy, options.order)
    rung = _best_on_ladder(f, subset, j, h_bad, center, rule, levels)
    found = rung.found
    before = d[at]
    d[at] = np.where(found, rung.estimate, np.where(np.isfinite(before), before, np.nan))
    used = np.where(found, rung.step, h_bad)
    if out.unreliable is not None:  # the rounding test again, at the steps now used
        limit = rounding_constant(rule) * np.abs(center)
        swamped = rounding_swamps(subset[j], used, limit, d[at], rule)
        # Only a ladder of smaller steps has steps below the chosen one to disagree.
        shrinking = levels[-1] < levels[0]
        disagree = rung.doubt & found & shrinking
        noisy = rung.noisy & found & shrinking  # (flagged: the bounds do not count it)
        out.unreliable[j][at] = swamped | disagree | noisy | (rung.unsettled & found)
        if out.doubted is not None:
            out.doubted[j][at] = disagree
    if out.steps is not None:
        out.steps[j][at] = used
    if out.errors is not None:
        out.errors[j][at] = error_bound(f, subset, j, used, options, center, d[at])


class Rung(NamedTuple):
    """What a ladder settled on at each point (`_best_on_ladder`)."""

    estimate: Array
    step: Array
    found: Array  # some level was finite
    doubt: Array  # smaller steps disagree with it beyond f's rounding, or wider ones settle
    # on another value (`_wider_steps_settle_elsewhere`)
    unsettled: Array  # it changes too much at the next step to be within FLAG
    noisy: Array  # smaller steps disagree beyond eps·(|f| + |x·f'|), within f's own noise


def _best_on_ladder(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    center: Array,
    rule: Stencil,
    levels: Array = SHRINKING,
) -> Rung:
    """The stencil at h·levels (h, h/4, … h/4^24 by default) at each point of `rows` (1-D,
    a subset), keeping the level that agrees best with the next one (`Rung`)."""
    scales = levels[:, None]
    trial_rows = [r[None, :] for r in rows]
    trial_h = representable(trial_rows[j], h[None, :] * scales)
    trial_center = np.broadcast_to(center[None, :], trial_h.shape)
    # f at each offset once: a second derivative's f' (below) reuses the same points.
    at = _remembered(lambda offset: _at(f, trial_rows, j, trial_h, offset))
    trials = stencil_sum(at, trial_h, rule, center=trial_center)
    # A level whose stencil saw one value of f bit for bit at every point but x says
    # nothing about f': it agrees with the next such level on 0 (log(1 + x²) at 1e-8 below
    # h ≈ 1e-8, where 1 + x² rounds to 1, was 0 against 2e-8, unflagged). It takes part in
    # no agreement where the levels that saw f change settle on something (relative change
    # under 1/2); where they do not, they are noise around a true 0 (a gradient at a
    # least-squares minimum), and the flat ones' 0 stands, as where f is constant along x_j
    # as far as any step can tell (log(x0)·x1 at x1 = 0).
    ends = [k for k in rule.offsets if k != 0]
    seen = trial_center if len(ends) == 1 else at(ends[0])  # (a two-point stencil: f(x))
    flat = np.logical_and.reduce([at(k) == seen for k in ends])
    moving = np.where(flat, np.nan, trials)
    slopes = trials
    if rule.order == 2:  # (f' on the same points)
        first = stencil(_side(rule), rule.accuracy, 1)
        slopes = stencil_sum(at, trial_h, first, center=trial_center)
    grid = _resolution(trial_h, rule, flat, slopes)
    weight = sum(abs(w) for w in rule.weights)
    power = trial_h**rule.order
    rounded = (EPS * np.abs(trial_center) + grid) * weight / power
    settles = _agreement(moving, rounded).min(axis=0) <= 0.5
    trials = np.where(settles[None, :], moving, trials)
    # At tiny steps neighbours can agree by coincidence of rounding (even exactly), so
    # each level is charged its rounding error eps·|f|·Σ|w|/h^m as well (and the grid f's
    # values lie on, `_resolution`, where that is coarser). The change is
    # relative to the two estimates: at steps far too wide, estimates are small garbage
    # (x**-3 at 5e-9: 7e20 and 2e23 against a true −2.5e33) and agree well in absolute
    # terms — but not relative to their size.
    columns = np.arange(trials.shape[1])
    best_precise, precise = _best_level(trials, rounded)
    # Rounding the arguments inside f (1000·x in sin(1000*x)) costs up to eps·|x·f'|, and
    # at steps of a few ulps it biases every level the same way: with eps·|f| alone,
    # d sin(1000x)/dx at π (f ≈ 0) came out as 1024 instead of 1000 — the levels at 4, 1
    # and 1/4 ulps agreed exactly (and d²/dx² there as 9e14). Charged eps·(|f| + |x·f'|)
    # the ladder is safe, but where f computes exactly from x (log(x − 1) next to 1,
    # sin(x) at 1e9) it settles for a wider step and 1e-6 instead of 1e-10. So both are
    # found, and the precise one is kept where it agrees with the safe one within twice the
    # safe one's own change. (Four times kept sqrt(1 − x²) at 0.999999 at 52 ulps of x,
    # where rounding x² drifts linearly with x and biases every small step alike: 1.0e-6
    # off, against 2.8e-7 at the safe step; their difference was 3.7 of that change.) A
    # second derivative's ladder takes f' from the same steps.
    size = np.abs(trial_center) + np.abs(trial_rows[j] * slopes)
    best_safe, safe = _best_level(trials, (EPS * size + grid) * weight / power)
    d_precise, d_safe = trials[best_precise, columns], trials[best_safe, columns]
    margin = 2 * safe[best_safe, columns] * np.abs(d_safe)
    trusted = np.abs(d_precise - d_safe) <= margin
    best = np.where(trusted, best_precise, best_safe)
    chosen = trials[best, columns]
    # Smaller steps round as the bound counts them: for f'' with f' at the stencil's outer
    # points (`rounding_bound`'s bend), which at a least-squares minimum, f and f' both 0 at
    # x, is all the rounding there is: (exp(−x) − exp(−3))² at 3 was doubted, 2e-9 off.
    bend = _bend(at, trial_h, rule, trial_center, trials)
    rounding = rounding_bound(trial_rows[j], trial_h, trial_center, slopes, rule, bend)
    rounding = rounding + ROUNDING_SAFETY * grid * weight / power
    doubt = _smaller_steps_disagree(trials, chosen, best, rounding)
    # Where smaller steps disagree only by what f's own noise explains, the disagreement is
    # f's rounding, not a part of f the chosen step missed: MGH's trigonometric function,
    # Σ(6 − Σcos x_k + i·(1 − cos x_i) − sin x_i)² at x_k = 1/6, is 0.0104 from terms of 6,
    # its values carry noise of 1e-15 (750 times eps·|f|), and the levels below the chosen
    # one moved from it by about that over h², doubted; its Hessian never converged.
    noisy = np.zeros_like(doubt)
    if doubt.any() and levels[-1] < levels[0]:
        some = np.flatnonzero(doubt)
        size = np.abs(center[some]) + np.abs(rows[j][some] * slopes[best[some], some])
        noise = rounding_noise(f, [r[some] for r in rows], j, center[some], h[some], size)
        # (the noise measured counts once, not NOISE times as the rounding assumed does: it
        # is measured with its own margin, and a part of f as high as the margin allows is
        # taken for noise; at NOISE times, an outside attack's exp(x) + ((x + 1000) − 1000)
        # + 3.4e-11·sin(x/1e-5) converged f'' 1.5e-3 off, its sine 300 times f's noise)
        heard = np.maximum(rounding[:, some], weight * noise / (NOISE * power[:, some]))
        still = _smaller_steps_disagree(trials[:, some], chosen[some], best[some], heard)
        noisy[some], doubt[some] = ~still, still
    doubt |= _wider_steps_settle_elsewhere(trials, chosen, best, rounding)
    noisy &= ~doubt
    # The chosen level's own change to the next, relative to the two (about half the
    # relative change), counted TRUNCATION_SAFETY times as a bound: over FLAG, the ladder
    # cannot vouch for the estimate (forward f'' of log(x) at 1e-6: the best level changes
    # by 8e-7 of itself to the next, and is 1.1e-6 off). Not where no level settled at all
    # (`_best_level`: noise around a true 0, as d(x − 1)³/dx at 1 = 1.8e-30), which the
    # rounding tests judge against the point's largest component.
    change = np.where(trusted, precise[best, columns], safe[best, columns])
    unsettled = (change <= 0.5) & (TRUNCATION_SAFETY * 2 * change > FLAG)
    found = np.isfinite(safe.min(axis=0))
    return Rung(chosen, trial_h[best, columns], found, doubt, unsettled, noisy)


def _side(rule: Stencil) -> Method:
    """The method of a stencil, by its offsets: a one-sided one stays on its side (f'
    for a forward f'' must not evaluate f behind x, where it may be undefined)."""
    if min(rule.offsets) >= 0:
        return "forward"
    if max(rule.offsets) <= 0:
        return "backward"
    return "central"


# `_wider_steps_settle_elsewhere`: two levels that change by at most SETTLED of themselves
# from one to the other, apart from the chosen one by SPLIT times that change
SETTLED = 1e-2
SPLIT = 64.0


def _wider_steps_settle_elsewhere(
    trials: Array, chosen: Array, best: Array, rounding: Array
) -> Array:
    """Where two neighbouring levels above the chosen one agree with each other within
    SETTLED of themselves and SPLIT times better than with it, and it is apart from them
    beyond what it flags and NOISE times their rounding: the ladder found two answers and
    kept the one of smaller steps, which may be f's rounding made smooth. (1 − cos(x))/x
    at 1e-6: below h ≈ 1e-10, cos(x ± h) rounds to one value c, f is (1 − c)/x there, and
    the levels agree to 1e-10 on its slope, −0.5, unflagged; the steps from 6e-6 to 4e-7
    agree to 1e-5 on the true 0.5. Where f's error falls as the step does, a wider level is
    apart from the chosen one by about its change to the next, not SPLIT times more; where
    the chosen level is right, relu(x) at 1e-10, whose wide steps settle on 0.5, the point
    is flagged though it need not be.)"""
    above = np.arange(trials.shape[0] - 1)[:, None] < best[None, :] - 1
    with np.errstate(all="ignore"):
        change = np.abs(np.diff(trials, axis=0)) + rounding[:-1]
        settled = change <= SETTLED * (np.abs(trials[:-1]) + np.abs(trials[1:]))
        apart = np.abs(trials[:-1] - chosen[None, :])
        beyond = np.maximum(NOISE * rounding[:-1], FLAG * np.abs(chosen)[None, :])
        split = above & settled & (apart > beyond) & (SPLIT * change < apart)
    elsewhere: Array = (split & np.isfinite(change)).any(axis=0)
    return elsewhere


def _smaller_steps_disagree(trials: Array, chosen: Array, best: Array, rounding: Array) -> Array:
    """Where a level below the chosen one differs from it by more than NOISE times its own
    rounding: the agreement the ladder found is between steps too wide for f (3x + sin(x)
    at 1e9 with h ≈ 6000: every wide level says 3, steps near 0.01 say 3 + cos(x))."""
    below = np.arange(trials.shape[0])[:, None] > best[None, :]
    with np.errstate(all="ignore"):
        beyond = np.maximum(NOISE * rounding, FLAG * np.abs(chosen)[None, :])  # what it flags
        apart = np.abs(trials - chosen[None, :]) > beyond
    disagree: Array = (below & apart & np.isfinite(trials)).any(axis=0)
    return disagree


def _resolution(h: Array, rule: Stencil, flat: Array, slopes: Array) -> Array:
    """Half the least change of f near x that its values show (per point; 0 where none is
    seen): where a level saw f equal at its stencil's ends (`flat`) while f's slope, as the
    levels that saw f move measure it, says it moves by |f'|·(span of the ends) across
    them, f's values lie on a grid at least that coarse. eps·(|f| + |x·f'|) undercounts
    it where f cancels inside: 1 − cos(x) at 1e-5 is 5e-11 from 1 − 0.99999999995, whose
    values lie 1.1e-16 apart; at steps of 9.2e-11, 2.3e-11 and 5.8e-12 f moved by 16, 4
    and 1 of them, three levels agreed exactly on 9.61e-6 (exact: 1e-5), and the ladder
    kept it, unflagged. Charged the grid's rounding, the levels settle near 6e-6."""
    if rule.order != 1:  # (f'' has no settled slope of its own here: at a minimum of f,
        # f(x ± h) are equal by f's symmetry, and its f' there is noise)
        return np.zeros(h.shape[1:])
    ends = sorted(k for k in rule.offsets if k != 0)
    span = (max(ends[-1], 0) - min(ends[0], 0)) * h
    with np.errstate(all="ignore"):
        # (the least slope of levels that saw f move and agree with the next within SETTLED:
        # at a minimum of f, the levels' slopes are truncation and rounding around 0)
        moving = np.where(flat, np.nan, slopes)
        agree = np.abs(np.diff(moving, axis=0)) <= SETTLED * np.abs(moving[:-1])
        least = np.min(np.where(agree, np.abs(moving[:-1]), np.inf), axis=0)
        typical = np.where(np.isfinite(least), least, 0.0)
        # (only the run of flat levels at the ladder's smallest steps: f quantized; flat
        # levels above moving ones are f constant over them, relu(x) left of 1e-10)
        trailing = np.flip(np.logical_and.accumulate(np.flip(flat, axis=0), axis=0), axis=0)
        hidden = np.where(trailing, typical[None, :] * span, 0.0)
        widest = np.max(np.nan_to_num(hidden, nan=0.0, posinf=0.0), axis=0)
    return np.asarray(widest / 2)


def _best_level(trials: Array, rounding: Array) -> tuple[Array, Array]:
    """(level, change): the level of least relative change (`_agreement`), unless no level
    settled (every change over 1/2: the estimates are rounding noise around a true 0,
    growing as the step shrinks); then the level of least absolute change plus rounding.
    d²sin(1000x)/dx² at π is ≈ 0; the relative rule took a step of 1e-13 and returned 9e14."""
    change = _agreement(trials, rounding)
    best: Array = np.argmin(change, axis=0)
    absolute = np.abs(np.diff(trials, axis=0)) + rounding[:-1]
    absolute = np.where(np.isfinite(absolute), absolute, np.inf)
    unsettled = ~(change.min(axis=0) <= 0.5)
    return np.where(unsettled, np.argmin(absolute, axis=0), best), change


def _agreement(trials: Array, rounding: Array) -> Array:
    """For each level but the last, how much its estimate changes at the next smaller step,
    relative to both and charged the level's rounding error; inf where undefined."""
    rounding = rounding[:-1]
    size = np.abs(trials[:-1]) + np.abs(trials[1:]) + rounding  # 0 only if both are 0
    disagreement = np.abs(np.diff(trials, axis=0)) + rounding
    change = np.divide(disagreement, size, out=np.zeros_like(size), where=size != 0)  # NaN stays
    return np.where(np.isfinite(change), change, np.inf)


def _pick(array: Array, at: tuple[Array, ...]) -> Array:
    """array[at] for an array that broadcasts to the block (a grid axis: size-1 dimensions
    are indexed at 0), without materializing the broadcast."""
    array = np.asarray(array)
    if array.ndim == 0:
        return np.full(len(at[0]), array[()])
    offset = len(at) - array.ndim
    # Along a broadcast dimension (length 1) every index reads element 0: i % 1 == 0.
    picked: Array = array[tuple(i % n for i, n in zip(at[offset:], array.shape, strict=True))]
    return picked


def _disagree_at_quarter_step(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    options: Options,
    values: Array,
    d: Array,
    candidates: Array,
) -> Array:
    """Of the flat indices `candidates` (where the step may be too wide), which have
    an estimate at h/4 that differs from the one at h by more than STEP_ERROR relative
    plus rounding (a mask over `candidates`).

    The third difference cannot tell 1/x near 0 (h too large) from x³ near 0 (f''' ≠ 0
    against f' ≈ 0, but the error, h²·f'''/6, is small in absolute terms); a second
    estimate can, and costs two evaluations of f on those points only.

    Nor can a step of h/4 see a part of f that changes on a scale far below both (3x +
    sin(x) at 1e13: h = 6e7, and both steps measure a mean slope of 3): where central
    differences are checked, the points whose third difference shows such a part
    (`hidden_structure`, three evaluations more) disagree, and go down the ladder.
    """
    at = np.unravel_index(candidates, d.shape)
    first, center = d[at], _pick(values, at)
    subset = [_pick(r, at) for r in rows]
    rule = stencil(options.method, options.accuracy, options.order)
    step = _pick(h, at)
    change, allowed = _quarter_step_change(f, subset, j, step, rule, center, first)
    usable = np.isfinite(first) & np.isfinite(center)  # the others are undefined anyway
    disagree: Array = usable & (change > allowed)
    agree = np.flatnonzero(usable & ~disagree)
    if options.method == "central" and agree.size:
        again = [r[agree] for r in subset]
        plus, minus, beyond = (_at(f, again, j, step[agree], k) for k in (1, -1, 2))
        disagree[agree] = shows_hidden_structure(plus, minus, beyond, center[agree])
    return disagree


def _quarter_step_change(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    rule: Stencil,
    center: Array,
    estimate: Array,
) -> tuple[Array, Array]:
    """(|estimate − the estimate at h/4|, what it may be): STEP_ERROR of the estimate plus
    the rounding error eps·|f|·Σ|w|/(h/4)^m of the smaller step."""
    quarter = representable(rows[j], h / SHRINK_FACTOR)
    second = partial(f, rows, j, quarter, rule, center=center)
    rounding = EPS * np.abs(center) * sum(abs(w) for w in rule.weights) / quarter**rule.order
    return np.abs(estimate - second), STEP_ERROR * np.abs(estimate) + rounding
