"""This tree's engine against another commit's, in one process, on the engine workloads.

    python -m bench.against 5e651f6      # any commit, tag or branch git knows

Loads the engine as it was at that commit (`git show`: `app/numerics.py`, or the package
`app/numerics/` since it was split) under a name of its own, and
times Nabla's entry of each workload of bench.engine with both engines: `derivative`,
`gradient` or `gradient_field`, called through this tree's expression language as the
service calls it. Interleaved rounds (bench.timing), medians, and the ratio: what a change
to the engine costs or buys, measured side by side rather than across runs an hour apart
on a machine whose load drifts.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from app import numerics
from app.expressions import parse
from bench.engine import Spec, one_blas_thread, specs
from bench.timing import Entry, measure


def engine_at(commit: str, folder: Path) -> ModuleType:
    """`app/numerics.py` as it was at `commit`, or the package `app/numerics/` (whose
    modules import each other relatively), imported under a name of its own."""
    files = _git("ls-tree", "--name-only", f"{commit}:app/numerics/", check=False)
    if files is None:  # one module then
        path = folder / "numerics_then.py"
        path.write_text(_git("show", f"{commit}:app/numerics.py") or "")
    else:
        package = folder / "numerics_then"
        package.mkdir()
        for name in files.split():
            (package / name).write_text(_git("show", f"{commit}:app/numerics/{name}") or "")
        path = package / "__init__.py"
    spec = importlib.util.spec_from_file_location("numerics_then", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["numerics_then"] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def _git(*args: str, check: bool = True) -> str | None:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if check:
            raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
        return None
    return done.stdout


def entry(spec: Spec, engine: ModuleType, label: str) -> Entry:
    expression = parse(spec.text)
    f = (
        expression.bind()
        if expression.vector_variable
        else expression.bind(list(expression.variables))
    )
    run: Callable[[], Any]
    if spec.points.shape[1] == 1:
        x = spec.points[:, 0]
        run = lambda: engine.derivative(lambda t: f([t]), x)  # noqa: E731
    elif spec.axes is not None:
        axes = spec.axes
        run = lambda: engine.gradient_field(f, axes, with_coordinates=False)  # noqa: E731
    else:
        run = lambda: engine.gradient(f, spec.points)  # noqa: E731
    return Entry(label, run, lambda r: None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the engine to compare with (commit, tag or branch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, one_blas_thread():
        then = engine_at(args.commit, Path(folder))
        print(f"{'workload':44} {args.commit[:12]:>12} {'this tree':>12} {'ratio':>7}")
        for spec in specs(np, quick=False):
            before, now = measure([entry(spec, then, "then"), entry(spec, numerics, "now")])
            print(
                f"{spec.title[:44]:44} {before.seconds * 1e3:9.2f} ms {now.seconds * 1e3:9.2f} ms "
                f"{now.seconds / before.seconds:6.2f}×"
            )


if __name__ == "__main__":
    main()
