"""Between HTTP and the engine: limits, variables and axes, and plotting-ready payloads.

Each endpoint is an `Endpoint`: its `limits` are what the request's size alone decides
(points, dimensions, memory, the work at one operation per evaluation), checked before the
request is scheduled (app.lifecycle), without parsing or allocating; its computation
checks the rest (the work of the expression's own nodes) *before* allocating or computing
anything, runs the engine and returns a dict of NumPy arrays that the route serializes
directly (orjson; NaN/inf become `null`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar, cast

import numpy as np

from app import numerics
from app.config import Settings
from app.errors import MethodError, RequestError, TooLargeError
from app.expressions import Expression, parse, parse_cache_hits
from app.numerics import Array
from app.observability import record_parse
from app.payloads import (
    DerivativePayload,
    DescentPayload,
    FieldPayload,
    GradientPayload,
    HessianPayload,
    StepStudyPayload,
)
from app.schemas import (
    DEFAULT_STUDY_STEPS,
    Arange,
    Axis,
    ComputeRequest,
    DerivativeRequest,
    DescentRequest,
    DifferenceOptions,
    FormulaOptions,
    GradientFieldRequest,
    GradientRequest,
    HessianRequest,
    Size,
    StepStudyRequest,
)
from app.symbolic import derivative_expression

Body = TypeVar("Body", bound=ComputeRequest)
Answer = TypeVar("Answer", covariant=True)


@dataclass(frozen=True)
class Endpoint(Generic[Body, Answer]):
    """What app.lifecycle needs of an endpoint: the `limits` its request's size decides,
    checked before it is scheduled (a request refused for them does not wait for a thread
    first), and its `compute`, which checks what the expression adds and answers."""

    limits: Callable[[Body, Settings], None]
    compute: Callable[[Body, Settings], Answer]


# ---------------------------------------------------------------- shared checks


def parse_counted(text: str, settings: Settings) -> Expression:
    """Parse through the LRU cache, counting hits and misses for /metrics."""
    hits = parse_cache_hits()
    expression = parse(text, settings.limits)
    record_parse(hit=parse_cache_hits() > hits)
    return expression


def load_expression(options: FormulaOptions, settings: Settings) -> Expression:
    expression = parse_counted(options.expression, settings)
    if options.method == "complex" and not expression.analytic:
        raise MethodError(
            f"`method` `complex` cannot differentiate through `{expression.blocker}`, which "
            "is not analytic (the complex step needs a function smooth in the complex plane); "
            "use `central`.",
            field="method",
        )
    return expression


def axis_values(spec: Axis) -> Array:
    if isinstance(spec, Arange):
        return np.arange(spec.start, spec.stop, spec.step, dtype=np.float64)
    # The span is finite (`Linspace.count`), but with `stop` near the largest float,
    # linspace's last product (num − 1)·spacing may round past it and warn; numpy then
    # puts `stop` itself in that place, so every value is finite.
    with np.errstate(over="ignore"):
        return np.linspace(spec.start, spec.stop, spec.num, dtype=np.float64)


def listing(names: list[str], shown: int = 3) -> str:
    """`a`, `b`, `c` and 4 more: never echo a long list back."""
    if not names:
        return "none"
    text = ", ".join(f"`{n}`" for n in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def check_points(count: int, settings: Settings, *, field: str) -> None:
    if count > settings.max_points:
        raise TooLargeError(
            f"`{field}` asks for {count} points; the limit is {settings.max_points}; "
            "split the request.",
            reason="points",
        )


# Besides its vectorized arithmetic, each call of f has a Python-level cost per coordinate
# (one array per coordinate, stacked and broadcast): about 4 µs, which is what some 4000
# element operations cost. With few points that overhead is the whole bill (a Hessian of
# 200 coordinates at one point is 80,001 calls), so it counts against the budget too.
CALL_OVERHEAD = 4096


def work_estimate(calls: int, points: int, per_point: int, dimension: int) -> int:
    """Budget units for `calls` evaluations of f, each on `points` points of `dimension` axes."""
    return calls * (points * per_point + CALL_OVERHEAD * (dimension + 1))


def check_work(
    expression: Expression | None,
    points: int,
    dimension: int,
    options: FormulaOptions,
    order: int,
    settings: Settings,
    *,
    rounds: int = 1,
    besides: Expression | None = None,
) -> int:
    """Budget: evaluations of f × (points × expression nodes + per-call overhead), per round,
    plus one evaluation of `besides` (the exact derivative of `exact: true`) on the points.

    Without an `expression` (before it is parsed): the least any costs, one node.

    Returns the estimate, which `refine_limit` takes from the budget."""
    error_estimate = bool(getattr(options, "error_estimate", False))
    evaluations = rounds * _evaluations(
        options.method, options.accuracy, order, dimension, error_estimate, options.step is None
    )
    per_point = 1 if expression is None else _per_point(expression, dimension)
    work = work_estimate(evaluations, points, per_point, dimension)
    exact_nodes = 0 if besides is None else besides.node_count
    work += work_estimate(1, points, exact_nodes, dimension) if exact_nodes else 0
    budget = settings.max_work
    if work > budget:
        exact = f" and its exact derivative ({exact_nodes} nodes) once" if exact_nodes else ""
        raise TooLargeError(
            f"the request needs {'at least' if expression is None else 'about'} {work:.3g} "
            f"operations ({evaluations} evaluations of f{exact} on {points} points of "
            f"{dimension} coordinates, {per_point} expression node{'s' * (per_point > 1)} "
            f"each); the budget is {budget:.3g}; use fewer points, coordinates or "
            "steps, a lower `accuracy`, or a simpler expression.",
            reason="work",
        )
    return work


# Besides the engine's arrays, a request holds each evaluation's temporaries (a level of the
# expression at a time, on a block of points) and the JSON being written (streamed in
# pieces of about 1 MB): measured at 44-62 MiB over the arrays for 10⁶-point answers.
WORKING_BYTES = 32 << 20
FLOAT_IN_LIST = 32  # a float of the request's own lists: its pointer and the object
LIST = 64  # a point's list, besides its floats


def check_memory(points: int, arrays: int, settings: Settings, *, inputs: int = 0) -> None:
    """The request's memory while it is computed, at most what one request may hold:
    `arrays` float arrays of `points` values (the engine's plan and the answer), the
    request's own lists (`inputs` bytes, alive until it is answered), the working bytes."""
    need = 8 * points * arrays + inputs + WORKING_BYTES
    if need > settings.request_memory:
        raise TooLargeError(
            f"the request needs about {need >> 20} MiB while it is computed; a request may "
            f"hold {settings.request_memory >> 20} MiB; send fewer points or coordinates per "
            "request.",
            reason="memory",
        )


def listed_bytes(points: int, dimension: int) -> int:
    """What a request's `points` (lists of `dimension` floats) take as Python objects."""
    return points * (LIST + FLOAT_IN_LIST * dimension)


def refine_limit(
    expression: Expression, dimension: int, options: FormulaOptions, work: int, settings: Settings
) -> int:
    """How many points the engine may re-estimate on its ladder of smaller steps with what
    the request left of the work budget. Each costs the stencil's off-center evaluations
    of f at SHRINK_LEVELS + 1 steps (`numerics.ladder_evaluations`): a million points of
    sin(1e6·x) would otherwise turn a 0.06 s request into 1.5 s, and a 500-node expression
    into a minute."""
    order = getattr(options, "order", 1)
    off_center = _evaluations(options.method, options.accuracy, order, 1, False, False) - 1
    return _ladder_points(_per_point(expression, dimension), off_center, work, settings)


@functools.lru_cache(maxsize=1024)  # a few options in use; ~1 µs a call saved thrice a request
def _evaluations(
    method: str, accuracy: int, order: int, dimension: int, error_estimate: bool, automatic: bool
) -> int:
    """`numerics.evaluation_count` of these options, computed once."""
    return numerics.evaluation_count(
        method, accuracy, order, dimension, error_estimate, automatic_step=automatic
    )


def _ladder_points(per_point: int, off_center: int, work: int, settings: Settings) -> int:
    """Points on a ladder of `off_center` evaluations a step that fit in what is left of
    the budget."""
    cost = numerics.ladder_evaluations(off_center) * per_point
    return max(0, (settings.max_work - work) // max(cost, 1))


def _per_point(expression: Expression, dimension: int) -> int:
    """Operations per point and evaluation: a vector expression works on every coordinate."""
    return expression.node_count * (dimension if expression.vector_variable else 1)


def coordinate_names(
    expression: Expression,
    requested: list[str] | None,
    dimension: int,
    parameters: dict[str, float],
) -> list[str]:
    """The variables, in order, for points of `dimension` coordinates."""
    if expression.vector_variable is not None:
        names = expression.names(dimension)
        if requested is not None and requested != names:
            raise RequestError(
                f"`variables` of a vector expression are {', '.join(names[:3])}...; omit it.",
                field="variables",
            )
        return names
    names = (
        requested
        if requested is not None
        else [v for v in expression.variables if v not in parameters]
    )
    if len(names) != dimension:
        listed = listing(names)
        raise RequestError(
            f"each point has {dimension} coordinates but there are {len(names)} variables "
            f"({listed}); make them match or set `variables`.",
            field="variables",
        )
    return names


def tolerance_of(request: DifferenceOptions | HessianRequest) -> numerics.Tolerance | None:
    spec = request.tolerance
    return None if spec is None else numerics.Tolerance(rtol=spec.rtol, atol=spec.atol)


def tolerance_work(
    expression: Expression | None,
    points: int,
    dimension: int,
    request: DifferenceOptions,
    work: int,
    settings: Settings,
    order: int = 1,
) -> int:
    """`work` plus what a `tolerance` may add (`numerics.tolerance_evaluations` for the
    derivative's `order`: every step it may try, at every point), checked against the budget
    as `check_work` checks the rest (without an `expression`: at one node)."""
    if request.tolerance is None:
        return work
    evaluations = numerics.tolerance_evaluations(dimension, order)
    per_point = 1 if expression is None else _per_point(expression, dimension)
    work += work_estimate(evaluations, points, per_point, dimension)
    if work > settings.max_work:
        raise TooLargeError(
            f"the request needs about {work:.3g} operations with its `tolerance` (up to "
            f"{evaluations} more evaluations of f on {points} points); the budget is "
            f"{settings.max_work:.3g}; use fewer points, or omit `tolerance`.",
            reason="work",
        )
    return work


FEW_FLAGS = 16  # below this many points, a list beats a NumPy reduction (~1 µs a call)


def unreliable(flags: Array | None) -> list[int]:
    """The indices of the points the engine flags (`numerics.bounds`), none if it flags none."""
    if flags is None:
        return []
    if flags.size <= FEW_FLAGS:
        return [i for i, flag in enumerate(flags.ravel().tolist()) if flag]
    if not flags.any():
        return []
    flagged: list[int] = np.flatnonzero(flags).tolist()
    return flagged


class EngineErrors:
    """The engine's own `ValueError`s (app.numerics.exceptions) as the client errors they
    are. A class rather than a `contextmanager` generator: 0.2 µs a use instead of 0.9."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, numerics.MethodUnavailable):
            raise MethodError(str(error), field=error.field) from None
        if isinstance(error, numerics.NumericsError):
            raise RequestError(str(error), field=error.field) from None


_ENGINE_ERRORS = EngineErrors()  # holds no state: one for every use


def engine_errors() -> EngineErrors:
    return _ENGINE_ERRORS


def bind(
    expression: Expression, names: list[str], parameters: dict[str, float]
) -> numerics.Function:
    if expression.vector_variable is not None:
        return expression.bind(parameters=parameters)
    return expression.bind(names, parameters)


# ---------------------------------------------------------------- /derivative


def derivative(request: DerivativeRequest, settings: Settings) -> DerivativePayload:
    expression = load_expression(request, settings)
    if expression.vector_variable is not None:
        raise RequestError(
            f"the expression has the vector variable `{expression.vector_variable}`; "
            "use /gradient.",
            field="expression",
        )
    name = _single_variable(expression, request)
    count = _checked_count(request, settings)
    exact = _exact_expression(expression, name, request.order) if request.exact else None
    work = check_work(expression, count, 1, request, request.order, settings, besides=exact)
    work = tolerance_work(expression, count, 1, request, work, settings, request.order)
    if request.range is not None:
        x = axis_values(request.range)
    else:
        x = np.asarray(request.points, dtype=np.float64)
    f = expression.bind([name], request.parameters)
    with engine_errors():
        differentiate = numerics.derivative if request.order <= 2 else numerics.higher_derivative
        result = differentiate(
            lambda t: f([t]),
            x,
            method=request.method,
            step=request.step,
            order=request.order,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),
            refine_limit=refine_limit(expression, 1, request, work, settings),
        )
    payload: DerivativePayload = {
        "variable": name,
        "method": request.method,
        "points": result.points,
        "values": result.values,
        "derivatives": result.derivatives,
        "intercepts": result.intercepts,
        "steps": result.steps,
    }
    if result.errors is not None:
        payload["errors"] = result.errors
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    if exact is not None:
        values = _evaluated(exact, name, request, result.points)
        payload["exact_expression"] = exact.text
        payload["exact"] = values
        with np.errstate(all="ignore"):
            payload["errors_vs_exact"] = np.abs(result.derivatives - values)
    return payload


def derivative_limits(request: DerivativeRequest, settings: Settings) -> None:
    count = _checked_count(request, settings)
    work = check_work(None, count, 1, request, request.order, settings)
    tolerance_work(None, count, 1, request, work, settings, request.order)
    answer = 2 + (2 if request.exact else 0)  # points, intercepts; exact, its errors
    arrays = numerics.arrays_alive(1, error_estimate=request.error_estimate) + answer
    inputs = 0 if request.points is None else len(request.points) * FLOAT_IN_LIST
    check_memory(count, arrays, settings, inputs=inputs)


def _checked_count(request: DerivativeRequest, settings: Settings) -> int:
    """How many points: `points` counted, or a `range` computed from its spec."""
    if request.range is not None:
        count = request.range.count("range")
        check_points(count, settings, field="range")
        return count
    assert request.points is not None
    check_points(len(request.points), settings, field="points")
    return len(request.points)


def _exact_expression(expression: Expression, name: str, order: int) -> Expression:
    """The symbolic derivative of the order asked for (bounded in size: app.symbolic)."""
    exact = derivative_expression(expression, name)
    for _ in range(order - 1):
        exact = derivative_expression(exact, name)
    return exact


def _evaluated(exact: Expression, name: str, request: DerivativeRequest, x: Array) -> Array:
    """The exact derivative at `x`, in the engine's blocks: a derivative tree of thousands
    of nodes evaluated on 10⁶ points at once held a temporary array per level (882 MiB
    for `((x)**x)**x…`)."""
    f = exact.bind([name], request.parameters)
    values = np.empty_like(x)
    for start in range(0, len(x), numerics.BLOCK):
        values[start : start + numerics.BLOCK] = f([x[start : start + numerics.BLOCK]])
    return values


def _single_variable(expression: Expression, request: DerivativeRequest | StepStudyRequest) -> str:
    free = [v for v in expression.variables if v not in request.parameters]
    if request.variable is not None:
        return request.variable
    if len(free) == 1:
        return free[0]
    if not free:
        return "x"
    listed = listing(free)
    raise RequestError(
        f"the expression has several variables ({listed}); choose one with `variable` and "
        "give the others in `parameters`, or use /gradient.",
        field="variable",
    )


# ---------------------------------------------------------------- /gradient


def gradient(request: GradientRequest, settings: Settings) -> GradientPayload:
    expression = load_expression(request, settings)
    single = request.point is not None
    points, names = _points_and_names(request, expression, settings)
    n, d = points.shape
    work = check_work(expression, n, d, request, 1, settings)
    work = tolerance_work(expression, n, d, request, work, settings)
    with engine_errors():
        result = numerics.gradient(
            bind(expression, names, request.parameters),
            points,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),
            refine_limit=refine_limit(expression, d, request, work, settings),
        )
    gradients = np.ascontiguousarray(result.gradient)
    errors = None if result.errors is None else np.ascontiguousarray(result.errors)
    payload: GradientPayload = {"variables": names}
    if single:
        payload |= {"value": float(result.values[0]), "gradient": gradients[0]}
        if errors is not None:
            payload["errors"] = errors[0]
    else:
        payload |= {"values": result.values, "gradients": gradients}
        if errors is not None:
            payload["errors"] = errors
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    return payload


def gradient_limits(request: GradientRequest, settings: Settings) -> None:
    n, d = _checked_size(request, settings)
    tolerance_work(None, n, d, request, check_work(None, n, d, request, 1, settings), settings)
    arrays = numerics.arrays_alive(d, error_estimate=request.error_estimate)
    check_memory(n, arrays, settings, inputs=listed_bytes(n, d))


def _checked_size(request: GradientRequest | HessianRequest, settings: Settings) -> Size:
    """Points and coordinates of `point` or `points` (the first point's: `_point_array`
    checks the others), within the limits."""
    size = request.size()
    check_points(size.points, settings, field="points")
    _check_dimension(size.dimension, settings)
    return size


def _check_dimension(dimension: int, settings: Settings) -> None:
    if dimension > settings.max_dimensions:
        raise TooLargeError(
            f"points have {dimension} coordinates; the limit is {settings.max_dimensions}.",
            reason="dimensions",
        )


def _points_and_names(
    request: GradientRequest | HessianRequest, expression: Expression, settings: Settings
) -> tuple[Array, list[str]]:
    """The (N, d) points of `point` or `points`, and the names of their coordinates."""
    rows = [request.point] if request.point is not None else request.points
    assert rows is not None
    check_points(len(rows), settings, field="points")
    points = _point_array(rows, settings)
    names = coordinate_names(expression, request.variables, points.shape[1], request.parameters)
    return points, names


def _point_array(rows: list[list[float]], settings: Settings) -> Array:
    dimension = len(rows[0]) if rows else 0
    if not rows or dimension == 0:
        raise RequestError("each point needs at least one coordinate.", field="points")
    _check_dimension(dimension, settings)
    if any(len(row) != dimension for row in rows):
        raise RequestError(
            f"all points must have the same number of coordinates ({dimension}).",
            field="points",
        )
    return np.asarray(rows, dtype=np.float64)


# ---------------------------------------------------------------- /gradient-field


def axis_lengths(request: GradientFieldRequest) -> list[int]:
    return [spec.count(f"grid[{i}]") for i, spec in enumerate(request.grid)]


def gradient_field(request: GradientFieldRequest, settings: Settings) -> FieldPayload:
    expression = load_expression(request, settings)
    d = len(request.grid)
    size = _check_grid(request, settings)
    names = coordinate_names(expression, request.variables, d, request.parameters)
    work = check_work(expression, size, d, request, 1, settings)
    work = tolerance_work(expression, size, d, request, work, settings)
    axes = [axis_values(spec) for spec in request.grid]
    if request.precision == "float32":
        _check_single_precision(axes)
    with engine_errors():
        result = numerics.gradient_field(
            bind(expression, names, request.parameters),
            axes,
            indexing=request.indexing,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),
            with_coordinates=False,
            refine_limit=refine_limit(expression, d, request, work, settings),
        )
    payload: FieldPayload = {"variables": names} | _field_arrays(result, request)
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    return payload


def gradient_field_limits(request: GradientFieldRequest, settings: Settings) -> None:
    d = len(request.grid)
    size = _check_grid(request, settings)
    work = check_work(None, size, d, request, 1, settings)
    tolerance_work(None, size, d, request, work, settings)
    float32 = 1 + d if request.precision == "float32" else 0  # the answer's copies
    check_memory(
        size, numerics.arrays_alive(d, error_estimate=request.error_estimate) + float32, settings
    )


def _check_grid(request: GradientFieldRequest, settings: Settings) -> int:
    """The grid's point count, computed from the axis specs before anything is allocated."""
    d = len(request.grid)
    limit = min(settings.max_dimensions, numerics.MAX_GRID_AXES)
    if d > limit:
        fix = "use fewer axes"
        if limit == numerics.MAX_GRID_AXES:
            fix = (
                f"NumPy broadcasts at most {limit} dimensions, one per axis: send the points "
                "to /gradient"
            )
        raise TooLargeError(
            f"`grid` has {d} axes; the limit is {limit} ({fix}).", reason="dimensions"
        )
    counts = axis_lengths(request)
    size = math.prod(counts)
    if size > settings.max_grid_points:
        shape = " × ".join(_written(c) for c in counts[:8]) + (" × …" if d > 8 else "")
        raise TooLargeError(
            f"the grid has {shape} = {_written(size)} points; the limit is "
            f"{settings.max_grid_points}; use fewer values per axis.",
            reason="grid",
        )
    return size


def _written(count: int) -> str:
    """A count as people read it: digits up to a trillion, then 1.23e45 (a grid of 32 axes
    of 10⁶ values has 193 digits; a float would overflow past 1e308, the text does not)."""
    digits = str(count)
    if len(digits) <= 13:
        return digits
    return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}"


def _field_arrays(result: numerics.GradientField, request: GradientFieldRequest) -> FieldPayload:
    """The arrays the client asked for (`include`), in the precision it asked for."""
    include = set(request.include or ("axes", "shape", "coordinates", "values", "gradient"))
    if result.errors is not None and request.include is None:
        include.add("errors")  # asked for with `error_estimate`
    dtype = np.float32 if request.precision == "float32" else np.float64
    axes = [axis.astype(dtype, copy=False) for axis in result.axes]  # checked to fit
    arrays: FieldPayload = {
        "axes": axes,
        "shape": list(result.shape),
        # Encoded from the axes: the JSON of 10⁶ grid points without spelling them out.
        "coordinates": numerics.GridPoints.of(axes, request.indexing),
        "values": result.values,
        "gradient": result.gradient,
    }
    if result.errors is not None:
        arrays["errors"] = result.errors
    if dtype is np.float32:
        with np.errstate(over="ignore"):  # beyond float32's range: inf, written as null
            for key in ("values", "gradient", "errors"):
                if key in arrays and key in include:
                    arrays[key] = arrays[key].astype(np.float32)
    return cast(FieldPayload, {k: v for k, v in arrays.items() if k in include})


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_single_precision(axes: list[Array]) -> None:
    """Grid points must fit float32 to be written in it (computed values may overflow to
    null; the points a client asked for may not)."""
    for i, axis in enumerate(axes):
        if axis.size and float(np.max(np.abs(axis))) > FLOAT32_MAX:
            raise RequestError(
                f"`grid[{i}]` has values beyond float32's range (±3.4e38); use "
                '`"precision": "float64"`.',
                field="precision",
            )


# ---------------------------------------------------------------- /hessian


def hessian(request: HessianRequest, settings: Settings) -> HessianPayload:
    expression = load_expression(request, settings)  # type: ignore[arg-type]
    points, names = _points_and_names(request, expression, settings)
    n, d = points.shape
    per_point = _per_point(expression, d)
    work = work_estimate(_hessian_plan(request, d), n, per_point, d)
    _check_budget(work, settings)
    # Each evaluation of f runs on all points at once: a temporary per level of f.
    levels = min(expression.node_count, settings.max_expression_depth)
    arrays = numerics.arrays_alive(d, hessian=True, error_estimate=request.error_estimate)
    check_memory(n, arrays + levels, settings, inputs=listed_bytes(n, d))
    with engine_errors():
        result = numerics.hessian(
            bind(expression, names, request.parameters),
            points,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),
            # a ladder level costs the diagonal stencil's p evaluations (2: f(x ± h))
            refine_limit=_ladder_points(per_point, request.accuracy, work, settings),
        )
    payload: HessianPayload = {"variables": names}
    if request.point is not None:
        payload |= {"value": float(result.values[0]), "hessian": result.hessians[0]}
        if result.errors is not None:
            payload["errors"] = result.errors[0]
    else:
        payload |= {"values": result.values, "hessians": result.hessians}
        if result.errors is not None:
            payload["errors"] = result.errors
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    return payload


