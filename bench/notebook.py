"""The notebook's finite differences (../shared/seed), as it meant them, bugs fixed.

The notebook's Python loop is the baseline Nabla replaces. Fixed here:

- `numerical_gradient_batch` called `_numerical_gradient_no_batch`, which the notebook never
  defines; a single point now goes to `numerical_gradient`.
- The quiver cell passed `np.array([X, Y])`, shape (2, N): the loop then differentiated two
  N-variable functions instead of N two-variable ones, right only by the coincidence that
  `function_2` sums squares. Points are rows here: (N, d).
- `numerical_gradient` wrote x ± h into the caller's array (and truncated it for an integer
  array, whose `zeros_like` gradient was integer too); it now works on a float copy.
- `tangent_line` was plotted with `func_t`, but the function is `funct_t`.

Everything else is the notebook's: the fixed step h = 1e-4 and one call of f per stencil
point per coordinate per point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

H = 1e-4  # the notebook's step


def numerical_diff(f: Callable[[Any], Any], x: Any) -> Any:
    """Central difference with the notebook's fixed step (works on arrays as it stands)."""
    return (f(x + H) - f(x - H)) / (2 * H)


def funct_t(x: Any) -> Any:
    return 0.01 * x**2 + 0.1 * x


def function_2(x: np.ndarray) -> Any:
    if x.ndim == 1:
        return np.sum(x**2)
    return np.sum(x**2, axis=1)


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    """∇f at one point, one coordinate at a time: 2·d calls of f."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in range(x.size):
        tmp = x[idx]
        x[idx] = tmp + H
        fxh1 = f(x)
        x[idx] = tmp - H
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * H)
        x[idx] = tmp
    return grad


def numerical_gradient_batch(f: Callable[[np.ndarray], Any], points: np.ndarray) -> np.ndarray:
    """∇f at each row of `points` (N, d), one point at a time in a Python loop."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        return numerical_gradient(f, points)
    grad = np.zeros_like(points)
    for idx, x in enumerate(points):
        grad[idx] = numerical_gradient(f, x)
    return grad
