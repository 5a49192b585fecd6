"""Running the suite: every runner on every case it applies to, and the summary of it all."""

from __future__ import annotations

import math
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from app.numerics import Method

from . import hard, runners
from .cases import Case
from .floor import breakdown
from .metrics import Outcome, relative_error, significant, summarize
from .sources import DV, GMSW, OLIVER, SXXN

NABLA_METHODS: dict[str, Method] = {
    "nabla central": "central",
    "nabla forward": "forward",
    "nabla backward": "backward",
    "nabla complex": "complex",
}
NABLA = [*NABLA_METHODS, *runners.TOLERANCES]
PEERS = ["numdifftools", "scipy", "h = 1e-4"]
PAPERS = {
    GMSW: "Gill, Murray, Saunders & Wright 1983",
    SXXN: "Shi, Xie, Xuan & Nocedal 2022",
    OLIVER: "Oliver 1980",
    DV: "Dumontet & Vignes 1977",
}


def runner(name: str) -> Callable[[Case], runners.Result | None]:
    """The runner called `name`; it returns None for a case it does not apply to."""
    if name in runners.TOLERANCES:
        tolerance, kinds = runners.TOLERANCES[name]
        return lambda c: runners.nabla_tolerance(c, tolerance) if c.kind in kinds else None
    if name in NABLA:
        method = NABLA_METHODS[name]
        return lambda c: runners.nabla(c, method) if method in runners.nabla_methods(c) else None
    peer = {
        "numdifftools": runners.numdifftools,
        "scipy": runners.scipy,
        "h = 1e-4": runners.textbook,
    }
    return lambda c: runners.quietly(lambda: peer[name](c))


def run(cases: Sequence[Case], names: Sequence[str]) -> tuple[list[Outcome], dict[str, float]]:
    """Every outcome, and each runner's time in seconds."""
    outcomes, seconds = [], {}
    for name in names:
        compute, start = runner(name), time.perf_counter()
        for case in cases:
            result = compute(case)
            if result is not None:
                outcomes.append(Outcome(case, name, result))
        seconds[name] = round(time.perf_counter() - start, 1)
    return outcomes, seconds


def summary(
    cases: Sequence[Case], outcomes: Sequence[Outcome], names: Sequence[str]
) -> dict[str, Any]:
    return {
        "versions": versions(),
        "cases": case_counts(cases),
        "runners": list(names),
        **summarize(outcomes, names),
        "nabla_cases": nabla_cases(outcomes),
        "worst": worst(outcomes, "nabla central"),
        "silent": silent(outcomes, "nabla central"),
        "worst_estimates": worst_estimates(outcomes),
        "tolerance_misses": breakdown(outcomes),
        "second_tolerance_misses": breakdown(outcomes, "nabla tolerance 1e-10"),
        "tolerance_stages": tolerance_stages(outcomes),
        "second_tolerance_stages": tolerance_stages(outcomes, "nabla tolerance 1e-10"),
    }


