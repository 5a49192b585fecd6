"""The catalogue of mistakes (tests/data/mistakes.jsonl), sent to a real server.

Each line is a request as people really write it (calculators, Wolfram Alpha, mathjs, LaTeX,
spreadsheets, MATLAB, the notebook's own code) with the status it must get and the words its
message must contain. Every refusal is one sentence that names the field or the column and
says what to write instead, in the user's terms: no pydantic location (`range.arange`), no
phrase of Python's parser, no name of one of our types.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import httpx
import pytest
from conftest import ROOT, Server
from pydantic import BaseModel

import app.errors
import app.expressions
import app.schemas
from app.routes import ERRORS

CATALOGUE = ROOT / "tests" / "data" / "mistakes.jsonl"

# What the client must never read: Python's parser, pydantic's words and locations, HTTP's
# bare reason phrases.
LEAKS = [
    "invalid syntax",
    "invalid decimal literal",
    "was never closed",
    "unmatched",
    "Perhaps you forgot",
    "Maybe you meant",
    "unexpected EOF",
    "cannot assign",
    "unterminated",
    "Input should",
    "extra inputs",
    "Field required",
    "alue error",
    "instance of",
    "Method Not Allowed",
    "Not Found",
    "arange",
    "linspace",
    "Traceback",
]


def _our_type_names() -> set[str]:
    modules = [app.schemas, app.errors, app.expressions]
    names = {
        name
        for module in modules
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__.startswith("app")
    }
    names |= {m.__name__ for m in vars(app.schemas).values() if _is_model(m)}
    return names


def _is_model(value: Any) -> bool:
    return inspect.isclass(value) and issubclass(value, BaseModel)


TYPE_NAMES = _our_type_names()


def _cases() -> list[Any]:
    lines = CATALOGUE.read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]
    return [pytest.param(case, id=case["id"]) for case in cases]


CASES = _cases()


def send(server: Server, case: dict[str, Any]) -> httpx.Response:
    headers = {"Content-Type": case.get("content_type", "application/json")}
    if "raw" in case:
        content = case["raw"].encode()
    elif "body" in case:
        content = json.dumps(case["body"]).encode()
    else:
        content, headers = b"", {}
    url = f"{server.url}{case['path']}"
    return httpx.request(case["method"], url, content=content, headers=headers, timeout=30)


def test_the_catalogue_has_at_least_80_cases_with_distinct_ids() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 80
    assert len(set(ids)) == len(ids)


def test_the_catalogue_sees_every_type_name_it_checks_for() -> None:
    assert {"DerivativeRequest", "Arange", "Linspace", "ExpressionError", "BinOp"} <= TYPE_NAMES


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_each_mistake_gets_its_status_and_a_message_with_the_fix(
    server: Server, case: dict[str, Any]
) -> None:
    r = send(server, case)
    assert r.status_code == case["status"], r.text
    if case["method"] == "HEAD":
        return
    body = r.json()
    if r.status_code < 400:
        for key, value in case.get("json_has", {}).items():
            assert body[key] == pytest.approx(value)
        return
    detail = body["detail"]
    for words in case["contains"]:
        assert words in detail, detail
    if "allow" in case:
        assert r.headers["allow"] == case["allow"]
    assert_one_sentence_with_the_fix(detail)


def assert_one_sentence_with_the_fix(detail: str, *, names_a_field: bool = True) -> None:
    assert detail.endswith((".", "?")), detail
    assert re.search(r"[.?!]\s+[A-Z]", detail) is None, f"more than one sentence: {detail}"
    if names_a_field:
        assert "column" in detail or "`" in detail, f"names no field or column: {detail}"
    leaks = [phrase for phrase in LEAKS if phrase in detail]
    assert leaks == [], detail
    words = set(re.findall(r"[A-Za-z_]\w*", detail))
    assert words & TYPE_NAMES == set(), detail


@pytest.mark.parametrize(
    ("status", "name", "request_"),
    [
        pytest.param(422, "expression", ("/derivative", {"expression": "2x", "points": [1]})),
        pytest.param(422, "function", ("/derivative", {"expression": "sni(x)", "points": [1]})),
        pytest.param(422, "field", ("/derivative", {"expression": "x", "points": [1], "h": 0.1})),
    ],
)
def test_the_documented_error_examples_are_the_servers_own_answers(
    client: Any, status: int, name: str, request_: tuple[str, dict[str, Any]]
) -> None:
    path, body = request_
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    example = ERRORS[status]["content"]["application/json"]["examples"][name]["value"]
    assert r.json() == example


def test_each_error_status_documents_its_own_examples(client: Any) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/derivative"]["post"]
    for status in ("413", "415", "422", "503"):
        examples = operation["responses"][status]["content"]["application/json"]["examples"]
        kinds = {example["value"]["type"] for example in examples.values()}
        assert kinds, status
        for example in examples.values():  # a 503 is the server's state, not a mistake
            assert_one_sentence_with_the_fix(
                example["value"]["detail"], names_a_field=status != "503"
            )
    assert "too_large" in _kinds(operation, "413")
    assert "invalid_expression" in _kinds(operation, "422")
    assert _kinds(operation, "503") == {"overloaded"}


def _kinds(operation: dict[str, Any], status: str) -> set[str]:
    examples = operation["responses"][status]["content"]["application/json"]["examples"]
    return {example["value"]["type"] for example in examples.values()}
