"""The committed openapi.yaml is generated from the app, never hand-edited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.main import create_app

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"
REGENERATE = "openapi.yaml is stale; regenerate it with `make openapi` and commit it."


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    # A JSON round trip gives the same plain types YAML loads (tuples → lists).
    return json.loads(json.dumps(create_app().openapi()))


def test_committed_spec_equals_the_generated_one(generated: dict[str, Any]) -> None:
    committed = yaml.safe_load(SPEC.read_text())
    assert committed == generated, REGENERATE


@pytest.mark.parametrize("path", ["/derivative", "/gradient", "/gradient-field"])
def test_every_compute_route_documents_its_errors(generated: dict[str, Any], path: str) -> None:
    operation = generated["paths"][path]["post"]
    assert operation["summary"]
    assert {"413", "415", "422"} <= set(operation["responses"])


def test_every_request_field_has_a_description(generated: dict[str, Any]) -> None:
    schemas = generated["components"]["schemas"]
    undocumented = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        if name.endswith("Request") or name in {"Arange", "Linspace"}
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []


def test_non_finite_results_are_documented_as_nullable(generated: dict[str, Any]) -> None:
    derivatives = generated["components"]["schemas"]["DerivativeResponse"]["properties"][
        "derivatives"
    ]
    assert {"type": "null"} in derivatives["items"]["anyOf"]


def test_every_field_has_an_example(generated: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}"
        for name, schema in generated["components"]["schemas"].items()
        if not name.startswith(("HTTPValidationError", "ValidationError"))
        for field, prop in schema.get("properties", {}).items()
        if "examples" not in prop
    ]
    assert missing == []
