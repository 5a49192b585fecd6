"""Engine workloads: Nabla against its peers, in one process, on the same inputs.

Each workload has an analytic derivative; every peer reports its median time and its
maximum absolute error against it. Nabla is called as the service calls it: the text goes
through the expression language (`parse(text).bind(...)`), never a hand-written lambda.

Peers: the notebook's Python loop (`bench.notebook`), plain vectorized NumPy central
differences (the notebook's h = 1e-4, and Nabla's automatic step), numdifftools,
scipy.differentiate and `jax.jit(jax.vmap(jax.grad(f)))` in float64. The last three are
optional (`pip install -e ".[bench]"`) and skipped with a message when absent.

    python -m bench.engine [--quick]
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from app import numerics
from app.expressions import parse
from bench import notebook
from bench.timing import Entry, Timing, measure

EPS = float(np.finfo(np.float64).eps)
NABLA = "Nabla"
NABLA_POINTS = "Nabla, explicit points"
NOTEBOOK = "notebook loop (h=1e-4)"
NUMPY_FIXED = "NumPy central (h=1e-4)"
NUMPY_AUTO = "NumPy central (auto step)"
NUMDIFFTOOLS = "numdifftools"
SCIPY = "scipy.differentiate"
JAX = "JAX jit(vmap(grad))"
PEERS = (NOTEBOOK, NUMPY_FIXED, NUMPY_AUTO, NUMDIFFTOOLS, SCIPY, JAX)
REFERENCE_GRID = "reference: 4 × f on the grid"
REFERENCE_POINTS = "reference: 4 × f at the points"


@dataclass
class Workload:
    key: str
    title: str
    inputs: str  # how the points are laid out, for the report
    points: int
    dimension: int
    timings: list[Timing]
    errors: dict[str, float]
    skipped: list[str]

    def time(self, peer: str) -> float | None:
        return next((t.seconds for t in self.timings if t.peer == peer), None)


# ---------------------------------------------------------------- optional peers


@dataclass
class Peers:
    """The optional peers that import here; the others are named in `skipped`."""

    numdifftools: ModuleType | None
    differentiate: ModuleType | None
    jax: Any
    skipped: list[str]

    @classmethod
    def load(cls) -> Peers:
        skipped: list[str] = []
        nd = _optional("numdifftools", skipped)
        differentiate = _optional("scipy.differentiate", skipped)
        jax = _optional("jax", skipped)
        if jax is not None:
            jax.config.update("jax_enable_x64", True)
        return cls(nd, differentiate, jax, skipped)


def _optional(name: str, skipped: list[str]) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        print(f"skipped {name}: {exc} (install the bench extra: pip install -e '.[bench]')")
        skipped.append(name)
        return None


# ---------------------------------------------------------------- plain NumPy peers


def fixed_step(x: np.ndarray) -> float:
    return notebook.H


def automatic_step(x: np.ndarray) -> np.ndarray:
    """Nabla's default: eps^(1/3)·max(|x|, 1), rounded so that (x + h) − x == h exactly."""
    return (x + EPS ** (1 / 3) * np.maximum(np.abs(x), 1.0)) - x


def numpy_central(
    f: Callable[[Sequence[np.ndarray]], np.ndarray],
    rows: Sequence[np.ndarray],
    step: Callable[[np.ndarray], Any],
) -> list[np.ndarray]:
    """(f(x + h·e_j) − f(x − h·e_j)) / 2h for each coordinate j, all points at once."""
    gradient = []
    for j, row in enumerate(rows):
        h = step(row)
        up, down = list(rows), list(rows)
        up[j], down[j] = row + h, row - h
        gradient.append((f(up) - f(down)) / (2 * h))
    return gradient


# ---------------------------------------------------------------- entries per peer


def max_error(estimate: Any, exact: np.ndarray | None) -> float:
    if exact is None:
        return float("nan")
    return float(np.max(np.abs(np.asarray(estimate, dtype=np.float64) - exact)))


