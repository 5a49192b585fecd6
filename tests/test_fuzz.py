"""Schemathesis over every operation: no 5xx, and every response matches the committed schema.

`call_and_validate` runs schemathesis's default checks, among them `not_a_server_error`,
`status_code_conformance`, `content_type_conformance`, `response_schema_conformance`,
`negative_data_rejection`, `positive_data_acceptance` and `unsupported_method`. The
documented 4xx semantics they rely on are in `schemathesis.toml`.

Generated expressions are almost never in the grammar, so most generated requests stop at
a 422; the second test swaps in real expressions so that the numerics run on
schema-generated points, grids, steps and options.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.main import create_app

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
EXPRESSIONS = {
    "/derivative": ONE_VARIABLE,
    "/step-study": ONE_VARIABLE,
    "/gradient": VECTOR,
    "/gradient-field": VECTOR,
    "/hessian": VECTOR,
    "/descent": VECTOR,
}


@schema.parametrize()
@FUZZ
def test_every_operation_answers_within_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()


@pytest.mark.parametrize("path", list(EXPRESSIONS))
@FUZZ
@given(data=st.data())
def test_schema_valid_bodies_with_real_expressions_answer_within_the_schema(
    path: str, data: st.DataObject
) -> None:
    case = data.draw(schema[path]["POST"].as_strategy())
    assert isinstance(case.body, dict), case.body
    case.body["expression"] = data.draw(st.sampled_from(EXPRESSIONS[path]))
    for name in ("variable", "variables", "parameters"):
        case.body.pop(name, None)
    pair = ONE_OF.get(path, ())
    if pair and all(name in case.body for name in pair):
        case.body.pop(data.draw(st.sampled_from(pair)))
    case.call_and_validate()