def hessian_limits(request: HessianRequest, settings: Settings) -> None:
    n, d = _checked_size(request, settings)
    _check_budget(work_estimate(_hessian_plan(request, d), n, 1, d), settings)
    arrays = numerics.arrays_alive(d, hessian=True, error_estimate=request.error_estimate)
    check_memory(n, arrays + 1, settings, inputs=listed_bytes(n, d))  # a level of f, at least


def _hessian_plan(request: HessianRequest, d: int) -> int:
    """Evaluations of f per point: the engine's plan for the options, and with a
    `tolerance` every level it may try."""
    plan = numerics.hessian_evaluations(
        d,
        method=request.method,
        accuracy=request.accuracy,
        error_estimate=request.error_estimate,
        automatic_step=request.step is None,
    )
    if request.tolerance is not None:
        plan += numerics.hessian_tolerance_evaluations(d)
    return plan


def _check_budget(work: int, settings: Settings) -> None:
    if work > settings.max_work:
        raise TooLargeError(
            f"the request needs about {work:.3g} operations; the budget is "
            f"{settings.max_work:.3g}; use fewer points or variables.",
            reason="work",
        )


# ---------------------------------------------------------------- /descent


def descent_limits(request: DescentRequest, settings: Settings) -> None:
    if request.steps > settings.max_descent_steps:
        raise TooLargeError(
            f"`steps` is {request.steps}; the limit is {settings.max_descent_steps}.",
            reason="steps",
        )
    check_work(None, 1, len(request.init), request, 1, settings, rounds=request.steps + 1)


