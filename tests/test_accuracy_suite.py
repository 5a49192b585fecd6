"""The accuracy suite (bench/accuracy): its cases, its oracle, and the committed summary and
docs/accuracy.md against the engine as it is now.

The suite's peers (numdifftools, scipy) are not needed here: only Nabla's part is re-run.
When the engine changes, `python -m bench.accuracy` (make accuracy) rewrites the summary and
the docs; these tests fail until it has.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.accuracy import cases as store  # noqa: E402
from bench.accuracy import runners  # noqa: E402
from bench.accuracy.cases import Case  # noqa: E402
from bench.accuracy.catalog import all_cases  # noqa: E402
from bench.accuracy.floor import breakdown  # noqa: E402
from bench.accuracy.metrics import Outcome, summarize  # noqa: E402
from bench.accuracy.oracle import exact_values  # noqa: E402
from bench.accuracy.report import DOCS, render  # noqa: E402
from bench.accuracy.suite import NABLA, run, tolerance_stages  # noqa: E402

SUMMARY = ROOT / "bench" / "accuracy" / "summary.json"
REBUILD = "run `python -m bench.accuracy` (make accuracy) and commit what it writes"
CASES = store.load()
mp = mpmath.mpf


def test_the_suite_has_at_least_250_cases_each_citing_a_source() -> None:
    assert len(CASES) >= 250
    assert [c.id for c in CASES if len(c.source.strip()) < 10] == []
    assert len({c.id for c in CASES}) == len(CASES)


def test_cases_jsonl_holds_the_catalog() -> None:
    stored = [replace(c, exact=()) for c in CASES]
    assert stored == all_cases(), "cases.jsonl is stale: run `python -m bench.accuracy --build`"


def test_every_case_has_a_finite_exact_value_per_derivative() -> None:
    expected = {"d1": 1, "d2": 1, "gradient": 1, "hessian": 2}
    wrong = [
        c.id
        for c in CASES
        if len(c.exact) != c.dimension ** expected[c.kind] or not all(map(math.isfinite, c.exact))
    ]
    assert wrong == []


def one(kind: str, expression: str, point: list[float], variables: list[str] | None = None) -> Case:
    names = variables or (["x"] if kind in ("d1", "d2") else [f"x{i}" for i in range(len(point))])
    return Case("t", "test", "test", expression, tuple(names), tuple(point), kind)  # type: ignore[arg-type]


def closed_forms() -> list[Any]:
    """Derivatives written by hand, evaluated by mpmath at 50 digits (no sympy)."""
    with mpmath.workdps(50):
        e3 = mpmath.exp(3)
        return [
            pytest.param(
                one("d1", "3*x + sin(x)", [1e12]), [3 + mpmath.cos(mp(1e12))], id="large-x"
            ),
            pytest.param(
                one("d1", "sqrt(1 - x**2)", [0.999999]),
                [-mp(0.999999) / mpmath.sqrt(1 - mp(0.999999) ** 2)],
                id="domain-edge",
            ),
            pytest.param(
                one("d2", "exp(-1e-6*x)", [1.0]),
                [mp(1e-6) ** 2 * mpmath.exp(-mp(1e-6))],
                id="flat-d2",
            ),
            pytest.param(one("d1", "cbrt(x)", [-8.0]), [mp(1) / 12], id="real-cube-root"),
            pytest.param(one("d1", "where(x > 1, (x - 1)**5, (x - 1)**3)", [2.0]), [5], id="where"),
            pytest.param(
                one("d1", "sigmoid(100*x)", [0.01]),
                [100 * mpmath.exp(-1) / (1 + mpmath.exp(-1)) ** 2],
                id="sigmoid",
            ),
            pytest.param(
                one("d1", "log1p(x) + expm1(x) + exp2(x) + log2(x) + log10(x)", [0.5]),
                [
                    1 / mp(1.5)
                    + mpmath.exp(0.5)
                    + mpmath.sqrt(2) * mpmath.log(2)
                    + 1 / (mp(0.5) * mpmath.log(2))
                    + 1 / (mp(0.5) * mpmath.log(10))
                ],
                id="numpy-functions",
            ),
            pytest.param(
                one("d1", "abs(x) + relu(x) + maximum(x, 2) + hypot(x, 3)", [-0.5]),
                [-1 - mp(0.5) / mpmath.sqrt(mp(9.25))],
                id="kinks",
            ),
            pytest.param(one("d1", "arctan2(x, 2)", [1.0]), [mp(2) / 5], id="arctan2"),
            pytest.param(
                one("d1", "e**x + pi*x", [1.0]),
                [mp(math.e) * mpmath.log(mp(math.e)) + mp(math.pi)],
                id="float-constants",
            ),
            pytest.param(one("d2", "2*x^3", [2.0]), [24], id="caret-power"),
            pytest.param(one("d2", "x**2*log(x)", [1.0]), [3], id="oliver-3"),
            pytest.param(
                one("gradient", "x0*x1 + sin(x0)", [1e12, 3.0]),
                [3 + mpmath.cos(mp(1e12)), mp(1e12)],
                id="gradient",
            ),
            pytest.param(
                one("gradient", "100*(x1 - x0**2)**2 + (1 - x0)**2", [-1.2, 1.0]),
                [
                    -400 * mp(-1.2) * (1 - mp(-1.2) ** 2) - 2 * (1 - mp(-1.2)),
                    200 * (1 - mp(-1.2) ** 2),
                ],
                id="rosenbrock",
            ),
            pytest.param(
                one("hessian", "x*y*z + exp(x)*y", [3, 5, 7], ["x", "y", "z"]),
                [5 * e3, e3 + 7, 5, e3 + 7, 0, 3, 5, 3, 0],
                id="hessian",
            ),
        ]


@pytest.mark.parametrize(("case", "expected"), closed_forms())
def test_the_oracle_matches_closed_forms(case: Case, expected: list[Any]) -> None:
    np.testing.assert_allclose(exact_values(case), [float(v) for v in expected], rtol=1e-15)


@pytest.mark.parametrize("case", CASES[::50], ids=lambda c: c.id)
def test_stored_exact_values_are_the_oracles(case: Case) -> None:
    assert exact_values(case) == list(case.exact)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(SUMMARY.read_text())
    return summary


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    """Nabla's part of the suite, run on the engine as it is."""
    found, _ = run(CASES, NABLA)
    return found


