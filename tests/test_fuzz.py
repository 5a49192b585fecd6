"""Schemathesis over every operation: no 5xx, and every response matches the committed schema.

`call_and_validate` runs schemathesis's default checks, among them `not_a_server_error`,
`status_code_conformance`, `content_type_conformance`, `response_schema_conformance`,
`negative_data_rejection`, `positive_data_acceptance` and `unsupported_method`. The
documented 4xx semantics they rely on are in `schemathesis.toml`.

Generated expressions are almost never in the grammar, so most generated requests stop at
a 422; the second test swaps in real expressions so that the numerics run on
schema-generated points, grids, steps and options.

Random generation rarely lands on the edges of the floating-point range, where the 500s
were (a step of 1e-200 for a second derivative, 33 grid axes), so the tests after those
run the whole product of the options at their extremes instead.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.main import create_app
from app.processes import shared_pool

ROOT = Path(__file__).resolve().parent.parent
CONFIG = schemathesis.Config.from_path(str(ROOT / "schemathesis.toml"))
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings()), config=CONFIG)

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

ONE_VARIABLE = ["sin(x)", "x**3 - 2*x", "exp(x)", "log(x)", "sqrt(abs(x)) + 1", "tanh(x)/x"]
# A vector variable fits points of any dimension, so schema-generated points are usable.
VECTOR = ["sum(x**2)", "sum(sin(x)) + x[0]", "exp(-sum(x**2))", "sum(abs(x))"]
# Fields of which a request takes exactly one; the schema cannot say so.
ONE_OF = {"/derivative": ("points", "range"), "/gradient": ("point", "points")}
ONE_OF["/hessian"] = ONE_OF["/gradient"]
ONE_OF["/directional-derivative"] = ONE_OF["/jacobian"] = ONE_OF["/gradient"]
# /jacobian and /vector-field take a list of `expressions`.
SEVERAL = {"/jacobian", "/vector-field"}
EXPRESSIONS = {
    "/derivative": ONE_VARIABLE,
    "/step-study": ONE_VARIABLE,
    "/gradient": VECTOR,
    "/gradient-field": VECTOR,
    "/hessian": VECTOR,
    "/descent": VECTOR,
    "/directional-derivative": VECTOR,
    "/jacobian": VECTOR,
    "/vector-field": VECTOR,
}


def compute_processes_settled() -> None:
    """In process, the compute processes are shared by every app the tests build, and one
    whose lifespan ends stops them: the next starts them again, and /ready is a documented
    503 `starting` for about a second. Schemathesis counts any 5xx as a server error, so
    /ready is fuzzed once they have settled."""
    pool = shared_pool(0)
    deadline = time.monotonic() + 30
    while pool.starting and time.monotonic() < deadline:
        time.sleep(0.05)


@schema.parametrize()
@FUZZ
def test_every_operation_answers_within_its_schema(case: schemathesis.Case) -> None:
    if case.path == "/ready":
        compute_processes_settled()
    case.call_and_validate()


@pytest.mark.parametrize("path", list(EXPRESSIONS))
@FUZZ
@given(data=st.data())
def test_schema_valid_bodies_with_real_expressions_answer_within_the_schema(
    path: str, data: st.DataObject
) -> None:
    case = data.draw(schema[path]["POST"].as_strategy())
    assert isinstance(case.body, dict), case.body
    expression = data.draw(st.sampled_from(EXPRESSIONS[path]))
    if path in SEVERAL:
        case.body["expressions"] = [expression] * data.draw(st.integers(1, 3))
    else:
        case.body["expression"] = expression
    for name in ("variable", "variables", "parameters"):
        case.body.pop(name, None)
    pair = ONE_OF.get(path, ())
    if pair and all(name in case.body for name in pair):
        case.body.pop(data.draw(st.sampled_from(pair)))
    case.call_and_validate()


# ---------------------------------------------------------------- options at their extremes
#
# Every combination of the numerical options, at steps from the smallest subnormal to the
# largest float, through each of the engine's paths (a point or two in Python floats, up to
# 64 point-coordinates in one call of f, blocks beyond). No 5xx; every answer is JSON; a
# 200 holds only finite numbers (non-finite ones are written as null); a 4xx has a detail.

LARGEST = 1.7976931348623157e308
STEPS = [
    None,  # automatic
    5e-324,  # the smallest subnormal
    1e-310,
    2.2250738585072014e-308,  # the smallest normal float
    1e-200,  # h² is 0 (the 500 of issue 14)
    1e-160,  # h² is subnormal
    1.1e-154,  # a second derivative's smallest steps are 1.05e-154 to 9.5e-154
    1e-8,
    1.0,
    1e300,
    LARGEST,
]
METHODS = ["central", "forward", "backward", "complex"]
ACCURACIES = [1, 2, 4, 6, 8]
EXTREME_X = [0.0, 1.0, -2.5, 5e-324, 1e-300, 1e300, -LARGEST]
# One point runs in Python floats, six in one call of f, seventy in NumPy blocks.
POINTS = {"one": [1.0], "few": EXTREME_X[:6], "many": EXTREME_X * 10}
ANALYTIC = "sin(x) + x**3/3 + exp(-x**2)"


def step_id(step: float | None) -> str:
    return "auto-step" if step is None else f"step={step:.3g}"


def options(*, order: bool) -> list[Any]:
    """(method, accuracy, order, step) for every combination, with readable ids."""
    return [
        pytest.param(method, accuracy, d, step, id=f"{method}-a{accuracy}-d{d}-{step_id(step)}")
        for method in METHODS
        for accuracy in ACCURACIES
        for d in ((1, 2) if order else (1,))
        for step in STEPS
    ]


def refuse_constant(name: str) -> float:
    raise AssertionError(f"{name} is not JSON")


def numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


def assert_sound(r: httpx.Response) -> None:
    """No 5xx, JSON (no NaN or Infinity literals), finite numbers in a 200, a detail in a 4xx."""
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    body = json.loads(r.text, parse_constant=refuse_constant)
    if r.status_code == 200:
        assert all(math.isfinite(n) for n in numbers(body)), r.text
    else:
        assert r.status_code in (413, 422), r.text
        assert isinstance(body["detail"], str), body
        assert body["detail"], body


def with_step(body: dict[str, Any], step: float | None) -> dict[str, Any]:
    return body if step is None else body | {"step": step}


@pytest.mark.parametrize("points", list(POINTS))
@pytest.mark.parametrize("extras", ["plain", "errors", "exact", "errors-exact"])
@pytest.mark.parametrize(("method", "accuracy", "order", "step"), options(order=True))
def test_derivative_options_at_their_extremes_never_answer_5xx(
    client: TestClient,
    method: str,
    accuracy: int,
    order: int,
    step: float | None,
    extras: str,
    points: str,
) -> None:
    body = {"expression": ANALYTIC, "points": POINTS[points], "method": method}
    body |= {"accuracy": accuracy, "order": order}
    body |= {"error_estimate": "errors" in extras, "exact": "exact" in extras}
    assert_sound(client.post("/derivative", json=with_step(body, step)))


@pytest.mark.parametrize("points", list(POINTS))
@pytest.mark.parametrize("error_estimate", [False, True], ids=["plain", "errors"])
@pytest.mark.parametrize(("method", "accuracy", "order", "step"), options(order=False))
def test_gradient_options_at_their_extremes_never_answer_5xx(
    client: TestClient,
    method: str,
    accuracy: int,
    order: int,
    step: float | None,
    error_estimate: bool,
    points: str,
) -> None:
    # Two coordinates: one point is 2 point-coordinates (floats), "few" 12, "many" 140.
    rows = [[x, -x / 2] for x in POINTS[points]]
    body = {"expression": "x0*sin(x1) + x1**2", "method": method, "accuracy": accuracy}
    body |= {"error_estimate": error_estimate}
    body |= {"point": rows[0]} if points == "one" else {"points": rows}
    assert_sound(client.post("/gradient", json=with_step(body, step)))


GRIDS = {
    "unit": [{"start": -1, "stop": 1, "num": 3}, {"start": 0, "stop": 1, "step": 0.5}],
    "extreme": [
        {"start": 0, "stop": LARGEST, "num": 3},
        {"start": -1e300, "stop": 1e300, "num": 2},
    ],
}


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("error_estimate", [False, True], ids=["plain", "errors"])
@pytest.mark.parametrize(("method", "accuracy", "order", "step"), options(order=False))
def test_gradient_field_options_at_their_extremes_never_answer_5xx(
    client: TestClient,
    method: str,
    accuracy: int,
    order: int,
    step: float | None,
    error_estimate: bool,
    grid: str,
    precision: str,
) -> None:
    body = {"expression": "x0*sin(x1) + x1**2", "grid": GRIDS[grid], "method": method}
    body |= {"accuracy": accuracy, "error_estimate": error_estimate, "precision": precision}
    assert_sound(client.post("/gradient-field", json=with_step(body, step)))


@pytest.mark.parametrize("learning_rate", [1e-3, LARGEST], ids=["small-rate", "largest-rate"])
@pytest.mark.parametrize(("method", "accuracy", "order", "step"), options(order=False))
def test_descent_options_at_their_extremes_never_answer_5xx(
    client: TestClient,
    method: str,
    accuracy: int,
    order: int,
    step: float | None,
    learning_rate: float,
) -> None:
    body = {"expression": "x0**2 + sin(x1)", "init": [1e300, -2.5], "steps": 3}
    body |= {"method": method, "accuracy": accuracy, "learning_rate": learning_rate}
    assert_sound(client.post("/descent", json=with_step(body, step)))


@pytest.mark.parametrize("points", list(POINTS))
@pytest.mark.parametrize("step", [pytest.param(s, id=step_id(s)) for s in STEPS])
def test_hessian_steps_at_their_extremes_never_answer_5xx(
    client: TestClient, step: float | None, points: str
) -> None:
    rows = [[x, -x / 2] for x in POINTS[points]]
    body: dict[str, Any] = {"expression": "x0**2*x1 + sin(x1)"}
    body |= {"point": rows[0]} if points == "one" else {"points": rows}
    assert_sound(client.post("/hessian", json=with_step(body, step)))


STUDY_STEPS = [pytest.param([s], id=step_id(s)) for s in STEPS if s is not None]
STUDY_STEPS.append(pytest.param([s for s in STEPS if s is not None], id="all-steps"))


@pytest.mark.parametrize("point", EXTREME_X, ids=[f"x={x:.3g}" for x in EXTREME_X])
@pytest.mark.parametrize("expression", [ANALYTIC, "abs(x) + sqrt(abs(x))"], ids=["analytic", "abs"])
@pytest.mark.parametrize("steps", STUDY_STEPS)
def test_step_study_steps_at_their_extremes_never_answer_5xx(
    client: TestClient, steps: list[float], expression: str, point: float
) -> None:
    body = {"expression": expression, "point": point, "steps": steps}
    assert_sound(client.post("/step-study", json=body))


COUNTS = [1, 2, 31, 32, 33, 63, 64, 65, 400, 1000, 1001]


@pytest.mark.parametrize("axes", COUNTS, ids=[f"{n}-axes" for n in COUNTS])
def test_gradient_field_of_any_number_of_axes_never_answers_5xx(
    client: TestClient, axes: int
) -> None:
    two, one = {"start": 0.5, "stop": 1, "num": 2}, {"start": 0, "stop": 1, "num": 1}
    grid = [two] * min(axes, 2) + [one] * max(axes - 2, 0)
    r = client.post("/gradient-field", json={"expression": "sum(x**2)", "grid": grid})
    assert_sound(r)
    assert r.status_code == (200 if axes <= 32 else 413), r.text


@pytest.mark.parametrize("path", ["/gradient", "/hessian", "/descent"])
@pytest.mark.parametrize("coordinates", COUNTS, ids=[f"{n}-coordinates" for n in COUNTS])
def test_points_of_any_number_of_coordinates_never_answer_5xx(
    client: TestClient, path: str, coordinates: int
) -> None:
    point = [0.5] * coordinates
    body = {"init": point, "steps": 2} if path == "/descent" else {"point": point}
    assert_sound(client.post(path, json={"expression": "sum(x**3)"} | body))