def descent(request: DescentRequest, settings: Settings) -> DescentPayload:
    expression = load_expression(request, settings)
    d = len(request.init)
    names = coordinate_names(expression, request.variables, d, request.parameters)
    check_work(expression, 1, d, request, 1, settings, rounds=request.steps + 1)
    with engine_errors():
        result = numerics.descent(
            bind(expression, names, request.parameters),
            request.init,
            learning_rate=request.learning_rate,
            steps=request.steps,
            tolerance=request.tolerance,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
        )
    return {
        "variables": names,
        "path": result.path,
        "values": result.values,
        "gradient_norms": result.gradient_norms,
        "converged": result.converged,
        "iterations": result.iterations,
    }


# ---------------------------------------------------------------- /step-study


def step_study_limits(request: StepStudyRequest, settings: Settings) -> None:
    """Nothing its size can exceed: the schema caps its steps, and it is one point."""


def step_study(request: StepStudyRequest, settings: Settings) -> StepStudyPayload:
    expression = parse_counted(request.expression, settings)
    if expression.vector_variable is not None:
        raise RequestError("the step study needs a one-variable expression.", field="expression")
    name = _single_variable(expression, request)
    f = expression.bind([name], request.parameters)
    exact = derivative_expression(expression, name)
    x = np.array([request.point])
    reference = float(exact.bind([name], request.parameters)([x])[0])
    steps = request.steps or DEFAULT_STUDY_STEPS
    study = numerics.step_study(
        lambda t: f([t]), request.point, steps, analytic=expression.analytic
    )
    with np.errstate(all="ignore"):
        errors = {m: np.abs(e - reference) for m, e in study.estimates.items()}
    return {
        "variable": name,
        "point": request.point,
        "value": float(f([x])[0]),
        "derivative": exact.text,
        "reference": reference,
        "steps": study.steps,
        "estimates": study.estimates,
        "errors": errors,
        "best_step": {m: _best(study.steps, e) for m, e in errors.items()},
    }


def _best(steps: Array, errors: Array) -> float | None:
    finite = np.isfinite(errors)
    if not finite.any():
        return None
    return float(steps[np.flatnonzero(finite)[np.argmin(errors[finite])]])


# ---------------------------------------------------------------- the endpoints

DERIVATIVE = Endpoint(derivative_limits, derivative)
GRADIENT = Endpoint(gradient_limits, gradient)
GRADIENT_FIELD = Endpoint(gradient_field_limits, gradient_field)
HESSIAN = Endpoint(hessian_limits, hessian)
DESCENT = Endpoint(descent_limits, descent)
STEP_STUDY = Endpoint(step_study_limits, step_study)
