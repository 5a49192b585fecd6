"""Gradients on Cartesian grids: f evaluated on broadcast views of the axes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .bounds import untrusted
from .exceptions import OptionError, ShapeError
from .first import _gradient, _to_tolerance
from .stencils import Array, Function, Indexing, Method, Tolerance, check_options

# A grid of d axes is d-dimensional arrays broadcast together (`grid_rows`), and NumPy's
# broadcasting helpers take at most 32 dimensions (np.broadcast, under broadcast_shapes
# and broadcast_arrays: `_gradient` calls one when the axes differ in length, a vector
# expression the other), half of ndarray's 64. A grid of 33 axes fails there whatever
# its size; more coordinates need the points spelled out (`gradient`: 2-D arrays only).
MAX_GRID_AXES = 32


class GradientField(NamedTuple):
    """∇f on a Cartesian grid, flattened in `numpy.meshgrid` order."""

    axes: list[Array]
    shape: tuple[int, ...]
    coordinates: Array | None  # (d, M), unless skipped
    values: Array  # (M,)
    gradient: Array  # (d, M)
    errors: Array | None  # (d, M)
    unreliable: Array | None = None  # (M,): points with a component flagged (`untrusted`)
    converged: Array | None = None  # (M,), with a `tolerance`: where it was met
    evaluations: Array | None = None  # (M,), with a `tolerance`: evaluations of f per point


def grid_positions(d: int, indexing: Indexing = "xy") -> tuple[int, ...]:
    """The grid dimension each axis runs along: with "xy" the first two swap (x varies
    along columns), as `numpy.meshgrid` and the notebook lay them out."""
    positions = list(range(d))
    if indexing == "xy" and d >= 2:
        positions[0], positions[1] = 1, 0
    return tuple(positions)


def grid_rows(axes: Sequence[Array], indexing: Indexing = "xy") -> list[Array]:
    """Broadcastable views of the axes, as `numpy.meshgrid(*axes, indexing=...)` lays them.

    No grid is materialized: f broadcasts them, and steps are computed per axis.
    """
    d = len(axes)
    rows = []
    for axis, position in zip(axes, grid_positions(d, indexing), strict=True):
        shape = [1] * d
        shape[position] = len(axis)
        rows.append(np.asarray(axis, dtype=np.float64).reshape(shape))
    return rows


def _float_axis(values: npt.ArrayLike) -> Array:
    """float64, unless given float32 (a response written in single precision)."""
    array = np.asarray(values)
    return array.ravel() if array.dtype == np.float32 else array.astype(np.float64).ravel()


class GridPoints(NamedTuple):
    """The (d, M) points of a grid, held as its axes instead of spelled out.

    Row i of the flattened `numpy.meshgrid` is axis i with each value repeated `inner`
    times (the product of the grid dimensions after its own), and that run tiled `outer`
    times (the product of the dimensions before): 2·10⁶ floats are 2,000 distinct ones.
    """

    axes: list[Array]
    shape: tuple[int, ...]
    positions: tuple[int, ...]

    @classmethod
    def of(cls, axes: Sequence[Array], indexing: Indexing = "xy") -> GridPoints:
        arrays = [_float_axis(a) for a in axes]
        positions = grid_positions(len(arrays), indexing)
        shape = [0] * len(arrays)
        for axis, position in zip(arrays, positions, strict=True):
            shape[position] = len(axis)
        return cls(arrays, tuple(shape), positions)

    @property
    def size(self) -> int:
        return len(self.axes) * math.prod(self.shape)

    def layout(self, i: int) -> tuple[int, int]:
        """(outer, inner) of row i."""
        position = self.positions[i]
        return math.prod(self.shape[:position]), math.prod(self.shape[position + 1 :])

    def materialize(self) -> Array:
        points = np.empty((len(self.axes), math.prod(self.shape)), dtype=self.axes[0].dtype)
        for i, (axis, position) in enumerate(zip(self.axes, self.positions, strict=True)):
            view = [1] * len(self.shape)
            view[position] = len(axis)
            points[i].reshape(self.shape)[...] = axis.reshape(view)  # one broadcasting pass
        return points


def gradient_field(
    f: Function,
    axes: Sequence[npt.ArrayLike],
    *,
    indexing: Indexing = "xy",
    method: Method = "central",
    step: float | None = None,
    accuracy: int = 2,
    error_estimate: bool = False,
    with_coordinates: bool = True,
    refine_limit: int | None = None,
    tolerance: Tolerance | None = None,
) -> GradientField:
    """∇f at every point of the grid spanned by 1-D `axes` (the notebook's quiver data).

    `with_coordinates=False` skips materializing the (d, M) grid points, which a client can
    rebuild from the axes.
    """
    options = check_options(method, step, accuracy, 1, error_estimate, tolerance)
    if len(axes) > MAX_GRID_AXES:
        raise ShapeError(
            f"`axes` has {len(axes)} axes; a grid has at most {MAX_GRID_AXES}, so pass the "
            "points to `gradient` instead.",
            field="axes",
        )
    if indexing not in ("xy", "ij"):
        raise OptionError(f"`indexing` must be xy or ij; got {indexing!r}.", field="indexing")
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in axes]
    rows = grid_rows(arrays, indexing)
    result = _gradient(f, rows, options, keep_steps=False, refine_limit=refine_limit)
    result = _to_tolerance(f, rows, options, result)
    shape = result.values.shape
    size = math.prod(shape)
    coordinates = GridPoints.of(arrays, indexing).materialize() if with_coordinates else None
    errors = None if result.errors is None else result.errors.reshape(len(rows), size)
    flags = result.unreliable
    assert flags is not None
    if result.errors is not None:
        flags = flags | untrusted(result.gradient, result.errors)
    return GradientField(
        axes=arrays,
        shape=tuple(int(n) for n in shape),
        coordinates=coordinates,
        values=np.ascontiguousarray(result.values).reshape(size),
        gradient=np.ascontiguousarray(result.gradient).reshape(len(rows), size),
        errors=errors,
        unreliable=np.asarray(flags.any(axis=0)).reshape(size),
        converged=None if result.converged is None else result.converged.all(axis=0).reshape(size),
        evaluations=None if result.evaluations is None else result.evaluations.reshape(size),
    )
