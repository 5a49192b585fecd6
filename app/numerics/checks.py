"""The automatic step and its checks: too wide for f (truncation shows), or too narrow."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .stencils import COMPLEX_STEP, EPS, Array, Options, Stencil


def automatic_step(x: Array, options: Options) -> Array:
    """h ≈ eps^(1/(p+m)) · max(|x|, 1): balances truncation O(h^p) and rounding O(eps/h^m).

    Scaling with |x| keeps x ± h distinct from x at 1e12 or −3e9, where a fixed step would
    vanish in rounding.
    """
    scale = np.maximum(np.abs(x), 1.0)
    if options.method == "complex":
        return COMPLEX_STEP * scale
    return np.asarray(EPS ** (1.0 / (options.accuracy + options.order)) * scale)


def representable(x: Array, h: Array) -> Array:
    """The step actually taken: (x + h) − x is exact in float64, h itself may not be.

    h ≥ 1e-5·|x| here, far above one ulp of x, so the difference is never 0.
    """
    with np.errstate(all="ignore"):
        return (x + h) - x


def steps_for(x: Array, options: Options) -> Array:
    """A fixed step is used exactly as given (the notebook's h = 1e-4 reproduces its digits)."""
    if options.step is not None:
        return np.full(np.shape(x), options.step)
    h = automatic_step(x, options)
    return h if options.method == "complex" else representable(x, h)


STEP_ERROR = 1e-8  # relative truncation error the step test lets pass, about
THIRD_ROUNDING = 32 * EPS  # rounding of a third difference, relative to |f(x)|
HIDDEN = 1 / 16  # `hidden_structure`: a Δ³ over this share of Δ² is not f's curvature
SECOND_ROUNDING = 16 * EPS  # ... and a Δ² under this share of its values' sizes is rounding


# f(x ± h) round to eps·|f| each, so (f(x+h) − f(x−h))/2h is off by eps·|f|/h: relative
# to the estimate, 2·eps·|f| / |f(x+h) − f(x−h)|. Above ROUNDING_ERROR, the step is too
# narrow. Ten times STEP_ERROR: rounding is noise of a known size, not the unbounded error
# of too wide a step, and growing a step costs a ladder of 9 levels. At 1e-8, 2,300
# points of the 1000×1000 grid of x0² + x1² (those next to x0 = 0 or x1 = 0, off by up to
# 4e-8) took a tenth of the request's engine time to gain digits nobody reads.
ROUNDING_ERROR = 1e-7
NARROW = 2 * EPS / ROUNDING_ERROR


def step_too_wide(
    plus: Array,
    minus: Array,
    beyond: Array,
    difference: Array,
    accuracy: int,
    check: StepCheck,
) -> Array:
    """Where the step is too wide for f: a central difference there may be off by more than
    STEP_ERROR relative, or be garbage.

    `plus`, `minus`, `beyond` are f(x + h), f(x − h), f(x + 2h), `difference` is
    plus − minus ≈ 2h·f', and `check` holds what is needed of f(x) and receives the flags.

    The central difference is f' + h²·f'''/6 + …; the third difference
    Δ³ = f(x+2h) − 3f(x+h) + 3f(x) − f(x−h) ≈ h³·f''' measures that
    error: q = |Δ³| / |f(x+h) − f(x−h)| ≈ h²·|f'''| / 2|f'|, and the relative error at
    accuracy 2 is q/3. At accuracy p, for f changing on a scale s (q ~ (h/s)², error
    ~ (h/s)^p), it is about q^(p/2). Points where that exceeds STEP_ERROR, beyond the
    rounding of Δ³ (≈ 32 eps·|f|), get a second estimate at h/4, and where the two disagree
    a ladder of smaller steps (`_refine`). 1/x at 1e-8 with h ≈ 6e-6 is caught so (the
    values change by a factor of 600 within the step), and so is sin at 1e9 (h ≈ 6000).

    It also flags steps too narrow for f: where |f(x+h) − f(x−h)| is below NARROW·|f(x)|
    (but not 0), the rounding of f alone, eps·|f|/h, is more than ROUNDING_ERROR of the
    estimate (cos near 0, arctan far out, any f with a large offset). Those points get
    wider steps (`_refine`).

    Why the third difference and not the second (h²·f'', how much f bends): at an inflection
    point f'' = 0, and f(x − h), f(x), f(x + h) lie on a line whatever the step. d sin/dx at
    x = 318310π ≈ 1e6 with h ≈ 6 came out as −0.037 instead of 1 that way. And a quadratic,
    exact at any step, has Δ³ = 0 where its slope vanishes and the bend looked large. The
    test costs one more evaluation of f per coordinate (none from accuracy 4, whose stencil
    has x + 2h) and nine passes over the points.
    """
    # Two scratch arrays and nine passes (the terms in f(x) are shared by all coordinates):
    # this runs on every estimate, at about twice the cost of the stencil itself.
    third = np.subtract(beyond, minus, out=np.empty(np.shape(plus)))
    scratch = np.multiply(plus, 3.0, out=np.empty(np.shape(third)))
    third -= scratch
    third += check.triple
    np.abs(third, out=third)
    third -= check.noise  # what Δ³ has beyond its rounding
    third *= (3.0 * STEP_ERROR) ** (-2.0 / accuracy)  # the |f(x+h) − f(x−h)| it calls wide
    spread = np.abs(difference, out=scratch)
    # Not ≤ rather than >: where f(x + 2h) is outside f's domain (NaN), so is the check,
    # and the step is wide enough to reach the edge (sqrt(1 − x) at 1 − 1e-5 was 5.5% off).
    flags = np.less_equal(third, spread, out=check.flags)
    np.logical_not(flags, out=flags)
    # Δ³ beyond twice its rounding: f may change on a scale below h (one more pass here,
    # the test itself on those points only)
    loud = np.flatnonzero(np.greater(third, check.loud))
    if loud.size:
        beyond = third.flat[loud] * (3.0 * STEP_ERROR) ** (2.0 / accuracy)
        plus, minus, center = (np.broadcast_to(a, third.shape) for a in (plus, minus, check.center))
        around = plus.flat[loud], minus.flat[loud], center.flat[loud]
        flags.flat[loud] |= hidden_structure(beyond, *around)
    # Too narrow where the spread is below the rounding of f — but not 0: f(x + h) equal to
    # f(x − h) is an even f at its centre or a variable f does not use, and 0 is right.
    swamped = np.greater(check.narrow, spread)
    swamped &= spread > 0
    flags |= swamped
    return flags


class StepCheck(NamedTuple):
    """Where `step_too_wide` writes its flags, and its terms in f(x): computed once for all
    coordinates of a block."""

    flags: Array
    center: Array  # f(x)
    triple: Array  # 3·f(x)
    noise: Array  # THIRD_ROUNDING·|f(x)|, the rounding of a third difference
    narrow: Array  # NARROW·|f(x)|: a smaller |f(x+h) − f(x−h)| is mostly rounding
    size: Array  # |f(x)|
    # `step_too_wide`'s scaled |Δ³| − noise over this is |Δ³| over twice the noise
    loud: Array

    @classmethod
    def of(cls, center: Array, flags: Array, accuracy: int = 2) -> StepCheck:
        size = np.abs(center)
        noise = size * THIRD_ROUNDING
        loud = noise * (3.0 * STEP_ERROR) ** (-2.0 / accuracy)
        return cls(flags, center, center * 3.0, noise, size * NARROW, size, loud)

    def to(self, flags: Array) -> StepCheck:
        return self._replace(flags=flags)


def hidden_structure(third: Array, plus: Array, minus: Array, center: Array) -> Array:
    """Where f changes on a scale below the step: the third difference Δ³ beyond its
    rounding (`third`) is within a factor 1/HIDDEN of the second, Δ² = f(x+h) − 2f(x) +
    f(x−h), which is itself beyond its rounding (SECOND_ROUNDING of the values' sizes).

    For f smooth over the step, Δ³/Δ² ≈ h·f‴/f″, far under 1 at an automatic step
    (6e-5 for exp(x) at 10, where h = 6e-5). A part of f that changes on a scale below h,
    as sin(x) in 3x + sin(x) at 1e12 (h = 6e6), adds about its own size to both. The
    stencil then measures the mean slope over [x − h, x + h] (3, to 1e-9) while f' at x
    is 3 + cos(x), and `step_too_wide`'s model of its error (q/3, from Δ³ alone) says
    1e-9: 60% of random points near 1e12, and every one from 1e13 up, came out 0.5 off
    without a flag. Flagged, such a point goes down the ladder of smaller steps
    (`_disagree_at_quarter_step`). Within about h/16 of an inflection point Δ³ is far
    over Δ² (sin at 1e-8, h = 6e-6: 600 times), or Δ² is rounding alone (sin at π), and
    the point is left as it is; between h/16 and 16h of one, it takes the ladder. Where
    Δ² is not small next to f's values, f is all curvature there (x⁴ at 0: Δ³ = 6·Δ², and
    the central difference is exact), and the step's own check decides."""
    with np.errstate(all="ignore"):
        second = np.abs(plus + minus - 2.0 * center)
        size = np.abs(plus) + np.abs(minus) + 2.0 * np.abs(center)
        comparable = (third > HIDDEN * second) & (third < second / HIDDEN)
        small = (second > SECOND_ROUNDING * size) & (second < HIDDEN * size)
        return np.asarray(comparable & small)


def shows_hidden_structure(plus: Array, minus: Array, beyond: Array, center: Array) -> Array:
    """`step_too_wide`'s test for a part of f below the step, on its own: f(x + h),
    f(x − h), f(x + 2h) and f(x) (for `_disagree_at_quarter_step`, off the hot path)."""
    noise = np.abs(center) * THIRD_ROUNDING
    third = np.abs((beyond - minus) - plus * 3.0 + center * 3.0) - noise
    return np.asarray((third > noise) & hidden_structure(third, plus, minus, center))


def one_sided_too_wide(
    at: Callable[[int], Array], rule: Stencil, numerator: Array, check: StepCheck
) -> Array:
    """`step_too_wide` for forward and backward stencils (offsets 0 … ±p).

    Their error is C·h^p·f^(p+1), C = Σ w_k·o_k^(p+1) / (p+1)!, and the (p+1)-th difference
    over one more offset, ±(p+1), is ≈ h^(p+1)·f^(p+1): relative to the estimate's
    numerator Σ w_k·f(x + o_k·h) the error is C·|Δ^(p+1)| / |Σ w_k·f|. Flags where that is
    over `_tolerance` beyond Δ's rounding (2^(p+1)·4·eps·|f|, as THIRD_ROUNDING for p = 2),
    or where the numerator is below what rounding makes of it (but not 0),
    as for central stencils. Forward and backward differences are a choice for the edges
    of f's domain and cost one more evaluation here, not on the hot path.
    """
    sign = 1 if max(rule.offsets) > 0 else -1
    n = rule.accuracy + 1
    difference: Array | None = None
    for k in range(n + 1):
        term = at(sign * k) * float((-1) ** (n - k) * math.comb(n, k))
        difference = term if difference is None else difference + term
    assert difference is not None
    constant = abs(sum(w * o**n for o, w in zip(rule.offsets, rule.weights, strict=True)))
    constant /= math.factorial(n)
    beyond = np.abs(difference) - check.size * (2**n * 4 * EPS)  # as THIRD_ROUNDING, n = 3
    spread = np.abs(numerator)
    weight = sum(abs(w) for w in rule.weights)
    tolerance = _tolerance(rule)
    flags: Array = np.less_equal(beyond * constant, tolerance * spread, out=check.flags)
    np.logical_not(flags, out=flags)  # NaN: the extra offset is outside f's domain
    swamped = spread < check.size * (EPS * weight / max(tolerance, ROUNDING_ERROR))
    swamped &= spread > 0
    flags |= swamped
    return flags


def _tolerance(rule: Stencil) -> float:
    """STEP_ERROR, or for accuracy 1 a margin over what such a stencil reaches at all:
    truncation and rounding balance near eps^(1/2) = 1.5e-8 for f of unit scale, and more
    for others (f ten times its slope: 3e-7). 256·eps^(p/(p+1)) is 3.8e-6 for accuracy 1
    and under STEP_ERROR from 2 up: a first-order estimate is checked for steps wrong by
    orders of magnitude, not tuned."""
    p = rule.accuracy
    return float(max(STEP_ERROR, 256 * EPS ** (p / (p + 1.0))))


def _checks_step(options: Options) -> bool:
    """Automatic first derivatives test their step (`step_too_wide`, `one_sided_too_wide`);
    the complex step needs no test."""
    return options.step is None and options.method != "complex" and options.order == 1
