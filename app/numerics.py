"""Finite differences on arrays: derivatives, gradients, gradient fields and Hessians.

Pure NumPy, no HTTP. A function here is any `f(rows) -> values` that takes one array per
variable (all broadcastable to one shape) and returns f at every point, vectorized — the
shape `app.expressions.Expression.bind` produces. One call of `f` evaluates every point at
once; Python loops run only over coordinates and stencil offsets, never over points.

The stencil for derivative order m with offsets o_k (in units of the step h) is

    f^(m)(x) ≈ (1 / h^m) · Σ_k w_k · f(x + o_k·h),      truncation error O(h^p),

with weights w_k from Fornberg's recursion (exact rationals, so no hand-typed tables).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from app.errors import MethodError, RequestError

Array: TypeAlias = npt.NDArray[Any]
Function: TypeAlias = Callable[[Sequence[Array]], Array]
Method: TypeAlias = Literal["central", "forward", "backward", "complex"]
Indexing: TypeAlias = Literal["xy", "ij"]

METHODS: tuple[Method, ...] = ("central", "forward", "backward", "complex")
ACCURACIES = (1, 2, 4, 6, 8)
EPS = float(np.finfo(np.float64).eps)
COMPLEX_STEP = 1e-20  # relative: Im f(x + ih)/h has no cancellation, any tiny h works
SHRINK_FACTOR = 4.0  # `_refine`: each smaller step is the last one divided by this
SHRINK_LEVELS = 24  # ... down to h / 4^24 ≈ h · 3.6e-15
GROW_LEVELS = 8  # where rounding swamps the estimate, steps grow up to h · 4^8 = h · 65536


# ---------------------------------------------------------------- stencils


@dataclass(frozen=True)
class Stencil:
    """Offsets (in steps) and weights of a finite-difference formula; zero weights dropped."""

    offsets: tuple[int, ...]
    weights: tuple[float, ...]
    order: int  # which derivative
    accuracy: int  # truncation error O(h^accuracy)

    @property
    def center_weight(self) -> float:
        return dict(zip(self.offsets, self.weights, strict=True)).get(0, 0.0)


def fornberg_weights(offsets: Sequence[int], order: int) -> list[Fraction]:
    """Weights of the `order`-th derivative at 0 on integer `offsets` (Fornberg, 1988).

    The recursion builds the Lagrange interpolant through the nodes one node at a time;
    `c[j][k]` holds the weight of node j for the k-th derivative. Exact in rationals.
    """
    nodes = [Fraction(o) for o in offsets]
    c = [[Fraction(0)] * (order + 1) for _ in nodes]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    for i in range(1, len(nodes)):
        c2 = Fraction(1)
        for j in range(i):
            c3 = nodes[i] - nodes[j]
            c2 *= c3
            if j == i - 1:
                for k in range(min(i, order), 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - nodes[i - 1] * c[i - 1][k]) / c2
                c[i][0] = -c1 * nodes[i - 1] * c[i - 1][0] / c2
            for k in range(min(i, order), 0, -1):
                c[j][k] = (nodes[i] * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = nodes[i] * c[j][0] / c3
        c1 = c2
    return [row[order] for row in c]


@lru_cache(maxsize=64)
def stencil(method: Method, accuracy: int, order: int = 1) -> Stencil:
    """The standard central or one-sided stencil of the given truncation order."""
    if method == "central":
        # 2·⌊(m+1)/2⌋ − 1 + p points, symmetric about 0.
        half = (2 * ((order + 1) // 2) - 1 + accuracy) // 2
        offsets = list(range(-half, half + 1))
    else:
        sign = 1 if method == "forward" else -1
        offsets = [sign * k for k in range(order + accuracy)]
    weights = fornberg_weights(offsets, order)
    kept = [(o, float(w)) for o, w in zip(offsets, weights, strict=True) if w != 0]
    return Stencil(
        offsets=tuple(o for o, _ in kept),
        weights=tuple(w for _, w in kept),
        order=order,
        accuracy=accuracy,
    )


# ---------------------------------------------------------------- argument checks


@dataclass(frozen=True)
class Options:
    """Validated options shared by every derivative routine."""

    method: Method = "central"
    step: float | None = None
    accuracy: int = 2
    order: int = 1
    error_estimate: bool = False


def check_options(
    method: str, step: float | None, accuracy: int, order: int, error_estimate: bool
) -> Options:
    """Validate options apart from the algorithm; raise `RequestError` with a fix."""
    if method not in METHODS:
        raise RequestError(
            f"`method` must be one of {', '.join(METHODS)}; got {method!r}.", field="method"
        )
    if step is not None and not (np.isfinite(step) and step > 0):
        raise RequestError(f"`step` must be a positive finite number; got {step}.", field="step")
    if accuracy not in ACCURACIES:
        raise RequestError(
            f"`accuracy` must be one of 1, 2, 4, 6, 8; got {accuracy}.", field="accuracy"
        )
    if method == "central" and accuracy % 2:
        raise RequestError(
            "`accuracy` must be even for the central method (2, 4, 6 or 8); "
            f"got {accuracy}. Odd orders exist only for `forward` and `backward`.",
            field="accuracy",
        )
    if order not in (1, 2):
        raise RequestError(f"`order` must be 1 or 2; got {order}.", field="order")
    if method == "complex" and order != 1:
        raise MethodError(
            "the `complex` method computes first derivatives only; use `central` for order 2.",
            field="method",
        )
    return Options(method, step, accuracy, order, error_estimate)


def evaluation_count(
    method: str,
    accuracy: int,
    order: int,
    dimension: int,
    error_estimate: bool,
    *,
    automatic_step: bool = False,
) -> int:
    """Evaluations of f per point: f itself, plus each off-center stencil point per coordinate
    (and, with an automatic step, the offset a first derivative's check adds, or the
    central stencil again at h/4 for a second derivative)."""
    if method == "complex":
        per_coordinate = 2 if error_estimate else 1
    else:
        rule = stencil(method, accuracy, order)
        checked = automatic_step and method == "central"
        if automatic_step and order == 1:
            per_coordinate = len(_checked_offsets(rule))
        else:  # with an automatic step, second derivatives are checked at h/4
            per_coordinate = len(_off_center(rule)) * (2 if checked else 1)
        if error_estimate:
            per_coordinate += len(stencil(method, min(accuracy + 2, 8), order).offsets)
    return 1 + dimension * per_coordinate


# ---------------------------------------------------------------- steps


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


# ---------------------------------------------------------------- the core stencil sum


def _replace(rows: Sequence[Array], j: int, row: Array) -> list[Array]:
    # Only row j is new; the others are passed as they are (no copies of the points).
    return [row if i == j else r for i, r in enumerate(rows)]


def partial(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    rule: Stencil,
    center: Array | None = None,
    out: Array | None = None,
    unsure: StepCheck | None = None,
) -> Array:
    """Σ_k w_k f(x + o_k·h·e_j) / h^m: the m-th partial derivative along coordinate j.

    `center` is f(x) when the caller has it already (the stencil's 0 offset reuses it);
    `out`, if given, receives the result; `unsure`, see `stencil_sum`.
    """
    at = lambda offset: _at(f, rows, j, h, offset)  # noqa: E731
    return stencil_sum(at, h, rule, center, out, unsure)


def stencil_sum(
    at: Callable[[int], Array],
    h: Array,
    rule: Stencil,
    center: Array | None = None,
    out: Array | None = None,
    unsure: StepCheck | None = None,
) -> Array:
    """Σ_k w_k at(o_k) / h^m, where at(o) is f(x + o·h·e_j).

    Symmetric offsets are paired: central stencils have w(−o) = ∓w(o), so each pair costs
    one subtraction (or addition) and one multiplication by w/h^m — a factor computed on
    h's own shape, which for a grid is one axis. `unsure`, if given (first derivatives),
    receives in its flags `step_too_wide` of f(x − h), f(x), f(x + h) and f(x + 2h) for a
    central stencil, `one_sided_too_wide` for the others.
    """
    terms = _pairs(rule)
    power = h if rule.order == 1 else h * h
    total: Array | None = None
    if unsure is not None:
        at = _remembered(at)  # f(x + 2h) serves the check and, from accuracy 4, the stencil
    for offset, weight, partner in terms:
        value = center if offset == 0 and center is not None else at(offset)
        if partner:
            other = at(-offset)
            plus = value
            value = value - other if partner < 0 else value + other
            if unsure is not None and offset == 1 and partner < 0:
                step_too_wide(plus, other, at(2), value, rule.accuracy, unsure)
        # Multiply by w/h^m (a reciprocal on h's shape): a division per point costs ~4×.
        if len(terms) == 1 and out is not None:  # central accuracy 2: straight into `out`
            return np.multiply(value, weight / power, out=out)
        term = value * (weight / power)
        if total is None or total.shape != term.shape:
            total = term if total is None else total + term
        else:
            total += term
    assert total is not None
    if unsure is not None and not any(partner for _, _, partner in terms):
        values = at if center is None else lambda o: center if o == 0 else at(o)
        one_sided_too_wide(values, rule, total * power, unsure)
    if out is None:
        return total
    out[...] = total
    return out


STEP_ERROR = 1e-8  # relative truncation error the step test lets pass, about
THIRD_ROUNDING = 32 * EPS  # rounding of a third difference, relative to |f(x)|
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
    triple: Array  # 3·f(x)
    noise: Array  # THIRD_ROUNDING·|f(x)|, the rounding of a third difference
    narrow: Array  # NARROW·|f(x)|: a smaller |f(x+h) − f(x−h)| is mostly rounding
    size: Array  # |f(x)|

    @classmethod
    def of(cls, center: Array, flags: Array) -> StepCheck:
        size = np.abs(center)
        return cls(flags, center * 3.0, size * THIRD_ROUNDING, size * NARROW, size)

    def to(self, flags: Array) -> StepCheck:
        return self._replace(flags=flags)


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


def _remembered(at: Callable[[int], Array]) -> Callable[[int], Array]:
    seen: dict[int, Array] = {}

    def remembered(offset: int) -> Array:
        if offset not in seen:
            seen[offset] = at(offset)
        return seen[offset]

    return remembered


def _at(f: Function, rows: Sequence[Array], j: int, h: Array, offset: int) -> Array:
    return f(_replace(rows, j, _shift(rows[j], offset, h)))


@lru_cache(maxsize=64)
def _off_center(rule: Stencil) -> tuple[int, ...]:
    return tuple(o for o in rule.offsets if o != 0)


@lru_cache(maxsize=64)
def _checked_offsets(rule: Stencil) -> tuple[int, ...]:
    """A first-derivative stencil's off-center offsets, and the one its check adds: 2 for
    a central stencil (`step_too_wide`), ±(p+1) for a one-sided one (`one_sided_too_wide`)."""
    offsets = _off_center(rule)
    if min(rule.offsets) < 0 < max(rule.offsets):
        return offsets if 2 in offsets else (*offsets, 2)
    sign = 1 if max(rule.offsets) > 0 else -1
    return (*offsets, sign * (rule.accuracy + 1))


@lru_cache(maxsize=64)
def _pairs(rule: Stencil) -> tuple[tuple[int, float, int], ...]:
    """(offset, weight, partner): partner −1 pairs f(x+oh) − f(x−oh), +1 pairs the sum."""
    weights = dict(zip(rule.offsets, rule.weights, strict=True))
    terms: list[tuple[int, float, int]] = []
    for offset in sorted(weights, key=lambda o: (abs(o), -o)):
        weight, mirror = weights[offset], weights.get(-offset)
        if offset < 0 and any(t[0] == -offset and t[2] for t in terms):
            continue  # already taken as the partner of +offset
        partner = 0
        if offset > 0 and mirror is not None:
            partner = -1 if mirror == -weight else 1 if mirror == weight else 0
        terms.append((offset, weight, partner))
    return tuple(terms)


def _shift(x: Array, offset: int, h: Array) -> Array:
    if offset == 1:
        return x + h
    if offset == -1:
        return x - h
    return np.asarray(x + offset * h)


def complex_partial(f: Function, rows: Sequence[Array], j: int, h: Array) -> Array:
    """Complex step: f'(x) = Im f(x + ih) / h + O(h²), with no subtractive cancellation."""
    complex_rows = [np.asarray(r, dtype=np.complex128) for r in rows]
    shifted = rows[j] + 1j * h
    return np.asarray(f(_replace(complex_rows, j, shifted)).imag / h)


# ---------------------------------------------------------------- derivative (1-D)


class Derivative(NamedTuple):
    """First or second derivative of a one-variable function at N points."""

    points: Array
    values: Array  # f(x)
    derivatives: Array
    steps: Array
    intercepts: Array | None  # tangent y = derivatives·t + intercepts (order 1 only)
    errors: Array | None  # estimated absolute error, when asked for


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
    """
    options = check_options(method, step, accuracy, order, error_estimate)
    points = np.asarray(x, dtype=np.float64)
    flat = points if points.ndim == 1 else points.reshape(-1)  # returned in x's shape
    on_rows: Function = lambda rows: f(rows[0])  # noqa: E731
    result = _gradient(on_rows, [flat], options, refine_limit=refine_limit)
    slopes = result.gradient[0]
    assert result.steps is not None
    if order == 2 and step is None and method == "central":
        # As /hessian's diagonal: checked at h/4, a ladder of steps where they disagree.
        # (1/x at 1e-6 with h ≈ 1.2e-4 gave −1.3e14 instead of 2e18.)
        rule = stencil(method, accuracy, order)
        limit = sys.maxsize if refine_limit is None else refine_limit
        with np.errstate(all="ignore"):
            changed = _refine_second(
                on_rows, [flat], 0, result.steps[0], rule, result.values, slopes, limit
            )
            if result.errors is not None and changed.size:
                used = result.steps[0][changed]
                subset, center = [flat[changed]], result.values[changed]
                result.errors[0][changed] = _error(
                    on_rows, subset, 0, used, options, center, slopes[changed]
                )
    intercepts = None
    if order == 1:
        with np.errstate(all="ignore"):
            intercepts = result.values - slopes * flat
    errors = None if result.errors is None else result.errors[0]

    def shaped(array: Array) -> Array:  # a scalar x, or a grid of points, keeps its shape
        return array if points.ndim == 1 else array.reshape(points.shape)

    return Derivative(
        points,
        shaped(result.values),
        shaped(slopes),
        shaped(result.steps[0]),
        None if intercepts is None else shaped(intercepts),
        None if errors is None else shaped(errors),
    )


# ---------------------------------------------------------------- gradient (d-D)


class Gradient(NamedTuple):
    """Gradient of a d-variable function; arrays are (d, *shape) and (*shape)."""

    values: Array
    gradient: Array
    steps: Array | None  # the step per coordinate and point, unless not kept
    errors: Array | None


def gradient(
    f: Function,
    points: npt.ArrayLike,
    *,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    refine_limit: int | None = None,
) -> Gradient:
    """∇f at N points given as an (N, d) array; returns values (N,), gradient (N, d).

    Costs one evaluation of f per non-zero stencil weight per coordinate, on all N points
    at once: 2·d + 1 evaluations for central accuracy 2 with a given step (the +1 is f
    itself), 3·d + 1 with the automatic one, whose check (`step_too_wide`) needs f(x + 2h).
    """
    options = check_options(method, step, accuracy, 1, error_estimate)
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise RequestError("`points` must be a list of points, each a list of d numbers.")
    rows = list(np.ascontiguousarray(array.T))
    result = _gradient(f, rows, options, refine_limit=refine_limit)
    errors = None if result.errors is None else result.errors.T
    assert result.steps is not None
    return Gradient(result.values, result.gradient.T, result.steps.T, errors)


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
    shape = shapes[0] if same else np.broadcast_shapes(*shapes)
    d = len(rows)
    simple = options.method != "complex" and not options.error_estimate
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
    check = StepCheck.of(values, np.empty((d, n), dtype=bool)) if checks else None
    gradient = stencil_sum(at.__getitem__, h, rule, values, np.empty((d, n)), check)
    if not math.isfinite(values.sum() + gradient.sum()):  # inf − inf is NaN: one test
        return None
    if check is not None and check.flags.any():
        return None
    return Gradient(values, gradient, h, None)


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
    values, terms = flat[:n], _pairs(rule)
    gradient = [[0.0] * n for _ in range(d)]
    factor = (3.0 * STEP_ERROR) ** (-2.0 / rule.accuracy)
    for j in range(d):
        for p in range(n):
            at = {o: flat[n * (1 + j * len(offsets) + i) + p] for i, o in enumerate(offsets)}
            center, hp = values[p], h[j][p]
            power = hp if rule.order == 1 else hp * hp
            total = None
            for offset, weight, partner in terms:  # `stencil_sum`, one point at a time
                value = center if offset == 0 else at[offset]
                if partner:
                    plus, other = value, at[-offset]
                    value = value - other if partner < 0 else value + other
                    if checks and offset == 1 and partner < 0:  # `step_too_wide`
                        third = (at[2] - other) - plus * 3.0 + center * 3.0
                        wide = (abs(third) - abs(center) * THIRD_ROUNDING) * factor
                        spread = abs(value)
                        if not wide <= spread or 0 < spread < abs(center) * NARROW:
                            return None  # to be refined: the general path decides
                term = value * (weight / power)
                total = term if total is None else total + term
            assert total is not None
            if not (math.isfinite(total) and math.isfinite(center)):
                return None
            gradient[j][p] = total
    return Gradient(np.array(values), np.array(gradient), np.array(h), None)


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
    check = None if unsure is None else StepCheck.of(values, unsure[0, block])
    for j in range(len(rows)):
        h = steps_for(rows[j], options)
        d = out.gradient[j, block]
        flags = None if check is None or unsure is None else check.to(unsure[j, block])
        _estimate(f, rows, j, h, options, values, out=d, unsure=flags)
        estimate_undefined[j] |= not np.isfinite(d.sum())
        wide[j] |= flags is not None and bool(flags.flags.any())
        if undefined is not None:
            d[undefined] = np.nan
        if out.steps is not None:
            out.steps[j, block] = h
        if out.errors is not None:
            out.errors[j, block] = _error(f, rows, j, h, options, values, d)


def _checks_step(options: Options) -> bool:
    """Automatic first derivatives test their step (`step_too_wide`, `one_sided_too_wide`);
    the complex step needs no test."""
    return options.step is None and options.method != "complex" and options.order == 1


def _estimate(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    options: Options,
    values: Array,
    out: Array,
    unsure: StepCheck | None = None,
) -> Array:
    if options.method == "complex":
        out[...] = complex_partial(f, rows, j, h)
        return out
    rule = stencil(options.method, options.accuracy, options.order)
    return partial(f, rows, j, h, rule, center=values, out=out, unsure=unsure)


def _error(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    options: Options,
    values: Array,
    d: Array,
) -> Array:
    """|D_p − D_q| (q the next accuracy; truncation) + eps·|f|·Σ|w|/h^m (rounding)."""
    if options.method == "complex":
        other = complex_partial(f, rows, j, 2.0 * h)
        return np.asarray(np.abs(d - other) + EPS * np.abs(d))
    rule = stencil(options.method, options.accuracy, options.order)
    higher = options.accuracy + (1 if options.accuracy == 1 else 2)
    if higher > ACCURACIES[-1]:
        higher = options.accuracy - 2
    other = partial(f, rows, j, h, stencil(options.method, higher, options.order), values)
    rounding = EPS * np.abs(values) * sum(abs(w) for w in rule.weights) / h**rule.order
    return np.asarray(np.abs(d - other) + rounding)


# ---------------------------------------------------------------- smaller steps where needed


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
    flagged = flagged[: max(limit, 0)]  # beyond the budget, estimates stay as they are
    narrow = narrow[: max(limit - flagged.size, 0)]
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
    chosen, steps, found = _best_on_ladder(f, subset, j, h_bad, center, rule, levels)
    before = d[at]
    d[at] = np.where(found, chosen, np.where(np.isfinite(before), before, np.nan))
    used = np.where(found, steps, h_bad)
    if out.steps is not None:
        out.steps[j][at] = used
    if out.errors is not None:
        out.errors[j][at] = _error(f, subset, j, used, options, center, d[at])


def _best_on_ladder(
    f: Function,
    rows: Sequence[Array],
    j: int,
    h: Array,
    center: Array,
    rule: Stencil,
    levels: Array = SHRINKING,
) -> tuple[Array, Array, Array]:
    """(estimate, step, found) at each point of `rows` (1-D, a subset): the stencil at
    h·levels (h, h/4, … h/4^24 by default), keeping the level that agrees best with the
    next one."""
    scales = levels[:, None]
    trial_rows = [r[None, :] for r in rows]
    trial_h = representable(trial_rows[j], h[None, :] * scales)
    trial_center = np.broadcast_to(center[None, :], trial_h.shape)
    trials = partial(f, trial_rows, j, trial_h, rule, center=trial_center)
    # At tiny steps neighbours can agree by coincidence of rounding (even exactly), so
    # each level is charged its rounding error eps·|f|·Σ|w|/h^m as well. The change is
    # relative to the two estimates: at steps far too wide, estimates are small garbage
    # (x**-3 at 5e-9: 7e20 and 2e23 against a true −2.5e33) and agree well in absolute
    # terms — but not relative to their size.
    weight = sum(abs(w) for w in rule.weights)
    columns = np.arange(trials.shape[1])
    precise = _agreement(trials, EPS * np.abs(trial_center) * weight / trial_h**rule.order)
    if rule.order != 1:  # f' is not at hand: rounding as eps·|f| only
        best = np.argmin(precise, axis=0)
        return trials[best, columns], trial_h[best, columns], np.isfinite(precise.min(axis=0))
    # Rounding the arguments inside f (1000·x in sin(1000*x)) costs up to eps·|x·f'|, and
    # at steps of a few ulps it biases every level the same way: with eps·|f| alone,
    # d sin(1000x)/dx at π (f ≈ 0) came out as 1024 instead of 1000 — the levels at 4, 1
    # and 1/4 ulps agreed exactly. Charged eps·(|f| + |x·f'|) the ladder is safe, but
    # where f computes exactly from x (log(x − 1) next to 1, sin(x) at 1e9) it settles
    # for a wider step and 1e-6 instead of 1e-10. So both are found, and the precise
    # one is kept where it agrees with the safe one within the safe one's own change.
    safe = _agreement(
        trials, EPS * (np.abs(trial_center) + np.abs(trial_rows[j] * trials)) * weight / trial_h
    )
    best_precise, best_safe = np.argmin(precise, axis=0), np.argmin(safe, axis=0)
    d_precise, d_safe = trials[best_precise, columns], trials[best_safe, columns]
    margin = 4 * safe[best_safe, columns] * np.abs(d_safe)
    trusted = np.abs(d_precise - d_safe) <= margin
    best = np.where(trusted, best_precise, best_safe)
    return trials[best, columns], trial_h[best, columns], np.isfinite(safe.min(axis=0))


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
    """
    at = np.unravel_index(candidates, d.shape)
    first, center = d[at], _pick(values, at)
    subset = [_pick(r, at) for r in rows]
    rule = stencil(options.method, options.accuracy, options.order)
    change, allowed = _quarter_step_change(f, subset, j, _pick(h, at), rule, center, first)
    usable = np.isfinite(first) & np.isfinite(center)  # the others are undefined anyway
    disagree: Array = usable & (change > allowed)
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


# ---------------------------------------------------------------- gradient fields


class GradientField(NamedTuple):
    """∇f on a Cartesian grid, flattened in `numpy.meshgrid` order."""

    axes: list[Array]
    shape: tuple[int, ...]
    coordinates: Array | None  # (d, M), unless skipped
    values: Array  # (M,)
    gradient: Array  # (d, M)
    errors: Array | None  # (d, M)


def grid_positions(d: int, indexing: Indexing = "xy") -> tuple[int, ...]:
    """The grid dimension each axis runs along: with "xy" the first two swap (x varies
    along columns), as `numpy.meshgrid` and the notebook lay them out."""
    positions = list(range(d))
    if indexing == "xy" and d >= 2:
        positions[0], positions[1] = 1, 0
    return tuple(positions)


def grid_rows(axes: Sequence[Array], indexing: Indexing = "xy") -> list[Array]:
    """Broadcastable views of the axes, as `numpy.meshgrid(*axes, indexing=...)` lays them.

    No grid is materialized: f broadcasts them, and steps are computed per axis.
    """
    d = len(axes)
    rows = []
    for axis, position in zip(axes, grid_positions(d, indexing), strict=True):
        shape = [1] * d
        shape[position] = len(axis)
        rows.append(np.asarray(axis, dtype=np.float64).reshape(shape))
    return rows


def _float_axis(values: npt.ArrayLike) -> Array:
    """float64, unless given float32 (a response written in single precision)."""
    array = np.asarray(values)
    return array.ravel() if array.dtype == np.float32 else array.astype(np.float64).ravel()


class GridPoints(NamedTuple):
    """The (d, M) points of a grid, held as its axes instead of spelled out.

    Row i of the flattened `numpy.meshgrid` is axis i with each value repeated `inner`
    times (the product of the grid dimensions after its own), and that run tiled `outer`
    times (the product of the dimensions before): 2·10⁶ floats are 2,000 distinct ones.
    """

    axes: list[Array]
    shape: tuple[int, ...]
    positions: tuple[int, ...]

    @classmethod
    def of(cls, axes: Sequence[Array], indexing: Indexing = "xy") -> GridPoints:
        arrays = [_float_axis(a) for a in axes]
        positions = grid_positions(len(arrays), indexing)
        shape = [0] * len(arrays)
        for axis, position in zip(arrays, positions, strict=True):
            shape[position] = len(axis)
        return cls(arrays, tuple(shape), positions)

    @property
    def size(self) -> int:
        return len(self.axes) * math.prod(self.shape)

    def layout(self, i: int) -> tuple[int, int]:
        """(outer, inner) of row i."""
        position = self.positions[i]
        return math.prod(self.shape[:position]), math.prod(self.shape[position + 1 :])

    def materialize(self) -> Array:
        points = np.empty((len(self.axes), math.prod(self.shape)), dtype=self.axes[0].dtype)
        for i, (axis, position) in enumerate(zip(self.axes, self.positions, strict=True)):
            view = [1] * len(self.shape)
            view[position] = len(axis)
            points[i].reshape(self.shape)[...] = axis.reshape(view)  # one broadcasting pass
        return points


def gradient_field(
    f: Function,
    axes: Sequence[npt.ArrayLike],
    *,
    indexing: Indexing = "xy",
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    with_coordinates: bool = True,
    refine_limit: int | None = None,
) -> GradientField:
    """∇f at every point of the grid spanned by 1-D `axes` (the notebook's quiver data).

    `with_coordinates=False` skips materializing the (d, M) grid points, which a client can
    rebuild from the axes.
    """
    options = check_options(method, step, accuracy, 1, error_estimate)
    if indexing not in ("xy", "ij"):
        raise RequestError(f"`indexing` must be xy or ij; got {indexing!r}.", field="indexing")
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in axes]
    rows = grid_rows(arrays, indexing)
    result = _gradient(f, rows, options, keep_steps=False, refine_limit=refine_limit)
    shape = result.values.shape
    size = math.prod(shape)
    coordinates = GridPoints.of(arrays, indexing).materialize() if with_coordinates else None
    errors = None if result.errors is None else result.errors.reshape(len(rows), size)
    return GradientField(
        axes=arrays,
        shape=tuple(int(n) for n in shape),
        coordinates=coordinates,
        values=np.ascontiguousarray(result.values).reshape(size),
        gradient=np.ascontiguousarray(result.gradient).reshape(len(rows), size),
        errors=errors,
    )


