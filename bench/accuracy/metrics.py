"""Errors per component, and the summaries docs/accuracy.md tabulates.

A component's error is relative, |value − exact| / |exact|, or absolute where the exact
value is 0; a non-finite value counts as an infinite error. A runner's error estimate is
exceeded where the true absolute error is larger than the one it reports (a NaN estimate
is exceeded); components whose value is not finite are left out of that count, since a
null answer makes no claim. A default answer more than 1e-6 off is *unflagged* unless it
is flagged `unreliable` or is not a number; a flagged component is *accurate* all the same
where it is within 1e-6.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cases import Case
from .runners import TOLERANCES, Result

THRESHOLDS = {"above_1e-6": 1e-6, "above_1e-3": 1e-3}


@dataclass(frozen=True)
class Outcome:
    """One runner on one case."""

    case: Case
    runner: str
    result: Result

    def relative_errors(self) -> list[float]:
        return [relative_error(e, v) for e, v in zip(self.exact(), self.result.values, strict=True)]

    def flagged_errors(self) -> list[tuple[float, bool]]:
        """(relative error, said so) per component: flagged `unreliable` by the default
        answer, or not a number at all (null in JSON claims nothing)."""
        flags = self.result.flagged or [False] * len(self.result.values)
        said = [f or not math.isfinite(v) for f, v in zip(flags, self.result.values, strict=True)]
        return list(zip(self.relative_errors(), said, strict=True))

    def exact(self) -> list[float]:
        d = self.case.dimension
        return [self.case.exact[i * d + j] for i, j in self.case.components()]

    def estimates(self) -> list[tuple[float, float]]:
        """(true absolute error, reported error) of each finite value given with an estimate."""
        if self.result.errors is None:
            return []
        values = self.result.estimated or self.result.values
        pairs = zip(self.exact(), values, self.result.errors, strict=True)
        return [(abs(v - e), r) for e, v, r in pairs if math.isfinite(v)]


def relative_error(exact: float, value: float) -> float:
    if not math.isfinite(value):
        return math.inf
    error = abs(value - exact)
    return error / abs(exact) if exact != 0 else error


def statistics(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """What a table row shows for a group of outcomes of one runner."""
    errors = np.array([e for o in outcomes for e in o.relative_errors()])
    row: dict[str, Any] = {
        "cases": len(outcomes),
        "components": int(errors.size),
        "median": significant(float(np.median(errors))),
        "max": significant(float(np.max(errors))),
    }
    row |= {name: share(errors > t) for name, t in THRESHOLDS.items()}
    row["unflagged_above_1e-6"] = share(
        np.array([e > 1e-6 and not f for o in outcomes for e, f in o.flagged_errors()])
    )
    row |= flag_statistics(outcomes)
    row |= estimate_statistics(outcomes)
    row["evaluations"] = significant(float(np.mean([o.result.evaluations for o in outcomes])))
    met = [c for o in outcomes for c in (o.result.converged or [])]
    row["converged"] = share(np.array(met)) if met else None
    row["converged_off"] = share(converged_off(outcomes)) if met else None
    return row


def flag_statistics(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The share of components the default answer flags `unreliable` (a gradient or Hessian
    flags its point: all its components), and of those the share within 1e-6 of the exact
    value (flagged, yet accurate); None for runners without the flag."""
    if any(o.result.flagged is None for o in outcomes):
        return {"flagged": None, "flagged_accurate": None}
    pairs = [
        (f, e)
        for o in outcomes
        for f, e in zip(o.result.flagged or [], o.relative_errors(), strict=True)
    ]
    flagged = np.array([e for f, e in pairs if f])
    return {
        "flagged": share(np.array([f for f, _ in pairs])),
        "flagged_accurate": share(flagged <= 1e-6) if flagged.size else None,
    }


def converged_off(outcomes: Iterable[Outcome]) -> np.ndarray[Any, Any]:
    """Per component said to meet the tolerance: whether its true error is over it,
    rtol·max|exact| over the point's components (as the engine scales rtol)."""
    off = []
    for o in outcomes:
        exact = o.exact()
        scale = max(abs(e) for e in exact)
        rtol = TOLERANCES[o.runner][0].rtol
        for e, v, met in zip(exact, o.result.values, o.result.converged or [], strict=False):
            if met:
                off.append(not abs(v - e) <= rtol * scale)
    return np.array(off, dtype=bool)


def estimate_statistics(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    pairs = [p for o in outcomes for p in o.estimates()]
    if not pairs:
        return {"estimated": 0, "exceeded": None, "exceeded_10x": None, "changed": None}
    true, reported = np.array(pairs).T
    with np.errstate(invalid="ignore"):
        return {
            "estimated": len(pairs),
            "exceeded": share(~(true <= reported)),
            "exceeded_10x": share(~(true <= 10 * reported)),
            "changed": sum(o.result.changed for o in outcomes),
        }


def share(mask: np.ndarray[Any, Any]) -> float:
    return round(float(np.mean(mask)), 4) if mask.size else 0.0


def significant(value: float, digits: int = 3) -> float | str:
    """3 significant digits; JSON has no infinity, so "inf" and "nan" are strings."""
    if not math.isfinite(value):
        return str(value)
    return float(f"{value:.{digits - 1}e}")


def summarize(outcomes: Sequence[Outcome], runners: Sequence[str]) -> dict[str, Any]:
    """Statistics per runner: overall, by kind of derivative and by family of cases."""

    def table(key: Any) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, list[Outcome]]] = {}
        for o in outcomes:
            groups.setdefault(key(o.case), {}).setdefault(o.runner, []).append(o)
        return {
            group: {r: statistics(by_runner[r]) for r in runners if r in by_runner}
            for group, by_runner in groups.items()
        }

    return {
        "overall": table(lambda c: "all")["all"],
        "by_kind": table(lambda c: c.kind),
        "by_family": table(lambda c: c.family),
    }
