# Every target creates or updates .venv itself: `make run` and `make test` need nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
LOCK := requirements.lock

.PHONY: run test lint typecheck pytest openapi lock bench accuracy load e2e clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime dependencies come from the lock, as in the Docker image: the same versions, checked
# against the same hashes. The project itself is installed editable, without dependencies.
# The stamp files re-run pip whenever pyproject.toml or the lock changes.
$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --requirement $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

# The dev tools are not locked, but the runtime dependencies stay at the locked versions: pip
# fails rather than move one. pip refuses hashes in a constraints file without hashing
# everything else, so the constraints are the lock's pins without them.
$(VENV)/constraints.txt: $(LOCK) | $(BIN)/python
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' $(LOCK) > $@

$(VENV)/.installed-dev: $(VENV)/.installed $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --constraint $(VENV)/constraints.txt --editable ".[dev]"
	touch $@

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

# requirements.lock: the runtime dependencies of pyproject.toml resolved for the image's
# platform (CPython 3.11 on x86-64 Linux), with hashes. Run it after editing the dependencies;
# it keeps the locked versions that still fit. `make lock LOCK_FLAGS=--upgrade` takes the newest.
LOCK_FLAGS ?=
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv>=0.13,<0.14"
	$(BIN)/uv pip compile pyproject.toml --quiet --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_FLAGS) --output-file $(LOCK)

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet --constraint $(VENV)/constraints.txt --editable ".[dev,bench]"
	touch $@

# Engine and HTTP workloads against their peers (about 5 minutes); writes docs/benchmarks.md.
# Then the vector-calculus engine's times and accuracy (about 30 s; docs/vector-calculus.md).
bench: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.vector

# The accuracy suite against numdifftools, scipy.differentiate and h = 1e-4 (about 5 s); writes
# bench/accuracy/summary.json and docs/accuracy.md (`make test` checks both against the engine).
accuracy: $(VENV)/.installed-bench
	$(BIN)/python -m bench.accuracy

# wrk for 30 s at 64 connections against `python -m app` with 2 workers on loopback; fails on
# any error or RSS growth. Then each endpoint's most expensive request from 64 and 500
# connections (about 2 minutes): fails on a socket error, /health over a second or memory
# over the budget. Both write their numbers into docs/reliability.md.
load: $(VENV)/.installed
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python scripts/load.py
	$(BIN)/python scripts/stress.py

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
