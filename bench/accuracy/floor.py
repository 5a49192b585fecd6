"""What float64 central differences can reach on a case, searched with the exact value known.

For the tolerance runner's components that did not converge, the question is whether any
central stencil could have met the runner's rtol (1e-12; 1e-10 for *nabla tolerance 1e-10*) at
all, with a bound that treats f as a black box.
The search tries every central stencil of accuracy 2 to 16 at every step 2^(k/2)·max(|x|, 1)
from 2^-60 to 2^30 of it (for a Hessian's mixed term, the product of two first-derivative
stencils) and measures the true error against the oracle's value. A step counts only where
the rounding an honest bound must assume stays under the goal, eps·(|f| + S + Σ|x_i·∂f/∂x_i|)
·Σ|w|/h^m: f's own rounding, at x and at the stencil's points (S = Σ|w_k|·|f(x + k·h)|/Σ|w|:
at a least-squares minimum f(x) is 0 and f at the stencil is all there is), and that of its
arguments inside f (`1000*x` rounds x·1000 to eps of its size; the engine cannot see whether
f does, so its bound counts it; sin(x) at 1e6 does not, and is then more exact than any
bound can show). (Without S, until session 11, the search called 8 more components
reachable: f' 226 -> 220 converged at most, f'' 30 -> 28.) The engine's bound counts four
times this (`bounds.ROUNDING_SAFETY`); the search, once. A component is *reachable* where
some stencil is within a quarter of the goal at three such steps in a row (not one lucky
cancellation); its *floor* is the smallest error so held, relative to the point's largest
component (as rtol is). Where none is, the floor is above the goal: (a).

Categories of a component that did not converge:

- `zero`: the point's exact derivatives are all 0, so rtol·|D| is 0 and no bound meets it
  (scipy.differentiate's test fails there too, without an `atol`);
- `unreachable`: (a), no stencil and step is within the goal (`floor` says how close the
  true error came without the rounding condition: under the goal where only the rounding
  an honest bound must count stands in the way);
- `flagged`: reachable, but the answer flags the point `unreliable`: its ladder saw smaller
  steps disagree, and the engine then never claims convergence (the first answer's flags
  for rounding alone are refined, and lifted where a level resolves the value);
- `reachable`: (b), a stencil and step exist and the engine did not find them or its bound
  did not show it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.expressions import parse
from app.numerics.bounds import ROUNDING_SAFETY
from app.numerics.stencils import stencil

from .cases import Case
from .metrics import Outcome, significant
from .runners import TOLERANCES

Array = np.ndarray[Any, Any]
Function = Callable[[Sequence[Array]], Array]
EPS = float(np.finfo(np.float64).eps)
ACCURACIES = range(2, 18, 2)
STEPS = 2.0 ** (np.arange(-120, 61) / 2)  # times max(|x_i|, 1)
RUN = 3  # consecutive steps that must each be within the margin
MARGIN = 4.0  # ... of the goal, a quarter of it


def breakdown(outcomes: Sequence[Outcome], runner: str = "nabla tolerance") -> dict[str, Any]:
    """Per kind: the tolerance runner's components, those that converged, and those that
    did not by category ("id component floor at-4x any-step" each: a line of summary.json); and
    "expression at point" of each case named."""
    table: dict[str, Any] = {"kinds": {}, "cases": {}}
    for o in outcomes:
        if o.runner != runner or o.result.converged is None:
            continue
        kind = table["kinds"].setdefault(o.case.kind, {"components": 0, "converged": 0})
        kind["components"] += len(o.result.converged)
        kind["converged"] += sum(o.result.converged)
        for k, met in enumerate(o.result.converged):
            if not met:
                category, floors = classify(o, k)
                entry = [o.case.id, str(k), *map(str, floors or [])]
                kind.setdefault(category, []).append(" ".join(entry))
                where = ", ".join(f"{x:.10g}" for x in o.case.point)
                table["cases"][o.case.id] = f"{o.case.expression} at {where}"
    return table


def classify(o: Outcome, k: int) -> tuple[str, list[float | str] | None]:
    """The category, and the floors (relative to the point's scale): where the rounding is
    under the goal, where four times it is (as the engine counts it), and at any step."""
    scale = max(abs(e) for e in o.exact())
    if scale == 0:
        return "zero", None
    rtol = TOLERANCES[o.runner][0].rtol
    honest, safe, any_step = (e / scale for e in best_errors(o.case, k, rtol * scale))
    floors = [significant(honest, 2), significant(safe, 2), significant(any_step, 2)]
    if honest > rtol / MARGIN:
        return "unreachable", floors
    flagged = bool(o.result.flagged and o.result.flagged[k])
    return ("flagged" if flagged else "reachable"), floors


def best_errors(case: Case, k: int, goal: float) -> tuple[float, float, float]:
    """The smallest absolute error some central stencil holds at RUN steps in a row where
    the rounding an honest bound counts is under the goal, where ROUNDING_SAFETY times it
    is, and at any steps."""
    f = parse(case.expression).bind(list(case.variables))
    i, j = case.components()[k]
    exact = case.exact[i * case.dimension + j]
    x = np.array(case.point)
    order = 2 if case.kind == "d2" else 1
    if case.kind == "hessian":
        order = 2 if i == j else 0
    else:
        i = j
    size = abs(float(f([x[n : n + 1] for n in range(x.size)])[0])) + float(
        sum(abs(x[n] * slope(f, x, n)) for n in range(x.size) if x[n] != 0)
    )
    best = [math.inf] * 3
    with np.errstate(all="ignore"):
        for p in ACCURACIES:
            d, rounding = estimates(f, x, i, j, p, order, size)
            errors = np.where(np.isfinite(d), np.abs(d - exact), np.inf)
            for n, factor in enumerate((1.0, ROUNDING_SAFETY, 0.0)):
                e = np.where(factor * rounding <= goal, errors, np.inf)
                held = np.lib.stride_tricks.sliding_window_view(e, RUN).max(axis=1)
                best[n] = min(best[n], float(held.min()))
    return best[0], best[1], best[2]


def slope(f: Function, x: Array, n: int) -> float:
    """∂f/∂x_n roughly (its size is all the rounding needs): 8th order at 1e-3 of |x_n| (of
    1 at 0), or a hundred and ten thousand times less where that leaves f's domain."""
    rule = stencil("central", 8, 1)
    for h in 1e-3 * (abs(x[n]) or 1.0) * np.array([1.0, 1e-2, 1e-4]):
        moved = (at(f, x, {n: np.full(STEPS.size, k * h)})[0] for k in rule.offsets)
        d = float(sum(w * v for w, v in zip(rule.weights, moved, strict=True)) / h)
        if math.isfinite(d):
            return d
    return math.inf


def estimates(
    f: Function, x: Array, i: int, j: int, p: int, m: int, size: float
) -> tuple[Array, Array]:
    """D at every step of STEPS along x_i (m = 1 or 2), or the mixed term (m = 0), and the
    rounding a black-box bound counts there: eps·(size + S)·Σ|w|/h^m, where S is f's size
    over the stencil, Σ|w_k|·|f(x + k·h)|/Σ|w|: each value rounds to eps of itself, and at a
    minimum where f(x) = 0 (a least-squares residual) those are all f has."""
    if m:
        rule = stencil("central", p, m)
        h = (x[i] + STEPS * max(abs(x[i]), 1.0)) - x[i]  # representable steps
        values = [at(f, x, {i: k * h}) for k in rule.offsets]
        weights = rule.weights
        step = h**m
    else:
        rule = stencil("central", p, 1)
        hi, hj = ((x[n] + STEPS * max(abs(x[n]), 1.0)) - x[n] for n in (i, j))
        pairs = [(a, wa, b, wb) for a, wa in _terms(rule) for b, wb in _terms(rule)]
        values = [at(f, x, {i: a * hi, j: b * hj}) for a, _, b, _ in pairs]
        weights = tuple(wa * wb for _, wa, _, wb in pairs)
        step = hi * hj
    total = sum(w * v for w, v in zip(weights, values, strict=True))
    weight = sum(abs(w) for w in weights)
    spread = sum(abs(w) * np.abs(v) for w, v in zip(weights, values, strict=True)) / weight
    return np.asarray(total / step), EPS * (size + spread) * weight / step


def _terms(rule: Any) -> list[tuple[int, float]]:
    return list(zip(rule.offsets, rule.weights, strict=True))


def at(f: Function, x: Array, moves: dict[int, Array]) -> Array:
    rows = [np.full(STEPS.size, c) + moves.get(n, 0.0) for n, c in enumerate(x)]
    return np.asarray(f(rows), dtype=np.float64) * np.ones(STEPS.size)
