"""Draw the notebook's figures from a running Nabla API, as PNG files.

    pip install -e '.[examples]'               # httpx and matplotlib
    make run                                   # in another terminal
    python examples/notebook_figures.py [DIR] [--url http://host:port]

Writes, to DIR (default: a new `nabla-figures-*` directory in the current one; the
README's pictures in `examples/figures/` are made with `examples/figures` as DIR):

- `tangents.png`: f(x) = 0.01x² + 0.1x on arange(0, 20, 0.1) with its tangents at 5 and 10;
- `gradient_field.png`: the quiver of −∇f for f = x0² + x1² on the 18×18 grid
  arange(−2, 2.5, 0.25), as in the notebook;
- `step_study.png`: the error of each difference formula against the exact derivative of
  exp at 1, over steps 1e-1 … 1e-16 (the V: why h = 1e-50 fails and h ≈ 1e-5 works).

Every number comes from the API; matplotlib only draws (`pip install -e '.[examples]'`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LOG_FLOOR = 1e-17  # a log axis has no 0: exact estimates are drawn here
GRID = {"start": -2, "stop": 2.5, "step": 0.25}


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    if response.is_error:
        raise SystemExit(f"POST {path} failed ({response.status_code}): {response.text}")
    result: dict[str, Any] = response.json()
    return result


def floats(values: list[float | None]) -> np.ndarray:
    """The API sends `null` where a result is not finite; NaN leaves a gap in a plot."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)  # Agg: no screen needed
    figure.savefig(path, dpi=120)
    return path


def tangents(client: httpx.Client, out: Path) -> Path:
    expression = "0.01*x**2 + 0.1*x"
    axis = {"start": 0, "stop": 20, "step": 0.1}
    curve = post(client, "/derivative", {"expression": expression, "range": axis})
    touch = post(client, "/derivative", {"expression": expression, "points": [5, 10]})
    x = floats(curve["points"])
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(x, floats(curve["values"]), label="f(x) = 0.01x² + 0.1x")
    for a, slope, intercept in zip(
        touch["points"], touch["derivatives"], touch["intercepts"], strict=True
    ):
        axes.plot(x, slope * x + intercept, "--", label=f"tangent at {a:g} (slope {slope:.4g})")
    axes.set(xlabel="x", ylabel="f(x)")
    axes.legend()
    return save(figure, out / "tangents.png")


def gradient_field(client: httpx.Client, out: Path) -> Path:
    field = post(client, "/gradient-field", {"expression": "x0**2 + x1**2", "grid": [GRID, GRID]})
    x0, x1 = (floats(c) for c in field["coordinates"])
    g0, g1 = (floats(g) for g in field["gradient"])
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.add_subplot()
    axes.quiver(x0, x1, -g0, -g1, angles="xy", color="#666666")
    axes.set(xlim=(-2, 2), ylim=(-2, 2), xlabel="x0", ylabel="x1", title="−∇f for f = x0² + x1²")
    axes.grid()
    return save(figure, out / "gradient_field.png")


def step_study(client: httpx.Client, out: Path) -> Path:
    study = post(client, "/step-study", {"expression": "exp(x)", "point": 1})
    steps = floats(study["steps"])
    figure = Figure(figsize=(6.4, 5.2), layout="constrained")
    axes = figure.add_subplot()
    for method, errors in study["errors"].items():
        plot_errors(axes, method, steps, floats(errors))
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="step h",
        ylabel="|estimate − exact|",
        title=f"f = exp(x) at x = 1; exact derivative {study['derivative']}",
    )
    axes.grid(which="major", alpha=0.4)
    figure.legend(loc="outside lower center", ncols=2, fontsize="small")
    return save(figure, out / "step_study.png")


def plot_errors(axes: Axes, method: str, steps: np.ndarray, errors: np.ndarray) -> None:
    zero = errors < LOG_FLOOR  # NaN compares False: nulls stay gaps
    label = f"{method} ({zero.sum()} errors of 0 drawn at 1e-17)" if zero.any() else method
    axes.plot(steps, np.where(zero, LOG_FLOOR, errors), "o-", markersize=4, label=label)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", nargs="?", type=Path, help="where to write (default: a new directory here)"
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API's base URL")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="nabla-figures-", dir="."))
    out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=args.url, timeout=30.0) as client:
        for draw in (tangents, gradient_field, step_study):
            print(draw(client, out))


if __name__ == "__main__":
    main()
