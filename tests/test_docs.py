"""The README tells the truth about what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def table_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `(NABLA_[A-Z_]+)` \| ([^|]+) \|", README, flags=re.MULTILINE)
    return {name: default.strip().strip("`") for name, default in rows}


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_in_the_readme_table_with_its_default(name: str) -> None:
    field = Settings.model_fields[name]
    default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    rows = table_rows()
    assert f"NABLA_{name.upper()}" in rows
    shown = rows[f"NABLA_{name.upper()}"]
    expected = "[]" if default == [] else str(default)
    assert shown == expected


def test_the_readme_table_lists_no_setting_that_does_not_exist() -> None:
    known = {f"NABLA_{n.upper()}" for n in Settings.model_fields}
    assert set(table_rows()) <= known


def test_quick_start_is_exactly_two_make_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script
    assert "|| true" not in script


@pytest.mark.parametrize("target", ["run", "test", "openapi", "bench", "load", "e2e", "vendor"])
def test_every_make_target_the_readme_names_exists(target: str) -> None:
    if f"make {target}" not in README:
        pytest.fail(f"README does not mention make {target}")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"no `{target}` target"


def curl_examples() -> list[tuple[str, dict[str, object], dict[str, object]]]:
    """(path, request, response) of every `curl` in "Try it" that shows its output."""
    section = README.split("## Try it", 1)[1].split("```", 2)[1]
    examples = []
    for block in section.split("curl -s ")[1:]:
        path = "/" + block.split("/", 1)[1].split(" ", 1)[0]
        data = block.split("-d '", 1)[1].split("'", 1)[0]
        shown = [line[1:].strip() for line in block.splitlines() if line.startswith("#")]
        if shown:
            examples.append((path, json.loads(data), json.loads("".join(shown))))
    return examples


@pytest.mark.parametrize(("path", "request_body", "response"), curl_examples())
def test_the_readme_curl_examples_show_what_the_service_answers(
    client: TestClient, path: str, request_body: dict[str, object], response: dict[str, object]
) -> None:
    r = client.post(path, json=request_body)
    assert r.status_code == 200, r.text
    assert r.json() == response


def test_the_readme_shows_at_least_two_curl_outputs() -> None:
    assert len(curl_examples()) >= 2