@pytest.fixture(scope="module")
def measured(outcomes: list[Outcome]) -> dict[str, Any]:
    return summarize(outcomes, NABLA)


def differences(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    """The statistics of one table row that moved beyond what other platforms' rounding
    explains: one component's worth of a share, 2× of an error, 2% of evaluations."""
    moved = []
    for key, before in then.items():
        after = now[key]
        if key in ("above_1e-6", "above_1e-3", "unflagged_above_1e-6", "flagged"):
            same = abs(after - before) <= 1 / then["components"] + 1e-4
        elif key == "flagged_accurate" and before is not None:
            flagged = max(round(then["flagged"] * then["components"]), 1)
            same = after is not None and abs(after - before) <= 1 / flagged + 1e-4
        elif key in ("exceeded", "exceeded_10x") and before is not None:
            same = abs(after - before) <= 1 / then["estimated"] + 1e-4
        elif key in ("median", "max") and not isinstance(before, str):
            floor = 1e-15  # relative errors this small are rounding, whatever their ratio
            same = not isinstance(after, str) and (
                max(after, before) <= floor or before / 2 <= after <= before * 2
            )
        elif key == "evaluations":
            same = abs(after - before) <= 0.02 * before
        else:
            same = after == before
        if not same:
            moved.append(f"{key}: {before} -> {after}")
    return moved


@pytest.mark.parametrize("table", ["overall", "by_kind", "by_family"])
def test_nablas_numbers_match_the_committed_summary(
    measured: dict[str, Any], committed: dict[str, Any], table: str
) -> None:
    rows = (
        {"all": measured[table]} if table == "overall" else measured[table],
        {"all": committed[table]} if table == "overall" else committed[table],
    )
    moved = {
        f"{group} / {runner}": diff
        for group, runners in rows[1].items()
        for runner, then in runners.items()
        if runner in NABLA and (diff := differences(rows[0][group][runner], then))
    }
    assert moved == {}, f"the engine's accuracy changed: {REBUILD}"


def test_the_docs_are_rendered_from_the_committed_summary(committed: dict[str, Any]) -> None:
    assert DOCS.read_text() == render(committed), f"docs/accuracy.md is stale: {REBUILD}"


@pytest.mark.parametrize(
    ("runner", "share", "by_10x"),
    [
        ("nabla central", 0.01, 0),
        ("nabla forward", 0.01, 0),
        ("nabla backward", 0.01, 0),
        # Im f(x + ih) rounded inside f (sums of cos in MGH's trigonometric function) is not
        # seen by changing h: 10 of 933 components, 5 by more than 10x, until the noise probe.
        ("nabla complex", 0.01, 0),
        # The kept level's bound: 2.07% of 1016 components before a Hessian's levels probed
        # f's rounding near x (MGH's trigonometric Hessian, 6 − Σcos x_i, 14 terms 2-4x over),
        # 0.59% since; 0.30% since the first level of a second derivative starts nearer
        # (session 14: the 12th-order stencil at the balance step was no closer than the
        # 10th near complex poles). One component is over by 88x, and its point is flagged:
        # f₁₁ of x0²·x1 + sin(x1) at (1e6, 1e3), where f ≈ 1e15 rounds by 0.2 and a step
        # wide enough for that rounding sees sin(x1) not at all, at any order.
        ("nabla tolerance", 0.01, 0.001),
        # The same component, and the only one, to rtol 1e-10 (of 391, second derivatives
        # and Hessians only).
        ("nabla tolerance 1e-10", 0.01, 0.003),
    ],
)
def test_error_estimates_bound_the_true_error_on_the_suite(
    measured: dict[str, Any], runner: str, share: float, by_10x: float
) -> None:
    row = measured["overall"][runner]
    assert row["exceeded"] <= share
    assert row["exceeded_10x"] <= by_10x


def test_asking_for_an_error_estimate_changes_no_value_on_the_suite(
    measured: dict[str, Any],
) -> None:
    assert {r: measured["overall"][r]["changed"] for r in NABLA} == dict.fromkeys(NABLA, 0)


def test_to_a_tolerance_the_median_errors_meet_the_issues_targets(
    measured: dict[str, Any],
) -> None:
    # Median relative error ≤ 1e-13 on first derivatives, ≤ 1e-11 on second ones (#16).
    by_kind = measured["by_kind"]
    assert by_kind["d1"]["nabla tolerance"]["median"] <= 1e-13
    assert by_kind["gradient"]["nabla tolerance"]["median"] <= 1e-13
    assert by_kind["d2"]["nabla tolerance"]["median"] <= 1e-11
    assert by_kind["hessian"]["nabla tolerance"]["median"] <= 1e-11
    assert by_kind["d1"]["nabla tolerance"]["converged"] > 0.5


def test_to_a_tolerance_convergence_is_claimed_where_the_error_supports_it(
    measured: dict[str, Any], committed: dict[str, Any]
) -> None:
    by_kind, name = measured["by_kind"], "nabla tolerance"
    # Converged components more than rtol·max|exact| off: none. MGH's trigonometric Hessian
    # (6 − Σcos x_i cancels inside f: rounding its bound cannot see) had 15, until its
    # diagonal ladder's doubt flagged the point, which then never claims convergence.
    assert measured["overall"][name]["converged_off"] == 0
    assert by_kind["d1"][name]["converged_off"] == 0
    # No first derivative more than 1e-6 off unflagged (a stencil across 1/x's pole was).
    assert by_kind["d1"][name]["unflagged_above_1e-6"] == 0
    # f'' by 12th-order stencils at wide steps (8th order: 9.8% converged).
    assert by_kind["d2"][name]["converged"] > 0.25
    # Hessians: 12 evaluations a term, not 64 a mixed one a level (753 per point). 0.87 of
    # numdifftools' (302 against 346) until the first level's step was a third of what it
    # was, for bounds that hold (session 14): 352, one level more where f is a polynomial.
    peer = committed["by_kind"]["hessian"]["numdifftools"]["evaluations"]
    # 353 since a ladder's doubt measures f's noise (session 17: 8 evaluations where doubted)
    assert by_kind["hessian"][name]["evaluations"] <= 1.025 * peer


def test_to_a_tolerance_first_derivatives_and_gradients_converge_where_float64_can(
    outcomes: list[Outcome],
) -> None:
    # #16's 95% converged, read against what float64 central differences can reach
    # (`floor`: the components converged, flagged or within reach; session 15): f' 211 of
    # 220, gradients 276 of 290 (95.2%). Gradients were at 270 while the first answer's
    # check at smaller steps read MGH's trigonometric function's rounding (750 eps·|f|,
    # invisible 16 ulps from x) as a contradiction; where two difference tables further out
    # hear noise 8 times louder than assumed, the check is now made again (session 17). (A
    # first try, a difference table as the check's only probe, was blind where the 16-ulp
    # probe is not: withdrawn.)
    kinds = breakdown(outcomes)["kinds"]
    for kind in ("d1", "gradient"):
        row = kinds[kind]
        at_most = row["converged"] + len(row.get("flagged", [])) + len(row.get("reachable", []))
        assert row["converged"] >= 0.95 * at_most, (kind, row["converged"], at_most)


def test_second_derivatives_to_1e_10_converge_where_their_bounds_can_show_it(
    measured: dict[str, Any], outcomes: list[Outcome]
) -> None:
    # #16's convergence target for second derivatives and Hessians, restated at rtol 1e-10
    # (session 15; at 1e-12 their honest bounds meet it almost nowhere, `runners`). Of the
    # components within reach of float64 (`floor`), 48 of 55 f'' (87%: not met) and 315 of
    # 326 Hessian terms (96.6%) converge. MGH's trigonometric Hessian (21 terms) was doubted
    # by its ladder, whose smaller steps see f cancel inside (6 − Σcos x_i), until the
    # ladder measured f's noise (session 17, `ladders._rounding_noise`): 294 before.
    name = "nabla tolerance 1e-10"
    row = breakdown(outcomes, name)["kinds"]["hessian"]
    at_most = row["converged"] + len(row.get("flagged", [])) + len(row.get("reachable", []))
    assert row["converged"] >= 0.95 * at_most, (row["converged"], at_most)
    d2, hessian = (measured["by_kind"][k][name] for k in ("d2", "hessian"))
    assert d2["converged"] >= 0.77
    assert hessian["converged"] >= 0.95
    assert d2["converged_off"] == 0
    # x0²·x1 + sin(x1) at (1e6, 1e3): f₁₁ = −sin(1000) is below f's rounding at every step,
    # and the level's bound, 5e-5, is under 1e-10 of the largest term (2e6): it converges,
    # flagged `unreliable`, 0.83 off (1 of its 3 terms, of 294 converged).
    assert hessian["converged_off"] <= 0.0035
    assert d2["median"] <= 1e-12
    assert hessian["median"] <= 1e-12


def test_to_a_tolerance_a_converged_point_costs_about_what_numdifftools_unchecked_one_does(
    outcomes: list[Outcome], committed: dict[str, Any]
) -> None:
    # #16's "a third of numdifftools' evaluations" is retired (session 15, docs/accuracy.md:
    # a checked f' costs at least 20 against a third's 10); in its place, a point that
    # converges costs no more than numdifftools' unchecked answer. Met for gradients (74
    # against 97) and Hessians to 1e-10 (217 against 346); not for f' (38 against 31: the
    # points a ladder found first cost 78, and each level kept is confirmed at half its
    # step, 4 evaluations) nor f'' to 1e-10 (43 against 31; 32 and 36 before confirming).
    # The check at two smaller steps (session 16) adds 8 a coordinate: f' 46, f'' 51,
    # gradients 97 against numdifftools' 97. Since session 17 against numdifftools' on the
    # same converged cases (`tolerance_stages`' last column), not on all of the kind's
    # (a kind's converged cases need not be its average ones): gradients 97 against 99.
    # Then MGH's trigonometric gradient converged (its check made again where f's noise is
    # louder than assumed, 12 evaluations a coordinate): 100.5 against 99.6, 0.9% over.
    # (numdifftools is not run here: its cost on those cases is the committed summary's)
    theirs = {k: v["numdifftools"]["evaluations"] for k, v in committed["by_kind"].items()}
    same = committed["tolerance_stages"], committed["second_tolerance_stages"]
    first, second = (tolerance_stages(outcomes, r) for r in runners.TOLERANCES)
    assert first["gradient"][4] <= 1.01 * same[0]["gradient"][5]
    assert second["hessian"][4] <= same[1]["hessian"][5]
    assert first["d1"][4] <= 1.5 * same[0]["d1"][5]
    assert second["d2"][4] <= 1.7 * same[1]["d2"][5]
    # (a kind's converged cases cost numdifftools about what all its cases do)
    for kind in ("d1", "gradient"):
        assert same[0][kind][5] <= 1.1 * theirs[kind]


def test_to_a_tolerance_the_evaluations_and_convergence_hold_what_was_gained(
    measured: dict[str, Any],
) -> None:
    # Before the step rules of #16's second pass: f' 34 evaluations a point (60.6%
    # converged), f'' 42, gradients 61, Hessians 288 (58.8%). Since points flagged for
    # rounding alone are refined too (session 10): f' 32.1 -> 32.7, f'' 40.5 -> 42.1,
    # gradients 56.2 -> 57.2 (77.9% -> 80.3% converged), Hessians 280 -> 302 (52.4% ->
    # 57.0%), and the tolerance's flags fell from 7.0% to 5.9% of f', 11.5% to 4.9% of f''.
    # Since f' goes on at 16th order where the 8th cannot meet the goal (session 11): f'
    # 65.5% -> 72.1% converged at 32.8 -> 38.3 evaluations, gradients 80.3% -> 81.5% at
    # 57.2 -> 59.9.
    # Then 4 evaluations a point and coordinate measure f's rounding near x, which eps·|f|
    # undercounts where f cancels inside (scipy's 1 − (1 + x¹⁰)⁻⁴, whose convergence at
    # 0.37 was claimed 9 times too tight): f' 38.3 -> 42.2 (72.1%), gradients 59.9 -> 74.5
    # (80.6%), f'' 42.1 -> 46.1.
    # Then the step check sent points whose Δ³ shows a part of f below the step to the
    # ladder (`hidden_structure`), and recounts Δ³ where a quarter step agreed (session
    # 12): f' 42.2 -> 42.4, gradients 74.5 -> 75.2, the same converged.
    # Then the first level of a second derivative started nearer, 0.35 of the balance step
    # for f'' and 0.5 for a Hessian, where 1 and 1.5 left bounds 30-360 times under the
    # error near complex poles (session 14): f'' 46.1 -> 48.0 (31.1%), Hessians 302 -> 348
    # (57.0% -> 52.4%); and no gain from a geometric decrease where the low orders show the
    # step too near f's poles (`EARLY`): f'' 47.9, Hessians 352.
    # Then a point its levels do not converge, whose first answer's ladder shrank the step
    # (a kink near: |x| at 1e-9), has the first answer's own bound checked, where its
    # rounding alone does not miss the goal (session 15): f' 72.1% -> 73.2% converged (the
    # cusps whose ladder step is exact), 42.4 -> 42.6 evaluations, gradients 75.2 -> 75.7,
    # f'' 31.1% -> 32.8% at 47.9 -> 48.3.
    # And orders that disagree far over their rounding shrink the next step (they grew it):
    # gradients 80.6% -> 81.2% converged (MGH's Powell badly scaled function), 75.6.
    # Then every level kept is first confirmed at half its step (`tolerance._confirmed`):
    # near a kink the orders agree on an error that falls with h, and an outside attack's
    # kinks said `converged` off the tolerance at 112 of 593 points (3 now): f' 42.6 ->
    # 48.1, gradients 75.6 -> 88.3, f'' 48.3 -> 56.9, the same points converged. And a
    # central f''s bound counts f' at its stencil's ends (a least-squares minimum's
    # gradient rounds through its residuals): the default's doubts fell, gradients 91.3.
    # Then the first answer is checked at two smaller steps before any level (session 16,
    # `_small_step_disagrees`, 8 evaluations a coordinate): 3x + sin(x) at random points
    # from 1e10 to 1e14 had converged on 3, off, at 17-183 of 200 a decade, now 0-41. f'
    # 48.1 -> 55.8 (73.5%, the same), f'' 57 -> 64.9, gradients 90 -> 113 (81.2% -> 79.4%:
    # MGH's trigonometric gradient, 6 − Σcos x_i, is left flagged; its probes next to x see
    # less noise than f carries). And a ladder's doubt measures f's noise in two difference
    # tables (session 17, 8 evaluations where doubted): Hessians 352 -> 353; and so does a
    # check's contradiction, which is checked again where that noise is 8 times louder than
    # assumed (12 evaluations): gradients 113 -> 116 (79.4% -> 81.2%).
    rows = {k: v["nabla tolerance"] for k, v in measured["by_kind"].items()}
    assert rows["d1"]["evaluations"] <= 56
    assert rows["d2"]["evaluations"] <= 65.5
    assert rows["gradient"]["evaluations"] <= 116.5
    assert rows["hessian"]["evaluations"] <= 353
    assert rows["d1"]["converged"] >= 0.73
    assert rows["gradient"]["converged"] >= 0.81
    # 60.6% before the diagonal ladders' doubt flagged MGH's trigonometric Hessian (its 21
    # components, 15 of them converged and off) and x0 + x1² + x2³ at 1.2e-314 (6).
    assert rows["hessian"]["converged"] >= 0.52


def test_default_answers_more_than_1e_6_off_say_so(measured: dict[str, Any]) -> None:
    # Flagged `unreliable`, or null: the issue's target, no component more than 1e-6 off
    # unless the answer says so. (0.1% before a Hessian's resolved mixed term was judged
    # against itself, not its largest: MGH's Wood function, a term 1/566 of its largest
    # 2.5e-6 off. 0.8% before the diagonal ladders' doubt reached Hessians and second
    # derivatives, and the rounding of a second difference counted f at the stencil's
    # points; 0.2% before the ladder trusted its precise step within twice, not four times,
    # the safe step's change: sqrt(1 - x**2) at 0.999999 was 1.00001e-6 off.)
    by_kind = measured["by_kind"]
    assert measured["overall"]["nabla central"]["unflagged_above_1e-6"] == 0
    assert by_kind["d1"]["nabla central"]["unflagged_above_1e-6"] == 0
    assert by_kind["d2"]["nabla central"]["unflagged_above_1e-6"] == 0
    assert by_kind["gradient"]["nabla central"]["unflagged_above_1e-6"] == 0
    assert by_kind["hessian"]["nabla central"]["unflagged_above_1e-6"] == 0
    # Complex steps: 0.2% until an imaginary part that underflows was flagged (exp(x) at
    # −700, 2.2e-3 off; x0 + x1² + x2³ at 1.2e-314, whose H_22 came out 0).
    assert measured["overall"]["nabla complex"]["unflagged_above_1e-6"] == 0
    # One-sided second derivatives, unchecked until session 10: 21% and 25% (forward,
    # backward); then one left, log(x) at 1e-6, 1.1e-6 off, until a ladder that cannot
    # settle within 1e-6 said so (session 11).
    for method in ("forward", "backward"):
        assert measured["overall"][f"nabla {method}"]["unflagged_above_1e-6"] == 0


def test_the_flag_is_not_raised_everywhere(measured: dict[str, Any]) -> None:
    # A point's flag covers all its components, and bounds are upper ones, so most flagged
    # components are accurate; but the flag must still single points out. (15% and 80%
    # until a resolved mixed term of a Hessian was judged against itself, session 10: three
    # more points of 10 components, mgh-047, the last silent miss, and mgh-043 and mgh-058,
    # 4e-8 off, whose mixed terms' rounding is over 1e-6 of them: 13.6% -> 16.5%; 16.7%
    # since a ladder that cannot settle within 1e-6 flags its point, session 11:
    # sqrt(x0) + log(x1) at (1e-9, 1e-7), 2.8e-7 off; 16.4% once a ladder's levels that
    # see f(x) alone no longer agree on a 0 where others settle.)
    central = measured["overall"]["nabla central"]
    assert central["flagged"] <= 0.17
    assert central["flagged_accurate"] <= 0.82


def test_outside_the_suite_bounds_hold_on_ordinary_smooth_functions() -> None:
    # `python -m bench.smooth`: 10 smooth functions of one variable at 200 random points,
    # 6 of two and three at 100, to rtol 1e-12 and 1e-8 and without a tolerance. Before the
    # first level of a second derivative started at 0.35 of the balance step (0.5 for a
    # Hessian; session 14), f'''s bounds were exceeded at 17.3% (2.8% by over 10x) and a
    # Hessian's at 23% (4.7%), and 59 points said `converged` while over the tolerance.
    # Two f'' of sin(x)/(2 + cos(x)) near −3.9 were over 10x, where the step, scaled to
    # |x|, reached 0.4 of the way to the poles at π ± 1.3i, until the low orders' slow
    # decrease there took away the high orders' claimed gain (`tolerance.EARLY`).
    from bench import smooth

    for order, (answers, exceeded, tenfold, off) in smooth.derivatives().items():
        assert (exceeded <= 0.01 * answers, tenfold, off) == (True, 0, 0), order
    terms, exceeded, tenfold, off, _, _ = smooth.hessians()
    assert (exceeded <= 0.01 * terms, tenfold, off) == (True, 0, 0)
    for name, (answers, exceeded, tenfold) in smooth.defaults().items():
        assert (exceeded <= 0.01 * answers, tenfold) == (True, 0), name


def test_outside_the_suite_kinks_are_not_claimed_to_a_tolerance() -> None:
    # `bench.smooth.kinks`: f' of six functions with a kink (|x|³ + x, a C1 `where`, relu²,
    # |x|, ...) at 1e-12 to 1e-3 from it, rtol 1e-12, 1e-10 and 1e-8 (1440 answers). Before
    # each level kept was confirmed at half its step (session 15), about half the answers'
    # bounds were exceeded, most by over 10x, and a fifth of the points said to converge
    # were off the tolerance. Still over the issue's 1%: |x − 0.5|³ + sin(x) within 1e-7 of
    # 0.5, where the change at half the step stays within the levels' roundings and the
    # error, 1e-12, is up to 6x its bound; 4 of 592 converged are off (at 1e-12, by <1.3x).
    from bench import smooth

    answers, exceeded, tenfold, off, met = smooth.kinks()
    assert exceeded <= 0.06 * answers
    assert tenfold == 0
    assert off <= 4
    assert met >= 550


def test_outside_the_suite_open_gaps_do_not_grow() -> None:
    # Two gaps an outside attack found (session 16), held where they stand until they are
    # closed, as #16's open part (`bench.smooth.hidden`, `bench.smooth.cancelling`):
    # - 3x + sin(x), #16's own example, is flagged at 1e12 itself, but of 200 random points
    #   in each decade from 1e10 the default answer is over 1e-6 off unflagged at 17, 19,
    #   71, 183 and 200: the step check sees sin(x) only where its 4 values happen to
    #   differ enough, and `errors` is exceeded alike. A tolerance converged on 3 at all of
    #   them until it checked the first answer at smaller steps (`_small_step_disagrees`):
    #   now at 0, 0, 6, 41 and 186 (sin(x) under 16 of f's ulps from 1e14 on);
    # - f that cancels inside near 0, (1 − cos(x))/x² or (x − sin(x))/x³: 21 of 128 default
    #   f' and f'' are over 1e-6 off unflagged, where f's values are far coarser than
    #   eps·|f| (or come out exactly 0) and the ladder's small steps agree on their slope.
    from bench import smooth

    hidden = smooth.hidden()
    ceilings = {10: (17, 1, 0), 11: (19, 12, 0), 12: (71, 108, 6), 13: (183, 198, 41)}
    for decade, ceiling in ceilings.items():
        measured = hidden[decade][1:]
        assert all(a <= b for a, b in zip(measured, ceiling, strict=True)), (decade, measured)
    answers, silent = smooth.cancelling()
    assert answers == 128
    assert silent <= 21


def test_outside_the_suite_least_squares_minima_are_neither_doubted_nor_stalled() -> None:
    # `bench.smooth.minima`: 210 second derivatives and 150 Hessians of least squares at
    # their minima, where f and f' are 0 and users ask for Hessians. Before session 15,
    # 64 f'' and 24 of the first 90 Hessians were flagged `unreliable` while within 1e-6
    # (the ladder's smaller steps were charged no rounding, eps·|f(x)| being 0), and
    # narrowing the step for f's quadratic spread left f'' to 1e-8 converged at 146 of
    # 210. Then an outside attack's residuals of linear forms (the last 60 Hessians): 3
    # more than 1e-6 off unflagged, a mixed term's ladder gone down to exact zeros.
    from bench import smooth

    counts = smooth.minima()
    for name, (answers, terms, exceeded, tenfold, flagged, off, _) in counts.items():
        assert (exceeded <= 0.01 * terms, tenfold, off) == (True, 0, 0), name
        assert flagged <= 0.05 * answers, name
    assert counts["f'' to 1e-08"][6] >= 0.95 * counts["f'' to 1e-08"][0]
    assert counts["Hessian to 1e-08"][6] >= 0.8 * counts["Hessian to 1e-08"][0]