def tolerance_stages(
    outcomes: Sequence[Outcome], runner: str = "nabla tolerance"
) -> dict[str, list[float]]:
    """Per kind, the tolerance runner's evaluations per point in each of its stages
    (`runners.Result.stages`), averaged over the cases, the share of cases with ladders, the
    evaluations per point of the cases that converged (every component), and numdifftools'
    on those same cases."""
    theirs = {o.case.id: o.result.evaluations for o in outcomes if o.runner == "numdifftools"}
    table: dict[str, list[tuple[tuple[int, int, int], bool, str]]] = {}
    for o in outcomes:
        if o.runner == runner and o.result.stages is not None:
            met = all(o.result.converged or [False])
            table.setdefault(o.case.kind, []).append((o.result.stages, met, o.case.id))
    averages = {}
    for kind, rows in table.items():
        stages = [s for s, _, _ in rows]
        converged = [sum(s) for s, met, _ in rows if met]
        same = [theirs[case] for _, met, case in rows if met and case in theirs]
        averages[kind] = [
            *(round(sum(s[n] for s in stages) / len(stages), 1) for n in range(3)),
            round(sum(s[1] > 0 for s in stages) / len(stages), 3),
            round(sum(converged) / len(converged), 1) if converged else 0.0,
            round(sum(same) / len(same), 1) if same else 0.0,
        ]
    return averages


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "cores": str(os.cpu_count())}
    for package in ("numpy", "scipy", "numdifftools", "sympy", "mpmath"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def case_counts(cases: Sequence[Case]) -> dict[str, Any]:
    return {
        "total": len(cases),
        "by_family": dict(Counter(c.family for c in cases)),
        "by_source": dict(Counter(source_group(c) for c in cases)),
        "by_kind": dict(Counter(c.kind for c in cases)),
    }


def source_group(case: Case) -> str:
    """The source a case is counted under: the test suite, paper or issue it comes from."""
    groups = {
        "scipy": "scipy: test_differentiate.py",
        "numdifftools": "numdifftools: test_numdifftools.py, test_example_functions.py",
        "mgh": "Moré, Garbow & Hillstrom 1981",
    }
    if case.family in groups:
        return groups[case.family]
    labels = {**PAPERS, hard.ISSUE: hard.ISSUE, hard.README: "Nabla README"}
    for prefix, label in labels.items():
        if case.source.startswith(prefix):
            return label
    if case.family == "papers":
        return "numericalderivative benchmark (Baudin 2024)"
    return "accuracy suite (hard families)"


def nabla_cases(outcomes: Sequence[Outcome]) -> dict[str, dict[str, list[Any]]]:
    """Per case and Nabla method: the largest relative error and the components whose
    error exceeds the estimate, to point at what moved when the summary changes."""
    table: dict[str, dict[str, list[Any]]] = {}
    for o in outcomes:
        if o.runner in NABLA:
            exceeded = sum(not (true <= reported) for true, reported in o.estimates())
            table.setdefault(o.case.id, {})[o.runner.removeprefix("nabla ")] = [
                significant(max(o.relative_errors()), 2),
                exceeded,
            ]
    return table


def worst(outcomes: Sequence[Outcome], name: str, count: int = 20) -> list[dict[str, Any]]:
    """The runner's components farthest from the exact value."""
    rows = [row for o in outcomes if o.runner == name for row in component_rows(o)]
    rows.sort(key=lambda r: (-float(r["relative_error"]), r["id"], r["component"]))
    return rows[:count]


def silent(outcomes: Sequence[Outcome], name: str) -> list[dict[str, Any]]:
    """The runner's components more than 1e-6 off that its default answer does not flag
    (nor leave null); `reported_error` is what `error_estimate` says of them."""
    rows = []
    for o in outcomes:
        if o.runner == name:
            missed = [e > 1e-6 and not f for e, f in o.flagged_errors()]
            rows += [r for r, m in zip(component_rows(o), missed, strict=True) if m]
    rows.sort(key=lambda r: (-float(r["relative_error"]), r["id"], r["component"]))
    return rows


def component_rows(o: Outcome) -> list[dict[str, Any]]:
    errors: Sequence[float | None] = o.result.errors or [None] * len(o.result.values)
    where = {"id": o.case.id, "expression": o.case.expression, "point": list(o.case.point)}
    return [
        where
        | {
            "kind": o.case.kind,
            "component": k,
            "exact": significant(exact, 4),
            "value": significant(value, 4),
            "relative_error": significant(relative_error(exact, value), 2),
            "reported_error": None if error is None else significant(error, 2),
        }
        for k, (exact, value, error) in enumerate(
            zip(o.exact(), o.result.values, errors, strict=True)
        )
    ]


def worst_estimates(outcomes: Sequence[Outcome], count: int = 15) -> list[dict[str, Any]]:
    """Nabla's error estimates that the true error exceeds by the largest factor."""
    rows: list[dict[str, Any]] = []
    for o in outcomes:
        if o.runner not in NABLA:
            continue
        for true, reported in o.estimates():
            ratio = true / reported if reported > 0 else (0.0 if true == 0 else math.inf)
            if not ratio <= 1:
                rows.append(
                    {
                        "id": o.case.id,
                        "runner": o.runner,
                        "expression": o.case.expression,
                        "point": list(o.case.point),
                        "kind": o.case.kind,
                        "true_error": significant(true, 2),
                        "reported_error": significant(reported, 2),
                        "ratio": significant(ratio, 2),
                    }
                )
    rows.sort(key=lambda r: (-float(r["ratio"]), r["id"], r["runner"]))
    return rows[:count]