def subsample(n: int, cap: int | None) -> np.ndarray:
    """Evenly spread indices of at most `cap` of n points (all of them when cap is None)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.linspace(0, n - 1, cap).round().astype(np.intp)


def notebook_entry(
    f_point: Callable[[np.ndarray], Any], points: np.ndarray, exact: np.ndarray, cap: int | None
) -> Entry:
    """The notebook's loop over points, on all of them or an even subsample scaled up."""
    index = subsample(len(points), cap)
    part = points[index]
    scale = len(points) / len(index)
    note = f"run on {len(index):,} of {len(points):,} points, time × {scale:g}" if scale > 1 else ""
    return Entry(
        NOTEBOOK,
        run=lambda: notebook.numerical_gradient_batch(f_point, part),
        extract=lambda r: r,
        exact=exact[index],
        warmup=lambda: notebook.numerical_gradient_batch(f_point, part[:100]),
        scale=scale,
        note=note,
    )


def numpy_entries(
    f_rows: Callable[[Sequence[np.ndarray]], np.ndarray], points: np.ndarray, exact: np.ndarray
) -> list[Entry]:
    rows = list(np.ascontiguousarray(points.T))

    def extract(r: list[np.ndarray]) -> np.ndarray:
        return np.stack(r, axis=1)

    return [
        Entry(NUMPY_FIXED, lambda: numpy_central(f_rows, rows, fixed_step), extract, exact),
        Entry(NUMPY_AUTO, lambda: numpy_central(f_rows, rows, automatic_step), extract, exact),
    ]


def numdifftools_entry(
    nd: ModuleType, f_array: Callable[[np.ndarray], np.ndarray], points: np.ndarray, exact: Any
) -> Entry:
    """Vectorized: nd.Jacobian on a (d, N) array differentiates N observations at once."""
    columns = np.ascontiguousarray(points.T)
    d = points.shape[1]

    def extract(r: Any) -> np.ndarray:
        return np.asarray(r).reshape(len(points), d)

    if d == 1:
        x = columns[0]
        return Entry(
            NUMDIFFTOOLS,
            lambda: nd.Derivative(f_array)(x),
            extract,
            exact,
            warmup=lambda: nd.Derivative(f_array)(x[:100]),
        )
    return Entry(
        NUMDIFFTOOLS,
        lambda: nd.Jacobian(f_array)(columns),
        extract,
        exact,
        warmup=lambda: nd.Jacobian(f_array)(columns[:, :100]),
    )


def scipy_entry(
    differentiate: ModuleType,
    f_array: Callable[[np.ndarray], np.ndarray],
    points: np.ndarray,
    exact: np.ndarray,
) -> Entry:
    columns = np.ascontiguousarray(points.T)
    if points.shape[1] == 1:
        x = columns[0]
        return Entry(
            SCIPY,
            lambda: differentiate.derivative(f_array, x).df,
            lambda r: r[:, None],
            exact,
            warmup=lambda: differentiate.derivative(f_array, x[:100]),
        )
    return Entry(
        SCIPY,
        lambda: differentiate.jacobian(f_array, columns).df,
        lambda r: r.T,
        exact,
        warmup=lambda: differentiate.jacobian(f_array, columns[:, :100]),
    )


def jax_entry(jax: Any, f_jax: Callable[[Any], Any], points: np.ndarray, exact: Any) -> Entry:
    """Compiled once for this shape (in the warm-up); timed with `block_until_ready`."""
    scalar = points.shape[1] == 1
    gradient = jax.jit(jax.vmap(jax.grad(f_jax)))
    placed = jax.device_put(points[:, 0] if scalar else points)
    jax.block_until_ready(placed)

    def extract(r: Any) -> np.ndarray:
        return np.asarray(r).reshape(points.shape)

    return Entry(JAX, lambda: gradient(placed).block_until_ready(), extract, exact)


# ---------------------------------------------------------------- workloads


