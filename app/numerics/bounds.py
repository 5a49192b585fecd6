"""Error bounds: what an estimate may be off by, from truncation, rounding and smaller steps.

A bound that the true error exceeds is worse than none, so each term errs on the wide side:

- truncation, |D_p − D_q| with q the next accuracy (the leading term of D_p's error, as
  D_q's is of higher order), counted twice for the terms after the leading one;
- rounding, eps·(|f| + |x·f'|)·Σ|w|/h^m, four times: each f(x + o·h) is off by a few ulps
  of |f|, and rounding inside f (the argument of sin(1000·x), the cancellation in
  sqrt(1 − x²) next to 1) moves it by about eps·|x·f'|;
- smaller steps: the stencil again at h/4, h/4³, … h/4¹², and wherever one of them differs
  from the estimate by more than four times its own rounding, that difference. A step
  scaled to |x| samples sin in 3·x + sin(x) at 1e12 every 6e6 radians, where all stencils
  and steps near h agree on 3 and miss cos(x) entirely; a step near 1 does not.

Complex steps have no truncation to compare at tiny h, but Im f(x + ih) loses digits inside
f as the real path does (x⁴ + 3x² − 10x next to its root): their bound is the change from h
to 3h (not 2h, whose rounding repeats h's bit for bit), the rounding of the result, and the
noise that rounding inside f leaves in Im f, measured at points a little away from x.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from .checks import representable
from .core import _at, _remembered, complex_partial, stencil_sum
from .stencils import (
    COMPLEX_BOUND_EVALUATIONS,
    EPS,
    PROBE_LEVELS,
    Array,
    Function,
    Options,
    Stencil,
    error_accuracy,
    stencil,
)

TRUNCATION_SAFETY = 2.0
ROUNDING_SAFETY = 4.0
NOISE = 4.0  # a smaller step's disagreement counts beyond this many times its rounding
PROBES = 4.0 ** -np.array([1.0, 3.0, 6.0, 9.0, 12.0])
assert len(PROBES) == PROBE_LEVELS
COMPLEX_RATIOS = (3.0, 5.0, 7.0)  # not 2: its rounding repeats h's bit for bit
BEND_STEP = 2.0**-30  # f' at x·(1 + 2^-30) for f'': far inside any domain edge we resolve
COMPLEX_ROUNDING = 4.0  # ulps of the result: Im f / h rounds a few times on its way
# The complex-step noise probe (`_complex_noise`): points moved by NOISE_STEP·max(|x_k|, 1),
# 45,000 ulps of x, so that every intermediate of f rounds afresh, and yet so close that the
# smooth part left by the probe's differences, D''·a·b·δ², stays small (sin(1e6·x) at 1e-3:
# 1e-9 of D); it passes 1e-6 of D only within about 1e-8·max(|x|, 1) of a singularity,
# where the bound is that much wider than it need be (arccos at 1 − 1e-8: 6e-6 of D, true
# error 2e-17). NOISE_MOVES are the multiples (a, b) of that move to either side of x:
# unequal and in irrational ratio (square roots of primes), because a rounded intermediate's
# error is a sawtooth of x, linear between its wraps: at equal spacing (±δ, ±2δ) the samples
# alias onto a line, which a difference cancels (papers-043).
NOISE_STEP = 1e-11
NOISE_MOVES = ((1.0, math.sqrt(2.0)), (math.sqrt(3.0), math.sqrt(5.0)))
# Twice the larger difference bounds i.i.d. noise at x: for uniform noise it falls short in
# 0.9% of draws and by 10x in 1e-4 (one difference alone: 8.8% and 0.8%).
NOISE_SAFETY = 2.0
assert len(COMPLEX_RATIOS) + 1 + 2 * len(NOISE_MOVES) == COMPLEX_BOUND_EVALUATIONS


def error_bound(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    options: Options,
    values: Array,
    d: Array,
) -> Array:
    """A bound on |d − ∂^m f/∂x_j^m| at every point: truncation + rounding + smaller steps."""
    if options.method == "complex":
        return _complex_bound(f, rows, j, h, values, d)
    rule = stencil(options.method, options.accuracy, options.order)
    higher = stencil(options.method, error_accuracy(options.accuracy), options.order)
    at = _remembered(lambda offset: _at(f, rows, j, h, offset))
    other = stencil_sum(at, h, higher, center=values)
    slope = d if rule.order == 1 else stencil_sum(at, h, _first(higher), center=values)
    rounding = rounding_bound(rows[j], h, values, slope, rule, _bend(at, h, rule, values, d))
    truncation = TRUNCATION_SAFETY * np.abs(d - other)
    bound = np.asarray(truncation + rounding)
    smaller = _smaller_steps(f, rows, j, h, rule, values, d)
    if smaller is not None:  # fmax: a probe that found nothing (NaN) adds nothing
        bound = np.fmax(bound, smaller)
    # but an estimate that is not a number has no bound, not 0 (as its value, null in JSON)
    return np.asarray(np.where(np.isfinite(d), bound, np.nan))


def rounding_bound(
    x: Array, h: Array, values: Array, slope: Array, rule: Stencil, bend: Array | None = None
) -> Array:
    """ROUNDING_SAFETY·eps·(|f| + |x·f'|)·Σ|w|/h^m: what rounding in and of f may add.

    f' at the stencil's outer points, |f'| + k·h·|f''|, counts (`bend` is f'', `_bend`): at
    a minimum of (c0 + c1·exp(0.6·c2) − 4.14)², f' = 0 at x, but the residual's own
    rounding, eps·4, times f' at x ± h moves a second difference by 1e-11, and a first one
    at a minimum of 3·(tanh(1.407x + 0.452) − 0.86)² + … by 3e-17, where its bound was 2e-19.
    """
    weight = sum(abs(w) for w in rule.weights)
    size = np.abs(values) + np.abs(x * slope)
    if bend is not None:
        size = size + np.abs(x * bend) * (h * max(abs(k) for k in rule.offsets))
    power = h**rule.order
    # h^m past float64 (f'' of sin at 1e300, h = 1e296): the stencil's sum is 0 whatever f
    # is, and no bound of it is known
    return np.asarray(
        np.where(np.isfinite(power), ROUNDING_SAFETY * EPS * weight * size / power, np.inf)
    )


def _bend(
    at: Callable[[int], Array], h: Array, rule: Stencil, center: Array, d: Array
) -> Array | None:
    """f'' for `rounding_bound`: `d` itself for a second derivative; for a central first
    derivative, the second difference on its offsets ±1; None for one-sided ones."""
    if rule.order == 2:
        return d
    if not min(rule.offsets) < 0 < max(rule.offsets):
        return None
    # (f'' by weight/h² times each value overflows where f is near the largest float64,
    # exp(x) at 700, and inf − inf is NaN: left out there, as it always was)
    with np.errstate(all="ignore"):
        bend = stencil_sum(at, h, stencil("central", 2, 2), center=center)
    return np.asarray(np.where(np.isfinite(bend), bend, 0.0))


def _first(rule: Stencil) -> Stencil:
    """The first-derivative stencil on (a subset of) a second derivative's offsets."""
    method = "central" if min(rule.offsets) < 0 < max(rule.offsets) else "forward"
    if method == "forward" and max(rule.offsets) <= 0:
        method = "backward"
    return stencil(method, rule.accuracy, 1)


def _smaller_steps(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    rule: Stencil,
    values: Array,
    d: Array,
) -> Array | None:
    """The largest disagreement, beyond NOISE times its rounding, of the stencil at the
    PROBES steps with `d` (plus that rounding); 0 where they all agree, None without f."""
    scales = PROBES.reshape((-1,) + (1,) * max(np.ndim(d), 1))
    trial_rows = [r[None, ...] for r in rows]
    trial_h = representable(trial_rows[j], np.asarray(h)[None, ...] * scales)
    trial_h = np.where(trial_h > 0, trial_h, np.nan)  # below one ulp of x: no step at all
    at = _remembered(lambda offset: _at(f, trial_rows, j, trial_h, offset))
    center = np.broadcast_to(values, np.broadcast_shapes(np.shape(values), trial_h.shape[1:]))
    trials = stencil_sum(at, trial_h, rule, center=center[None, ...])
    slope = trials
    if rule.order == 2:  # on the rule's own offsets
        slope = stencil_sum(at, trial_h, _first(rule), center=center[None, ...])
    bend = _bend(at, trial_h, rule, center[None, ...], trials)
    rounding = rounding_bound(trial_rows[j], trial_h, center[None, ...], slope, rule, bend)
    difference = np.abs(trials - d)
    counted = np.where(difference > NOISE * rounding, 2.0 * difference + rounding, 0.0)
    return np.asarray(np.max(np.where(np.isfinite(counted), counted, 0.0), axis=0))


def _complex_bound(
    f: Function, rows: Sequence[Array], j: int, h: Array, values: Array, d: Array
) -> Array:
    """2·max|D(h) − D(r·h)| over COMPLEX_RATIOS (noise in Im f that rounding at h happened
    to hide shows at other steps), the rounding of the result, eps·|x·f''|: what rounding x
    inside f (1e4·x in cos(1e4·x)) moves f' by, f'' from f' at x + δ, and the noise of
    rounding inside f (`_complex_noise`)."""
    spread = np.zeros(np.shape(d))
    for ratio in COMPLEX_RATIOS:
        other = complex_partial(f, rows, j, ratio * h)
        spread = np.fmax(spread, np.abs(d - other))
    x = rows[j]
    delta = representable(x, BEND_STEP * np.maximum(np.abs(x), 1.0))
    moved = [x + delta if i == j else r for i, r in enumerate(rows)]
    bend = np.abs(complex_partial(f, moved, j, h) - d) / delta
    inside = ROUNDING_SAFETY * EPS * np.abs(x) * bend
    inside = np.where(np.isfinite(inside), inside, 0.0)
    noise = _complex_noise(f, rows, j, h, d)
    return np.asarray(2.0 * spread + COMPLEX_ROUNDING * EPS * np.abs(d) + inside + noise)


def _complex_noise(f: Function, rows: Sequence[Array], j: int, h: Array, d: Array) -> Array:
    """NOISE_SAFETY·max |b·D(x + a·δ) + a·D(x − b·δ) − (a + b)·D(x)|·2/(a + b) over
    NOISE_MOVES (a, b), δ moving every coordinate by NOISE_STEP·max(|x_k|, 1).

    Im f(x + ih) is exact to first order in h, but f's real intermediates round as on the
    real path: in (exp(x) − 1)² at 1e-3 the difference keeps exp's rounding, eps·1, which
    multiplies Im f. That error does not change with h (Re f(x + ih) is f(x) to O(h²)), so
    `COMPLEX_RATIOS` cannot see it; it changes with x, as every intermediate rounds afresh
    once it moves by some ulps. The combination cancels D's value and slope (the weights b,
    a, −(a + b) sum to 0, and b·a + a·(−b) = 0 with the offsets), leaves D''·a·b·δ² of its
    curvature and the rounding noise at three points, with weight 2 on x's own (as in
    D(x + δ) − 2·D(x) + D(x − δ)). Moving every coordinate, not only x_j, also renews the
    roundings in parts of f that x_j does not enter. A probe where f is not finite (a domain
    edge within δ) adds nothing.
    """
    scale = [NOISE_STEP * np.maximum(np.abs(r), 1.0) for r in rows]
    noise = np.zeros(np.shape(d))
    for a, b in NOISE_MOVES:
        up = complex_partial(f, [r + a * s for r, s in zip(rows, scale, strict=True)], j, h)
        down = complex_partial(f, [r - b * s for r, s in zip(rows, scale, strict=True)], j, h)
        left = np.abs(b * up + a * down - (a + b) * d) * (2.0 / (a + b))
        noise = np.fmax(noise, np.where(np.isfinite(left), left, 0.0))
    return np.asarray(NOISE_SAFETY * noise)


def value_noise(f: Function, rows: Sequence[Array], j: int, values: Array, scale: Array) -> Array:
    """NOISE_SAFETY·max |b·f(x + a·δ) + a·f(x − b·δ) − (a + b)·f(x)|·2/(a + b) over
    NOISE_MOVES (a, b), δ = NOISE_STEP·scale along x_j: the rounding f's values carry near
    x, as `_complex_noise` measures it for Im f (2·len(NOISE_MOVES) evaluations). `scale`
    is f's (where it changes by its own size): δ far under it keeps the curvature left,
    f''·a·b·δ², under the noise (at max(|x|, 1), 1/x at 1e-8 showed 200 of "noise").

    eps·|f| undercounts it where f cancels inside: 1 − (1 + x¹⁰)⁻⁴ at 0.37 is 2e-4 computed
    from 1 − 0.9998, whose rounding is eps·1, 5000 times eps·|f|; a 16th-order stencil's
    bound of 2e-15 claimed rtol = 1e-12 there, and its true error was 4.8e-14."""
    return noise_along(f, rows, values, [scale if i == j else None for i in range(len(rows))])


def noise_along(
    f: Function, rows: Sequence[Array], values: Array, scales: Sequence[Array | None]
) -> Array:
    """`value_noise` with δ = NOISE_STEP·scales[k] along every x_k whose scale is given,
    at once (a Hessian's moves every coordinate: that renews the roundings in every part
    of f)."""
    delta = [None if s is None else NOISE_STEP * np.asarray(s) for s in scales]

    def moved(by: float) -> list[Array]:
        return [r if step is None else r + by * step for r, step in zip(rows, delta, strict=True)]

    noise = np.zeros(np.shape(values))
    for a, b in NOISE_MOVES:
        up, down = f(moved(a)), f(moved(-b))
        left = np.abs(b * up + a * down - (a + b) * values) * (2.0 / (a + b))
        noise = np.fmax(noise, np.where(np.isfinite(left), left, 0.0))
    return np.asarray(NOISE_SAFETY * noise)


# `table_noise`'s differences of f at x + k·m, k = −2..2 (Δ³ on either side, and Δ⁴), each
# with the share that makes it, for i.i.d. noise of deviation s, what one of `value_noise`'s
# moves shows (deviations: 2.46·s for its first move's difference, √20·s and √70·s for Δ³
# and Δ⁴), twice: the three share five values, where `value_noise`'s two moves are four
# independent ones (MGH's discrete boundary value function at its start: 3.8-11.5 eps·|f|
# to `value_noise`, 1.0-5.2 to the table at once).
TABLE_DIFFERENCES = (
    ((-1.0, 3.0, -3.0, 1.0, 0.0), 2 * 2.46 / math.sqrt(20.0)),
    ((0.0, -1.0, 3.0, -3.0, 1.0), 2 * 2.46 / math.sqrt(20.0)),
    ((1.0, -4.0, 6.0, -4.0, 1.0), 2 * 2.46 / math.sqrt(70.0)),
)
TABLE_EVALUATIONS = 4
TABLE_MOVE = math.sqrt(2.0)  # `table_noise`'s moves, in units of the δ it is given


def table_noise(f: Function, rows: Sequence[Array], j: int, values: Array, delta: Array) -> Array:
    """The rounding f's values carry near x, on `value_noise`'s scale, from a difference
    table: f at x ± m and x ± 2m along x_j, m = TABLE_MOVE·δ (TABLE_EVALUATIONS). Its third
    and fourth differences cancel f's curvature, which `value_noise`'s second differences
    keep (f''·δ²): so δ may be wide enough to renew the roundings inside f, and the table
    still shows no more than them where f is smooth at δ. MGH's trigonometric function at 1/6,
    6 − Σcos x_i: moves of 16 ulps of x leave each cos x_i on one value, and `value_noise`
    showed 12-18 eps·|f| of its 750; at 64 ulps it saw the 750, and also sin(x) in 3x +
    sin(x) at 1e13 as noise (moves of 0.13 there: its curvature is a few of f's ulps)."""
    x = rows[j]
    # (moves of an irrational number of δ: with δ a power of two's ulps of x, x + k·δ moved
    # 1 + x by whole ulps of 1 + x for x in [1/32, 1/8), whose rounding then repeated at
    # every point, and log(1 + x) near 0.1 showed no noise at all)
    step = TABLE_MOVE * np.asarray(delta)

    def at(k: int) -> Array:
        if k == 0:
            return values
        moved = [r + k * step if i == j else r for i, r in enumerate(rows)]
        return np.asarray(f(moved), dtype=np.float64)

    table = [at(k) for k in range(-2, 3)]
    noise = np.zeros(np.shape(x))
    with np.errstate(all="ignore"):
        for weights, share in TABLE_DIFFERENCES:
            difference = np.abs(sum(w * v for w, v in zip(weights, table, strict=True) if w))
            noise = np.fmax(noise, np.where(np.isfinite(difference), share * difference, 0.0))
    return np.asarray(NOISE_SAFETY * noise)


# `rounding_noise`: the tables' moves, in ulps of x (at fewer, 16, MGH's trigonometric
# function's cos x_k stay on one value), the second table's this many times wider, and how
# much more than the first it may show and still be noise (a smooth part of f grows in Δ³
# as the move cubed: 64 times); and the most noise that is still f's rounding, in units of
# eps·(|f| + |x·f'|) (MGH's trigonometric function: 400-800)
NOISE_ULPS = 32.0
NOISE_WIDER = 4.0
NOISE_GROWTH = 4.0
NOISE_CAP = 4096.0


def _noise_delta(x: Array, h: Array) -> Array:
    """`rounding_noise`'s first table's δ: NOISE_ULPS ulps of x (at x = 0, of the step h,
    where f's values are of its size)."""
    return np.asarray(NOISE_ULPS * np.spacing(np.maximum(np.abs(x), h)))


def noise_span(x: Array, h: Array) -> Array:
    """How far from x `rounding_noise`'s wider table reaches, on either side."""
    return np.asarray(2 * TABLE_MOVE * NOISE_WIDER * _noise_delta(x, h))


def rounding_noise(
    f: Function, rows: Sequence[Array], j: int, center: Array, h: Array, size: Array
) -> Array:
    """f's rounding noise near x (`table_noise`), where it looks like rounding: as large in
    a table NOISE_WIDER times wider (a part of f at the table's scale grows there: x² +
    1e-11·sin(3e13·x) at 1, whose f' is 193 and whose wide steps say 2; its first table
    sees the sine as 2.3e-13 of noise, its second as 48 times that), and under NOISE_CAP
    times eps·size. 0 elsewhere (2·TABLE_EVALUATIONS evaluations). Noise that is a part of f
    finer than the table and within the cap, as sin(1e16·x) near 1, is f's rounding here,
    as it is to any float64 method: f cannot be evaluated apart from it."""
    delta = _noise_delta(rows[j], h)
    near = table_noise(f, rows, j, center, delta)
    wider = table_noise(f, rows, j, center, NOISE_WIDER * delta)
    with np.errstate(all="ignore"):
        plausible = (wider <= NOISE_GROWTH * near) & (
            np.maximum(near, wider) <= NOISE_CAP * EPS * size
        )
    return np.where(plausible & np.isfinite(size), np.maximum(near, wider), 0.0)


FLAG = 1e-6  # an estimate whose possible error is over this share of it is flagged
# Im f(x + ih) under this is subnormal, spaced by 4.9e-324: over FLAG of itself apart.
SUBNORMAL = float(np.finfo(np.float64).smallest_subnormal) / FLAG


def complex_underflow(d: Array, h: Array, values: Array, x: Array) -> Array:
    """Where a complex step's f' = Im f(x + ih)/h is not to be trusted: Im f ≈ f'·h came out
    subnormal, and lost digits (d/dx exp(x) at −700: Im f ≈ 7e-322, 140 ulps of the
    smallest subnormal, so f' was 2.2e-3 off); or it is 0 where f(x)·h is that small, so
    that a slope of f's size would have been lost whole (∂(exp(x0)·x1)/∂x1 at x0 = −700),
    or of x's (d(x²)/dx at 1e-305, where f(x) itself is 0)."""
    with np.errstate(all="ignore"):
        small = np.abs(d * h) < SUBNORMAL
        tiny = ((values != 0) & (np.abs(values * h) < SUBNORMAL)) | (
            (x != 0) & (np.abs(x * h) < SUBNORMAL)
        )
        lost = (d != 0) | tiny
    return np.asarray(small & lost)


@lru_cache(maxsize=64)
def rounding_constant(rule: Stencil) -> float:
    """C = ROUNDING_SAFETY·eps·Σ|w|: the rounding of a stencil sum per |f|/h^m."""
    return ROUNDING_SAFETY * EPS * sum(abs(w) for w in rule.weights)


def rounding_swamps(
    x: Array, h: Array, limit: Array, estimates: Array, rule: Stencil, out: Array | None = None
) -> Array:
    """Where the rounding of f's values, C·|f|/h^m (C = `rounding_constant`), is over FLAG
    of the estimate: the flag every answer carries, so three passes over a block of points
    and no evaluation. `limit` is C·|f(x)|, shared by a block's coordinates; FLAG·h^m lives
    on x's own shape (a grid's axis).

    Not `rounding_bound`'s |x·f'| term, the rounding of x inside f: as a bound it must
    assume the worst, but next to a pole, on the ladder's steps of 1e-10, it would flag
    1/(x − 1) at 1.0001, exact to 2e-11 (x ± h − 1 is exact there). Not finite: not
    flagged (null says so). An estimate of exactly 0 is flagged wherever f is not 0:
    `zeros_swamped` keeps that only where the point's other components do not vouch for it.
    """
    room = FLAG * h if rule.order == 1 else FLAG * (h * h)
    threshold = np.abs(estimates)
    threshold *= room
    flags: Array = np.less(threshold, limit, out=out)
    if not np.isfinite(room).all():  # h^m past float64 (f'' at 1e300): the sum says nothing
        flags |= ~np.isfinite(room) & np.isfinite(estimates)
    return flags


def stencil_magnitude(at: Callable[[int], Array], rule: Stencil) -> Array:
    """Σ_k |w_k|·|f(x + o_k·h)| / Σ_k |w_k|, `at(o)` being f(x + o·h): the |f| whose rounding
    a second difference carries. Where f crosses 0 at x, |f(x)| says nothing of it: cos at
    π/2 has f = 6e-17 but f(x ± h) = ∓1.9e-4, whose rounding moves f'' by 6e-12 (f'' is
    6e-17; the estimate was 1.1e-13 and unflagged). For f' the difference is at most
    eps·|f'|, far under FLAG, so first derivatives keep |f(x)|."""
    total = sum(abs(w) * np.abs(at(o)) for o, w in zip(rule.offsets, rule.weights, strict=True))
    return np.asarray(total / sum(abs(w) for w in rule.weights))


FEW_COMPONENTS = 4


def zeros_swamped(
    h: Sequence[Array], values: Array, estimates: Array, rule: Stencil, flags: Array
) -> None:
    """Among the estimates of exactly 0, keeps (in place) the flags of those rounding could
    hide a slope in: where C·|f|/h^m is over FLAG of the point's largest component. cos at
    2e-14 and sin at π/2 (f(x ± h) equal, f' ≈ 1e-16) stay flagged; the notebook's x0² + x1²
    on the line x0 = 0 does not (∂f/∂x1 is the point's scale), nor x² at 0 (f = 0).
    `estimates` and `flags` are (d, *shape), `h` one array per coordinate."""
    zero = estimates == 0  # (count_nonzero would spare the temporary, at 10× the time)
    if not zero.any():
        return
    # |f| > FLAG/C·max|D|·h^m; for a few coordinates, max|D| pairwise (NumPy calls on a
    # small grid cost more than their arithmetic: 18×18, ∇ of x0² + x1², took 16 µs here)
    size = np.abs(values)
    largest = np.abs(estimates[0])
    if len(estimates) <= FEW_COMPONENTS:
        for other in estimates[1:]:
            np.maximum(largest, np.abs(other), out=largest)
    else:
        np.max(np.abs(estimates), axis=0, out=largest)
    largest *= FLAG / rounding_constant(rule)
    with np.errstate(all="ignore"):
        for j in range(len(h)):
            power = h[j] if rule.order == 1 else h[j] * h[j]
            np.copyto(flags[j], size > largest * power, where=zero[j])


def float_flags(h: list[float], size: float, estimates: list[float], rule: Stencil) -> list[bool]:
    """`rounding_swamps` and `zeros_swamped` at one point, on Python floats; `size` is the
    |f| whose rounding the stencil carries (|f(x)|, or `stencil_magnitude`)."""
    limit = rounding_constant(rule) * abs(size)
    largest = max(abs(e) for e in estimates)
    flags = []
    for hj, e in zip(h, estimates, strict=True):
        power = hj if rule.order == 1 else hj * hj
        flags.append(limit > FLAG * (largest if e == 0 else abs(e)) * power)
    return flags


def hessian_rounding_swamps(
    h: Array, values: Array, hessians: Array, rule: Stencil, first: Stencil
) -> Array:
    """Points (N,) where the rounding of f may move a term by over FLAG of the Hessian's
    largest term: C·|f|/h_min² > FLAG·max|H|, C the larger of the diagonal stencil's
    `rounding_constant` and the mixed product's (with h_min, an upper bound of every
    term's h_i·h_j, in four passes over the points rather than d² of them); or a mixed
    term by over FLAG of itself where it is resolved, above its rounding R_ij =
    C_mixed·|f|/(h_i·h_j). Against the largest term, because a mixed term that is 0 up to
    rounding is as good as its matrix; but one resolved is a value like any other: the Wood
    function's H_13 = 19.8 next to H_00 = 11202 came out 2.5e-6 off, within 1e-6 of the
    largest term, with an R of 6e-5 of itself. (The diagonal's terms, judged so, would
    flag 48% of the accuracy suite's Hessian components, 91% of them within 1e-6: its
    rounding constant is four times the mixed one's, and its first answers are all close
    to it.)"""
    mixed = ROUNDING_SAFETY * EPS * sum(abs(w) for w in first.weights) ** 2
    constant = max(rounding_constant(rule), mixed)
    smallest = np.min(h, axis=0)  # h is (d, N)
    with np.errstate(all="ignore"):
        largest = _largest_term(hessians)
        flags: Array = constant * np.abs(values) > FLAG * largest * (smallest * smallest)
        size = mixed * np.abs(values)
        for i in range(len(h)):
            for j in range(i + 1, len(h)):
                rounding = size / (h[i] * h[j])
                term = np.abs(hessians[:, i, j])
                flags |= (term > rounding) & (rounding > FLAG * term)
    flags &= np.isfinite(largest)
    return flags


def _largest_term(hessians: Array) -> Array:
    """max_ij |H_ij| per point. NumPy reduces a (N, d·d) array along its short axis 30×
    slower than it takes d(d+1)/2 passes of np.maximum down the columns (760 µs against
    26 µs for 20,000 points of d = 2), so columns it is while there are fewer than points."""
    n, d = hessians.shape[0], hessians.shape[1]
    if d * d > n:
        largest: Array = np.max(np.abs(hessians.reshape(n, -1)), axis=1, initial=0.0)
        return largest
    largest = np.zeros(n)
    for i in range(d):
        for j in range(i, d):
            np.fmax(largest, np.abs(hessians[:, i, j]), out=largest)
    return largest


def untrusted(estimates: Array, errors: Array) -> Array:
    """Where an estimate may be off by more than FLAG of itself, by its error bound.

    An estimate of exactly 0 is not flagged: f(x + h) equal to f(x − h) bit for bit is an
    even f at its centre or a variable f does not use (x0² + x1² on the line x0 = 0). A
    slope so small that f(x ± h) round to the same value (cos at 2e-14) looks the same.
    """
    with np.errstate(all="ignore"):
        size = np.abs(estimates)
        flags: Array = ~(errors <= FLAG * size) & (size != 0) & np.isfinite(estimates)
    return flags
