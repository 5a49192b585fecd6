"""The notebook's lessons as data: the step-size study and gradient descent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .core import complex_partial, partial
from .first import _gradient
from .stencils import Array, Function, Method, check_options, stencil


class StepStudy(NamedTuple):
    """Estimates of f'(x) by each classic formula, one per step size."""

    steps: Array
    estimates: dict[str, Array]


def step_study(
    f: Callable[[Array], Array], x: float, steps: Sequence[float], *, analytic: bool
) -> StepStudy:
    """The notebook's lesson as data: forward, backward, central (2-point) and complex step.

    Each formula is evaluated at every step at once. The steps are used exactly as given,
    so 5 + 1e-50 == 5 shows up as a forward estimate of 0. A step below `smallest_step`
    (1/h overflows) gives NaN or ±inf for that formula, not an error as elsewhere: the study
    is there to show where each formula fails, and the other steps still say something.
    """
    h = np.asarray(steps, dtype=np.float64)
    rows = [np.full(h.shape, float(x))]
    g: Function = lambda r: f(r[0])  # noqa: E731
    with np.errstate(all="ignore"):
        center = g(rows)
        estimates = {
            method: partial(g, rows, 0, h, stencil(method, accuracy, 1), center=center)
            for method, accuracy in (("forward", 1), ("backward", 1), ("central", 2))
        }
        if analytic:
            estimates["complex"] = complex_partial(g, rows, 0, h)
    return StepStudy(h, estimates)


class Descent(NamedTuple):
    path: Array  # (iterations + 1, d)
    values: Array  # (iterations + 1,)
    gradient_norms: Array  # (iterations + 1,)
    converged: bool
    iterations: int


def descent(
    f: Function,
    init: Sequence[float],
    *,
    learning_rate: float,
    steps: int,
    tolerance: float | None,
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
) -> Descent:
    """x_{k+1} = x_k − η·∇f(x_k), the book's next section after the notebook's quiver plot.

    Stops early when ‖∇f‖ ≤ `tolerance` (if given), or when the iterate stops being finite
    (a learning rate too large diverges: reported, not raised).
    """
    options = check_options(method, step, accuracy, 1, False)
    x = np.asarray(init, dtype=np.float64)
    path: list[Array] = [x]
    values: list[float] = []
    norms: list[float] = []
    with np.errstate(all="ignore"):
        while True:
            result = _gradient(f, list(x[:, None]), options)
            grad = result.gradient[:, 0]
            values.append(float(result.values[0]))
            norms.append(float(np.sqrt(np.sum(grad * grad))))
            stop = tolerance is not None and norms[-1] <= tolerance
            if stop or len(path) > steps or not np.all(np.isfinite(x)):
                break
            x = x - learning_rate * grad
            path.append(x)
    final = norms[-1]
    limit = 1e-6 if tolerance is None else tolerance
    converged = bool(np.all(np.isfinite(path[-1])) and np.isfinite(final) and final <= limit)
    return Descent(np.array(path), np.array(values), np.array(norms), converged, len(path) - 1)