@dataclass
class Spec:
    """A workload: the text Nabla parses, and the same function written for each peer."""

    key: str
    title: str
    inputs: str
    text: str
    points: np.ndarray  # (N, d)
    exact: np.ndarray  # (N, d)
    f_point: Callable[[np.ndarray], Any]  # the notebook's style: one point, a (d,) vector
    f_rows: Callable[[Sequence[np.ndarray]], np.ndarray]  # one array per coordinate
    f_array: Callable[[np.ndarray], np.ndarray]  # (d, N) → (N,), or (N,) → (N,) when d = 1
    f_jax: Callable[[Any], Any]  # one point, for jax.grad
    axes: list[np.ndarray] | None = None  # a grid: Nabla also runs gradient_field on it
    notebook_cap: int | None = None  # the notebook loop's subsample, if any


def nabla_entries(spec: Spec) -> list[Entry]:
    expression = parse(spec.text)
    d = spec.points.shape[1]
    if expression.vector_variable is not None:
        f = expression.bind()
    else:
        f = expression.bind(list(expression.variables))
    if d == 1:
        x = spec.points[:, 0]
        g: Callable[[np.ndarray], np.ndarray] = lambda t: f([t])  # noqa: E731
        return [
            Entry(
                NABLA,
                lambda: numerics.derivative(g, x),
                lambda r: r.derivatives[:, None],
                spec.exact,
            )
        ]
    points = Entry(
        NABLA_POINTS if spec.axes is not None else NABLA,
        lambda: numerics.gradient(f, spec.points),
        lambda r: r.gradient,
        spec.exact,
    )
    if spec.axes is None:
        return [points]
    axes = spec.axes
    field = Entry(
        NABLA,
        lambda: numerics.gradient_field(f, axes, with_coordinates=False),
        lambda r: r.gradient.T,
        spec.exact,
    )
    return [field, points, *reference_entries(f, axes, spec.points)]


def reference_entries(
    f: Callable[[Sequence[np.ndarray]], np.ndarray], axes: list[np.ndarray], points: np.ndarray
) -> list[Entry]:
    """Not peers: four bare evaluations of f, the least work any central difference does."""
    grid = numerics.grid_rows(axes)
    rows = list(np.ascontiguousarray(points.T))
    return [
        Entry(REFERENCE_GRID, lambda: [f(grid) for _ in range(4)], lambda r: None, None),
        Entry(REFERENCE_POINTS, lambda: [f(rows) for _ in range(4)], lambda r: None, None),
    ]


def run_workload(spec: Spec, peers: Peers, *, quick: bool) -> Workload:
    print(f"- {spec.title}: {spec.inputs}", flush=True)
    entries = nabla_entries(spec)
    entries.append(notebook_entry(spec.f_point, spec.points, spec.exact, spec.notebook_cap))
    entries += numpy_entries(spec.f_rows, spec.points, spec.exact)
    if peers.numdifftools is not None:
        entries.append(
            numdifftools_entry(peers.numdifftools, spec.f_array, spec.points, spec.exact)
        )
    if peers.differentiate is not None:
        entries.append(scipy_entry(peers.differentiate, spec.f_array, spec.points, spec.exact))
    if peers.jax is not None:
        entries.append(jax_entry(peers.jax, spec.f_jax, spec.points, spec.exact))
    timings = measure(entries, quick=quick)
    errors = {}
    for entry, timing in zip(entries, timings, strict=True):
        errors[entry.peer] = max_error(entry.extract(timing.result), entry.exact)
        timing.result = None  # free the arrays before the next workload
        print(f"    {timing.peer:32s} {timing.seconds:10.4f} s  max error {errors[entry.peer]:.1e}")
    n, d = spec.points.shape
    return Workload(spec.key, spec.title, spec.inputs, n, d, timings, errors, peers.skipped)


