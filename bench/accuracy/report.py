"""docs/accuracy.md, rendered from summary.json alone (a test re-renders and compares)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "accuracy.md"

KINDS = {
    "d1": "first derivatives",
    "d2": "second derivatives",
    "gradient": "gradients",
    "hessian": "Hessians",
}
FAMILIES = {
    "scipy": "scipy.differentiate's tests",
    "numdifftools": "numdifftools' tests",
    "papers": "papers' test functions",
    "mgh": "Moré-Garbow-Hillstrom problems",
    "large-x": "large |x|",
    "tiny-x": "tiny |x|",
    "domain-edge": "domain edges",
    "near-pole": "near poles",
    "oscillation": "oscillation",
    "cusp": "next to kinks",
    "steep": "steep exponentials",
    "flat": "flat: f' ≪ f",
}
HEADER = (
    "| runner | cases | components | median error | max error | > 1e-6 | > 1e-6 unflagged "
    "| > 1e-3 | estimate exceeded | by > 10× | evaluations per point |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return {"inf": "∞", "nan": "NaN"}.get(value, value)
    return "0" if value == 0 else f"{value:.1e}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def row(name: str, s: dict[str, Any]) -> str:
    cells = [
        name,
        str(s["cases"]),
        str(s["components"]),
        number(s["median"]),
        number(s["max"]),
        percent(s["above_1e-6"]),
        percent(s["unflagged_above_1e-6"]),
        percent(s["above_1e-3"]),
        percent(s["exceeded"]),
        percent(s["exceeded_10x"]),
        f"{float(s['evaluations']):.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(stats: dict[str, dict[str, Any]]) -> str:
    return "\n".join([HEADER, *(row(name, s) for name, s in stats.items())])


def render(summary: dict[str, Any]) -> str:
    by_kind = summary["by_kind"]
    by_family = summary["by_family"]
    parts = [
        INTRO,
        "## Headline\n\n" + headline(summary["overall"], by_kind),
        cases_section(summary["cases"]),
        METHOD.format(**summary["versions"]),
        "## All cases\n\n" + table(summary["overall"]),
        "## By kind of derivative",
        *(f"### {KINDS[k].capitalize()}\n\n{table(by_kind[k])}" for k in KINDS if k in by_kind),
        stages_section(summary["tolerance_stages"], by_kind, summary["second_tolerance_stages"]),
        misses_section(summary["tolerance_misses"]),
        misses_section(summary["second_tolerance_misses"], SECOND_RTOL, SECOND_MISSES),
        "## By family",
        *(
            f"### {FAMILIES[f]} (`{f}`)\n\n{table(by_family[f])}"
            for f in FAMILIES
            if f in by_family
        ),
        worst_section(summary["worst"]),
        silent_section(summary["silent"], summary["overall"]),
        estimates_section(summary["worst_estimates"]),
        runtime_section(summary["seconds"], summary["versions"]["cores"]),
    ]
    return "\n\n".join(parts) + "\n"


def headline(overall: dict[str, dict[str, Any]], by_kind: dict[str, Any]) -> str:
    central, nd, scipy = overall["nabla central"], overall["numdifftools"], overall["scipy"]
    textbook = overall["h = 1e-4"]
    misses = (
        f"- **Wrong answers.** Nabla's default answer (central) is more than 1e-6 off in "
        f"{percent(central['above_1e-6'])} of {central['components']} components, more than "
        f"1e-3 off in {percent(central['above_1e-3'])}, and more than 1e-6 off without saying so "
        f"(flagged `unreliable`, or null) in {percent(central['unflagged_above_1e-6'])}, "
        f"while {percent(central['flagged_accurate'])} of the components it flags are within "
        f"1e-6 ([silent misses](#nablas-silent-misses-central-defaults)); "
        f"numdifftools in "
        f"{percent(nd['above_1e-6'])} and {percent(nd['above_1e-3'])}, scipy.differentiate in "
        f"{percent(scipy['above_1e-6'])} and {percent(scipy['above_1e-3'])}, h = 1e-4 in "
        f"{percent(textbook['above_1e-6'])} and {percent(textbook['above_1e-3'])}."
    )
    changed = sum(s["changed"] or 0 for name, s in overall.items() if name.startswith("nabla"))
    methods = ", ".join(
        f"{name.removeprefix('nabla ')} {percent(s['exceeded'])} ({percent(s['exceeded_10x'])})"
        for name, s in overall.items()
        if name.startswith("nabla") and s["exceeded"] is not None
    )
    estimates = (
        f"- **Error estimates.** The true error exceeds Nabla's reported `errors` in "
        f"{methods} of the components estimated (in brackets: by more than 10×); "
        f"numdifftools' own estimate in {percent(nd['exceeded'])} ({percent(nd['exceeded_10x'])}), "
        f"scipy's in {percent(scipy['exceeded'])} ({percent(scipy['exceeded_10x'])}). "
        f"Asking for `errors` changed {changed} of Nabla's values."
    )
    medians = ", ".join(
        f"{KINDS[k]} {number(by_kind[k]['nabla central']['median'])} "
        f"(numdifftools {number(by_kind[k]['numdifftools']['median'])})"
        for k in KINDS
        if k in by_kind
    )
    cost = (
        f"- **Digits and cost.** Median relative error of Nabla's default: {medians}. "
        f"Evaluations per point, all cases: Nabla {float(central['evaluations']):.0f}, "
        f"numdifftools {float(nd['evaluations']):.0f}, scipy {float(scipy['evaluations']):.0f}."
    )
    return "\n".join([misses, estimates, cost, tolerance_line(overall, by_kind)])


def tolerance_line(overall: dict[str, dict[str, Any]], by_kind: dict[str, Any]) -> str:
    name = "nabla tolerance"
    if name not in overall:
        return ""
    kinds = [k for k in KINDS if name in by_kind.get(k, {})]
    medians = ", ".join(
        f"{KINDS[k]} {number(by_kind[k][name]['median'])} "
        f"({percent(by_kind[k][name]['converged'])} converged, "
        f"{float(by_kind[k][name]['evaluations']):.0f} evaluations per point; numdifftools "
        f"{number(by_kind[k]['numdifftools']['median'])}, "
        f"{float(by_kind[k]['numdifftools']['evaluations']):.0f})"
        for k in kinds
    )
    return (
        f"- **To a tolerance.** With `tolerance` rtol = 1e-12 (central only), median relative "
        f"error: {medians}. A point whose bound does not meet the tolerance keeps its best "
        "estimate and says `converged: false`, as do those whose step the default answer's "
        "ladder doubts (it flags them `unreliable`; a point flagged for rounding alone is "
        "refined, and its flag lifted where a level bounds it to 1e-6); the bound counts "
        "the rounding inside f (eps·|x·f'|), which at |x| "
        "of 10 or more, or next to a pole, is over 1e-12 of f' at any step. Of the "
        f"components said to converge, {percent(overall[name]['converged_off'])} are "
        "more than the tolerance off. Why the others do not converge, and how many could: "
        "[below](#why-points-do-not-converge-to-rtol--1e-12)." + second_line(overall, by_kind)
    )


def second_line(overall: dict[str, dict[str, Any]], by_kind: dict[str, Any]) -> str:
    """The headline's part on second derivatives and Hessians to rtol = 1e-10."""
    name = "nabla tolerance 1e-10"
    if name not in overall:
        return ""
    kinds = [k for k in KINDS if name in by_kind.get(k, {})]
    parts = ", ".join(
        f"{KINDS[k]} {percent(by_kind[k][name]['converged'])} converged "
        f"({float(by_kind[k][name]['evaluations']):.0f} evaluations per point, median error "
        f"{number(by_kind[k][name]['median'])})"
        for k in kinds
    )
    return (
        f" With rtol = 1e-10, where #16's convergence target for them is restated: {parts}; "
        f"{percent(overall[name]['converged_off'])} of the components said to converge are "
        "more than the tolerance off "
        "([how many could](#second-derivatives-and-hessians-to-rtol--1e-10))."
    )


