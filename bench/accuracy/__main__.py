"""python -m bench.accuracy [--build]: see the package docstring."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from . import cases as store
from .catalog import all_cases
from .oracle import exact_values
from .report import DOCS, render
from .suite import NABLA, PEERS, run, summary

SUMMARY = Path(__file__).with_name("summary.json")


def build() -> None:
    """Exact values for every case of the catalog, into cases.jsonl."""
    start = time.perf_counter()
    built = [c.with_exact(exact_values(c)) for c in all_cases()]
    store.save(built)
    print(f"{len(built)} cases with exact values in {time.perf_counter() - start:.0f} s")


def check_peers() -> None:
    missing = [p for p in ("numdifftools", "scipy") if importlib.util.find_spec(p) is None]
    if missing:
        sys.exit(
            f"{', '.join(missing)} missing: install the bench extras (pip install -e '.[bench]')."
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy")
    parser.add_argument("--build", action="store_true", help="recompute cases.jsonl first")
    args = parser.parse_args()
    check_peers()
    if args.build:
        build()
    cases = store.load()
    start = time.perf_counter()
    outcomes, seconds = run(cases, NABLA + PEERS)
    result = summary(cases, outcomes, NABLA + PEERS) | {"seconds": seconds}
    SUMMARY.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    DOCS.write_text(render(result))
    print(f"{len(cases)} cases in {time.perf_counter() - start:.0f} s; wrote {SUMMARY} and {DOCS}")


if __name__ == "__main__":
    main()