# ---------------------------------------------------------------- Hessians


class Hessian(NamedTuple):
    values: Array  # (N,)
    hessians: Array  # (N, d, d), symmetric
    steps: Array  # (N, d)


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
    return Hessian(values, out, h.T)


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
        chosen, steps, found = _best_on_ladder(f, subset, i, h[at], values[at], rule)
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
        change = _agreement(trials, EPS * np.abs(values[at])[None, :] / (hi * hj))
        best = np.argmin(change, axis=0)
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


# ---------------------------------------------------------------- the step-size lesson


class StepStudy(NamedTuple):
    """Estimates of f'(x) by each classic formula, one per step size."""

    steps: Array
    estimates: dict[str, Array]


def step_study(
    f: Callable[[Array], Array], x: float, steps: Sequence[float], *, analytic: bool
) -> StepStudy:
    """The notebook's lesson as data: forward, backward, central (2-point) and complex step.

    Each formula is evaluated at every step at once. The steps are used exactly as given,
    so 5 + 1e-50 == 5 shows up as a forward estimate of 0.
    """
    h = np.asarray(steps, dtype=np.float64)
    rows = [np.full(h.shape, float(x))]
    g: Function = lambda r: f(r[0])  # noqa: E731
    with np.errstate(all="ignore"):
        center = g(rows)
        estimates = {
            method: partial(g, rows, 0, h, stencil(method, accuracy, 1), center=center)
            for method, accuracy in (("forward", 1), ("backward", 1), ("central", 2))
        }
        if analytic:
            estimates["complex"] = complex_partial(g, rows, 0, h)
    return StepStudy(h, estimates)


