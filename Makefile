# Every target creates or updates .venv itself: `make run` and `make test` need nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest openapi bench load e2e clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files re-run pip whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $@ $(VENV)/.installed

# uvicorn on app.main:app; NABLA_WORKERS=4 make run for four worker processes.
run: $(VENV)/.installed
	$(BIN)/python -m app --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

test: lint typecheck pytest

openapi: $(VENV)/.installed-dev
	$(BIN)/python scripts/export_openapi.py > openapi.yaml

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[dev,bench]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

# Engine and HTTP workloads against their peers (about 5 minutes); writes docs/benchmarks.md.
bench: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench.run

# wrk for 30 s at 64 connections against `python -m app` with 2 workers on loopback; fails on
# any error or RSS growth, and writes the numbers into docs/reliability.md.
load: $(VENV)/.installed
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python scripts/load.py

# The browser tests of the demo page and the offline docs, in the Chromium of Debian (installed
# here if missing: Playwright never downloads a browser); screenshots in test-artifacts/.
e2e: $(VENV)/.installed-dev
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)
	$(BIN)/pytest tests/test_pages.py -v

# Re-fetch the pinned Plotly, Swagger UI and ReDoc from npm into app/static/vendor/.
.PHONY: vendor
vendor:
	scripts/vendor_assets.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