def cell(text: str) -> str:
    """Text in a table cell: a bare | would end it."""
    return text.replace("|", r"\|")


def cases_section(counts: dict[str, Any]) -> str:
    families = "\n".join(
        f"| `{f}` | {cell(FAMILIES[f])} | {n} |" for f, n in counts["by_family"].items()
    )
    sources = "\n".join(f"| {s} | {n} |" for s, n in counts["by_source"].items())
    kinds = ", ".join(f"{n} {KINDS[k]}" for k, n in counts["by_kind"].items())
    return (
        f"## The cases\n\n{counts['total']} cases: {kinds}. Each names its source (a test "
        "file and test, a paper and its equation or table) in `bench/accuracy/cases.jsonl`; "
        "the code that lists them, with what was left out and why, is "
        "`bench/accuracy/sources.py` and `bench/accuracy/hard.py`.\n\n"
        f"| family | what | cases |\n|---|---|---:|\n{families}\n\n"
        f"| source | cases |\n|---|---:|\n{sources}"
    )


def worst_section(rows: list[dict[str, Any]]) -> str:
    return "\n".join(["## Nabla's largest errors (central, defaults)\n", *component_table(rows)])


def component_table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per component: its case, where, the exact and Nabla's value, the error."""
    lines = [
        "| case | f | point | kind | exact | Nabla | relative error | reported `errors` |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        point = ", ".join(f"{x:.10g}" for x in r["point"])
        kind = r["kind"] if r["kind"] in ("d1", "d2") else f"{r['kind']}[{r['component']}]"
        lines.append(
            f"| {r['id']} | `{short(r['expression'])}` | {point} | {kind} | "
            f"{number(r['exact'])} | {number(r['value'])} | {number(r['relative_error'])} | "
            f"{number(r['reported_error'])} |"
        )
    return lines


SILENT = """## Nabla's silent misses (central, defaults)

Components of the default answer more than 1e-6 off (relative; absolute where the exact
value is 0) that it does not flag `unreliable` (nor leave null); *reported `errors`* is what
`error_estimate` says of them. The flag comes from the engine's own bounds (the rounding of
f at the stencil's points, a ladder whose smaller steps disagree), never from the exact
value, so it also flags components that turn out accurate: a gradient or a Hessian flags its
point, all of its components, and a bound is an upper one.

| runner | components flagged | of them within 1e-6 | > 1e-6 unflagged |
|---|---:|---:|---:|"""


def silent_section(rows: list[dict[str, Any]], overall: dict[str, dict[str, Any]]) -> str:
    lines = [SILENT]
    for name, s in overall.items():
        if name.startswith("nabla") and s.get("flagged") is not None:
            lines.append(
                f"| {name} | {percent(s['flagged'])} | {percent(s['flagged_accurate'])} | "
                f"{percent(s['unflagged_above_1e-6'])} |"
            )
    if rows:
        lines += ["", *component_table(rows)]
    else:
        lines += ["", "None: every default central answer more than 1e-6 off says so."]
    return "\n".join(lines)


def estimates_section(rows: list[dict[str, Any]]) -> str:
    lines = [
        "## Nabla's error estimates most exceeded\n",
        "| case | method | f | point | kind | true error | reported `errors` | ratio |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        point = ", ".join(f"{x:.10g}" for x in r["point"])
        lines.append(
            f"| {r['id']} | {r['runner'].split()[1]} | `{short(r['expression'])}` | {point} | "
            f"{r['kind']} | {number(r['true_error'])} | {number(r['reported_error'])} | "
            f"{number(r['ratio'])} |"
        )
    return "\n".join(lines)


def short(expression: str, width: int = 60) -> str:
    return expression if len(expression) <= width else expression[: width - 1] + "…"


def runtime_section(seconds: dict[str, float], cores: str) -> str:
    cells = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
    return f"## Run time\n\nThe last `python -m bench.accuracy`, on {cores} cores: {cells}."


INTRO = """# Accuracy

How close the derivatives of Nabla's engine are to the exact ones, and how honest its error
estimates are, on cases collected from scipy.differentiate's and numdifftools' test suites,
papers on finite-difference steps, the Moré-Garbow-Hillstrom problems and families of hard
cases; with numdifftools, scipy.differentiate and the textbook central difference (h = 1e-4)
on the same cases. Generated by `python -m bench.accuracy` (`make accuracy`) from
`bench/accuracy/summary.json`; `tests/test_accuracy_suite.py` re-runs Nabla's part and fails
when this page no longer matches the engine."""

METHOD = """## How it is measured

- **Exact values.** sympy reads each expression's text (Nabla's functions mapped to sympy's:
  `log1p(x)` is log(1 + x), `cbrt` the real cube root, `where` a Piecewise, ...), with every
  number as the exact value of the float64 it denotes, differentiates it and mpmath evaluates
  the derivative at the point at 50 digits, checked at 80; the result is rounded to float64.
  The oracle is the derivative of the function the runners evaluate, without its rounding.
- **Nabla** runs in-process as `app/service.py` calls it: `parse(text).bind(variables)`, then
  `app.numerics.derivative`, `gradient` or `hessian` with the defaults (automatic step,
  accuracy 2), once as is and once with `error_estimate=True` for `errors`. Methods central,
  forward and backward (Hessians: central only); complex for first derivatives, gradients and
  Hessians of analytic expressions. *nabla tolerance* is central with `tolerance` rtol = 1e-12
  (no error estimate), on every kind of case; *nabla tolerance 1e-10* the same with rtol =
  1e-10, on second derivatives and Hessians.
- **Peers**, with their defaults, on the same compiled function: numdifftools {numdifftools}
  (`Derivative` with n = 1 or 2, `Gradient`, `Hessian`; `full_output` for its error estimate),
  scipy {scipy} (`differentiate.derivative` for f', `jacobian` for gradients, `hessian` for
  Hessians and f''), and h = 1e-4: (f(x+h) − f(x−h))/2h, (f(x+h) − 2f(x) + f(x−h))/h² and the
  four-point mixed difference. Python {python}, NumPy {numpy}, sympy {sympy}, mpmath {mpmath}.
- **Columns.** A component is one number: f', f'', a gradient entry or an entry of a Hessian's
  upper triangle. Its error is relative, or absolute where the exact value is 0; a NaN or
  infinite answer is an infinite error. *> 1e-6 unflagged*: more than 1e-6 off in the default
  answer (the one without `errors`) and neither flagged `unreliable` (its point is) nor null.
  *Estimate exceeded*: the share of components given with an error estimate (and a finite
  value) whose true absolute error is larger than the estimate. *Evaluations per point*:
  points at which f was evaluated for one case (the default answer; with `tolerance`, all
  of it), averaged over the cases (a case is one point)."""


MISSES = """## Why points do not converge to rtol = 1e-12

Every component of *nabla tolerance* that did not converge, sorted by what float64 central
differences can do there (`bench/accuracy/floor.py`): every central stencil of accuracy 2 to
16 is tried at every step 2^(k/2)·max(|x|, 1) from 2^-60 to 2^30 of it, and its true error
measured against the exact value at the steps where the rounding a black-box bound has to
count, eps·(|f| + S + Σ|x_i·∂f/∂x_i|)·Σ|w|/h^m, stays under the goal (once; the engine
counts it four times; S = Σ|w_k|·|f(x + k·h)|/Σ|w|, f's size over the stencil, as the
engine's bound counts it: at a least-squares minimum f(x) is 0). *Reachable*: some stencil
is within a quarter of the goal at three steps in a row. A Hessian converges as a whole
(its worst term), so all the components of a point that did not are counted. The issue's
target, 95% converged, is to be read against *converged at most*.

- *exact 0*: every derivative at the point is 0, so rtol·|D| is 0 and no bound meets it (an
  `atol` would);
- *(a) out of reach*: no stencil and step is within the goal; *floor* is the smallest error
  held at three steps where the rounding is under the goal (∞: at none), *any step* without
  that condition (under 1e-12 where only the rounding inside f, which the engine cannot see
  whether f commits, stands in the way);
- *flagged*: reachable, but the answer flags the point `unreliable`: its ladder saw smaller
  steps disagree, and then the engine never claims convergence (points flagged for rounding
  alone are refined, and their flag lifted where a level bounds them to 1e-6 of themselves);
- *(b) within reach*: a stencil and step exist, and the engine did not find them or its
  bound did not show it; *at 4×* is the floor where four times that rounding (what the
  engine's bound counts, `ROUNDING_SAFETY`) is under the goal: over a quarter of 1e-12,
  only a tighter rounding bound than the engine's would reach it.
"""
SECOND_MISSES = """## Second derivatives and Hessians to rtol = 1e-10

#16 asks for a median relative error of at most 1e-11 on second derivatives and Hessians
with `tolerance` rtol = 1e-12, and for 95% of points converged. At 1e-12 their bounds, four
times f's rounding and twice the truncation the orders show, are about 20 times their true
error, so they meet it almost nowhere (on `python -m bench.smooth`'s ordinary smooth
functions, 8.5% of f'' and no Hessian converge, while 35-90% of them are within 1e-12).
Their convergence target is restated at rtol = 1e-10 (session 15): *nabla tolerance 1e-10*
runs on the second-derivative and Hessian cases, and what it does not converge on is sorted
as above, against 1e-10.
"""
RTOL = 1e-12  # the tolerance runner's
SECOND_RTOL = 1e-10  # ... and the second derivatives' one
CATEGORIES = {
    "zero": "exact 0",
    "unreachable": "(a) out of reach",
    "flagged": "flagged",
    "reachable": "(b) within reach",
}


def misses_section(misses: dict[str, Any], rtol: float = RTOL, intro: str = MISSES) -> str:
    lines = [
        intro,
        "| kind | components | converged | "
        + " | ".join(CATEGORIES.values())
        + " | (b) at 4× | converged at most |",
        "|---|---:|---:|" + "---:|" * len(CATEGORIES) + "---:|---:|",
    ]
    for kind in KINDS:
        m = misses["kinds"].get(kind)
        if m is None:
            continue
        counts = [len(m.get(c, [])) for c in CATEGORIES]
        most = m["converged"] + counts[2] + counts[3]
        cells = [KINDS[kind], str(m["components"]), cell_share(m["converged"], m["components"])]
        safe = sum(order(shown(e.split()[3])) <= rtol / 4 for e in m.get("reachable", []))
        cells += [str(n) for n in counts] + [str(safe), cell_share(most, m["components"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "\n*(b) at 4×*: of (b), those within reach with the engine's rounding bound. "
        "*Converged at most*: what an engine that converged on every point within reach "
        "(flagged or not) would show on this suite."
    )
    for category in ("unreachable", "reachable", "flagged"):
        lines.append(miss_table(misses, category))
    return "\n".join(lines)


def shown(text: str) -> str:
    """A number of summary.json's text, as `number` shows it."""
    return number(text if text in ("inf", "nan") else float(text))


def order(text: str) -> float:
    """A number as `number` shows it, to compare."""
    return float(text.replace("∞", "inf"))


def cell_share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)"


def miss_table(misses: dict[str, Any], category: str) -> str:
    rows = [
        "",
        f"### {CATEGORIES[category]}",
        "",
        "| case | kind | expression | point | components | floor | at 4× | any step |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for kind in KINDS:
        grouped: dict[str, list[Any]] = {}
        for entry in misses["kinds"].get(kind, {}).get(category, []):
            case, k, *floors = entry.split()
            grouped.setdefault(case, []).append((k, [shown(f) for f in floors]))
        for case, parts in grouped.items():
            expression, where = misses["cases"][case].rsplit(" at ", 1)
            floor, safe, anywhere = (max((f[n] for _, f in parts), key=order) for n in range(3))
            components = ", ".join(str(k) for k, _ in parts)
            rows.append(
                f"| {case} | {kind} | `{cell(short(expression))}` | {where} | {components} "
                f"| {floor} | {safe} | {anywhere} |"
            )
    return "\n".join(rows)


STAGES = """## Where a tolerance's evaluations go

Evaluations of f per point with `tolerance` rtol = 1e-12, by stage, averaged over the cases of
each kind: the first answer's plan (its stencil and step check), its ladders (the smaller or
larger steps it tries where the check fails: for f', 52 or 20 evaluations), and the levels of
the tolerance (for f' and f'', 8 evaluations a coordinate that check the first answer at
two smaller steps; 8 for f', 12 for f'', 12 a term of a Hessian's upper triangle, up to 3
levels, and for f' and f'' half that again to confirm a level at half its step before it is
kept); *converged points*: the total of the cases that converged, every
component. numdifftools' columns are its own, with its defaults: over every case of the kind,
and over the cases of *converged points* (a kind's converged cases are not its average ones:
a gradient of 6 variables costs six times one of 1). Second derivatives and Hessians again
with rtol = 1e-10 (*nabla tolerance 1e-10*).

#16 asked for at most a third of numdifftools' evaluations per point. That target is retired
(session 15): numdifftools' evaluations buy an extrapolation whose error nothing checks, and
the least a checked answer costs here is more than a third of them, 28 for f' (the first
answer's 4, 8 to check it at two smaller steps, one level's 8 and 4 more to confirm it at
half its step, and 4 that measure f's rounding near x) against 10. In its place:
a point that converges costs no more than numdifftools' unchecked answer on the same points,
as this table measures (*converged points* against *numdifftools, those points*; until
session 17 against every case's, which leaned on which cases converged): met for gradients
and Hessians, not for f' and f''.
"""


def stages_section(
    stages: dict[str, list[float]], by_kind: dict[str, Any], second: dict[str, list[float]]
) -> str:
    lines = [
        STAGES,
        "| kind | first answer | its ladders | cases with ladders | tolerance levels | total "
        "| converged points | numdifftools | numdifftools, those points |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(k, KINDS[k], stages) for k in KINDS] + [
        (k, f"{KINDS[k]}, rtol = 1e-10", second) for k in KINDS
    ]
    for kind, label, table in rows:
        if kind not in table:
            continue
        plan, ladders, levels, laddered, converged, same = table[kind]
        theirs = float(by_kind[kind]["numdifftools"]["evaluations"])
        cells = [f"{plan:.0f}", f"{ladders:.1f}", percent(laddered), f"{levels:.1f}"]
        cells += [f"{plan + ladders + levels:.0f}", f"{converged:.0f}", f"{theirs:.0f}"]
        cells.append(f"{same:.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