# ---------------------------------------------------------------- gradient descent


class Descent(NamedTuple):
    path: Array  # (iterations + 1, d)
    values: Array  # (iterations + 1,)
    gradient_norms: Array  # (iterations + 1,)
    converged: bool
    iterations: int


def descent(
    f: Function,
    init: Sequence[float],
    *,
    learning_rate: float,
    steps: int,
    tolerance: float | None,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
) -> Descent:
    """x_{k+1} = x_k − η·∇f(x_k), the book's next section after the notebook's quiver plot.

    Stops early when ‖∇f‖ ≤ `tolerance` (if given), or when the iterate stops being finite
    (a learning rate too large diverges: reported, not raised).
    """
    options = check_options(method, step, accuracy, 1, False)
    x = np.asarray(init, dtype=np.float64)
    path: list[Array] = [x]
    values: list[float] = []
    norms: list[float] = []
    with np.errstate(all="ignore"):
        while True:
            result = _gradient(f, list(x[:, None]), options)
            grad = result.gradient[:, 0]
            values.append(float(result.values[0]))
            norms.append(float(np.sqrt(np.sum(grad * grad))))
            stop = tolerance is not None and norms[-1] <= tolerance
            if stop or len(path) > steps or not np.all(np.isfinite(x)):
                break
            x = x - learning_rate * grad
            path.append(x)
    final = norms[-1]
    limit = 1e-6 if tolerance is None else tolerance
    converged = bool(np.all(np.isfinite(path[-1])) and np.isfinite(final) and final <= limit)
    return Descent(np.array(path), np.array(values), np.array(norms), converged, len(path) - 1)