def specs(jnp: Any, *, quick: bool) -> list[Spec]:
    """The issue's workloads. `jnp` is jax.numpy, or NumPy when JAX is absent (unused then)."""
    cap = 100_000 if quick else None
    x = np.linspace(0.0, 20.0, 1_000_000)
    t = np.linspace(-5.0, 5.0, 100_000)
    small = np.arange(-2, 2.5, 0.25)
    large = np.linspace(-2.0, 2.0, 1000)
    cloud = np.random.default_rng(0).uniform(-3.0, 3.0, (10_000, 10))
    bump = np.exp(-(t**2) / 10)
    return [
        Spec(
            "poly",
            "f'(x) of 0.01x² + 0.1x",
            "10⁶ points, linspace(0, 20)",
            "0.01*x**2 + 0.1*x",
            x[:, None],
            (0.02 * x + 0.1)[:, None],
            f_point=lambda v: 0.01 * v[0] ** 2 + 0.1 * v[0],
            f_rows=lambda r: 0.01 * r[0] ** 2 + 0.1 * r[0],
            f_array=lambda x: 0.01 * x**2 + 0.1 * x,
            f_jax=lambda x: 0.01 * x**2 + 0.1 * x,
            notebook_cap=cap,
        ),
        Spec(
            "sinexp",
            "f'(x) of sin(x)·exp(−x²/10) + log(1+x²)",
            "10⁵ points, linspace(−5, 5)",
            "sin(x)*exp(-x**2/10) + log(1 + x**2)",
            t[:, None],
            (np.cos(t) * bump - t / 5 * np.sin(t) * bump + 2 * t / (1 + t**2))[:, None],
            f_point=lambda v: np.sin(v[0]) * np.exp(-(v[0] ** 2) / 10) + np.log(1 + v[0] ** 2),
            f_rows=lambda r: np.sin(r[0]) * np.exp(-(r[0] ** 2) / 10) + np.log(1 + r[0] ** 2),
            f_array=lambda x: np.sin(x) * np.exp(-(x**2) / 10) + np.log(1 + x**2),
            f_jax=lambda x: jnp.sin(x) * jnp.exp(-(x**2) / 10) + jnp.log(1 + x**2),
        ),
        grid_spec("grid18", small, "the notebook's 18×18 grid, arange(−2, 2.5, 0.25)", None),
        grid_spec("grid1000", large, "1000×1000 grid, linspace(−2, 2, 1000)", cap),
        Spec(
            "sum10",
            "∇ of sum(sin(x)·x), 10 variables",
            "10⁴ points, uniform(−3, 3), seed 0",
            "sum(sin(x)*x)",
            cloud,
            np.sin(cloud) + cloud * np.cos(cloud),
            f_point=lambda v: np.sum(np.sin(v) * v),
            f_rows=lambda r: sum(np.sin(c) * c for c in r),
            f_array=lambda x: np.sum(np.sin(x) * x, axis=0),
            f_jax=lambda v: jnp.sum(jnp.sin(v) * v),
        ),
    ]


def grid_spec(key: str, axis: np.ndarray, inputs: str, cap: int | None) -> Spec:
    """x0² + x1² on meshgrid(axis, axis) ("xy"), points flattened in Nabla's field order."""
    grid_x, grid_y = np.meshgrid(axis, axis)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    return Spec(
        key,
        f"∇ of x0² + x1², {len(axis)}×{len(axis)}",
        inputs,
        "x0**2 + x1**2",
        points,
        2 * points,
        f_point=notebook.function_2,
        f_rows=lambda r: r[0] ** 2 + r[1] ** 2,
        f_array=lambda x: x[0] ** 2 + x[1] ** 2,
        f_jax=lambda v: v[0] ** 2 + v[1] ** 2,
        axes=[axis, axis],
        notebook_cap=cap,
    )


def run(*, quick: bool = False) -> list[Workload]:
    peers = Peers.load()
    jnp = peers.jax.numpy if peers.jax is not None else np
    with one_blas_thread():
        return [run_workload(spec, peers, quick=quick) for spec in specs(jnp, quick=quick)]


def one_blas_thread() -> AbstractContextManager[Any]:
    """BLAS on one thread: none of the workloads multiplies matrices, but after scipy's small
    BLAS calls OpenBLAS's idle threads spin for a while and take the second core from
    whichever peer runs next."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: BLAS threads are not limited")
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, loop subsampled")
    run(quick=parser.parse_args().quick)


if __name__ == "__main__":
    main()
