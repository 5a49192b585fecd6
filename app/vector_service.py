"""The vector-calculus endpoints between HTTP and the engine: /jacobian,
/directional-derivative and /vector-field (app.numerics.vector).

As app.service's endpoints: each is an `Endpoint` whose `limits` are what the request's size
decides (points, dimensions, expressions, memory from the engine's arrays, the work at one
operation per evaluation), checked before it is scheduled, and whose compute parses, counts
the work of the expressions' own nodes against the budget from the engine's plan
(`numerics.vector.*_evaluations`), and answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from app import numerics
from app.config import Settings
from app.errors import MethodError, NablaError, RequestError, TooLargeError
from app.expressions import Expression
from app.numerics import Array, Function, GridPoints
from app.numerics import vector as engine
from app.payloads import DirectionalPayload, JacobianPayload, VectorFieldPayload
from app.schemas import DirectionalRequest, JacobianRequest, VectorFieldRequest
from app.service import (
    CALL_OVERHEAD,
    Endpoint,
    _check_dimension,
    _check_grid,
    _check_single_precision,
    _point_array,
    axis_values,
    bind,
    check_memory,
    check_points,
    coordinate_names,
    engine_errors,
    listed_bytes,
    listing,
    load_expression,
    parse_counted,
    tolerance_of,
    unreliable,
)
from app.symbolic import derivative_expression


def vector_work(calls: int, points: int, nodes: Sequence[int], dimension: int) -> int:
    """Budget units for `calls` evaluations of the expressions together (`nodes` each) on
    `points` points: their arithmetic, and each call's Python overhead."""
    overhead = len(nodes) * CALL_OVERHEAD * (dimension + 1)
    return calls * (points * sum(nodes) + overhead)


def check_vector_work(work: int, what: str, settings: Settings) -> None:
    if work > settings.max_work:
        raise TooLargeError(
            f"the request needs about {work:.3g} operations ({what}); the budget is "
            f"{settings.max_work:.3g}; use fewer points, expressions or coordinates, a lower "
            "`accuracy`, or simpler expressions.",
            reason="work",
        )


def load_expressions(
    texts: list[str], method: str, parameters: dict[str, float], settings: Settings
) -> list[Expression]:
    """Each expression parsed and checked as /gradient checks its one (`expressions[i]`
    named in errors); every parameter must appear in one of them."""
    expressions: list[Expression] = []
    for i, text in enumerate(texts):
        try:
            expression = parse_counted(text, settings)
        except NablaError as error:  # the parse's own errors name `expression`
            error.field = f"expressions[{i}]"
            raise
        _same_kind(expression, expressions[0] if expressions else expression, i)
        if method == "complex" and not expression.analytic:
            raise MethodError(
                f"`method` `complex` cannot differentiate `expressions[{i}]` through "
                f"`{expression.blocker}`, which is not analytic; use `central`.",
                field="method",
            )
        expressions.append(expression)
    used = {name for e in expressions for name in e.variables}
    if unknown := sorted(set(parameters) - used):
        raise RequestError(
            f"parameter `{unknown[0]}` does not appear in any expression.", field="parameters"
        )
    return expressions


def _same_kind(expression: Expression, first: Expression, i: int) -> None:
    """All the expressions over one vector variable (`x[0]`, `sum(x**2)`), or all over
    names: a point's coordinates cannot be both."""
    if expression.vector_variable != first.vector_variable:
        kinds = [
            f"the vector `{e.vector_variable}`" if e.vector_variable else "names"
            for e in (first, expression)
        ]
        raise RequestError(
            f"`expressions[{i}]` is written with {kinds[1]} and `expressions[0]` with "
            f"{kinds[0]}; write them all with one vector variable or all with names.",
            field=f"expressions[{i}]",
        )


def shared_names(
    expressions: list[Expression],
    requested: list[str] | None,
    dimension: int,
    parameters: dict[str, float],
) -> list[str]:
    """The variables of all the expressions, in natural order (or as `variables` says);
    `x[0]` … `x[d-1]` for a vector variable."""
    if expressions[0].vector_variable is not None:
        # coordinate_names checks `variables` against the vector's own names
        return coordinate_names(expressions[0], requested, dimension, parameters)
    if requested is not None:
        names = requested
    else:
        free = {n for e in expressions for n in e.variables if n not in parameters}
        names = sorted(free, key=_natural)
    if len(names) != dimension:
        raise RequestError(
            f"each point has {dimension} coordinates but the expressions have {len(names)} "
            f"variables ({listing(names)}); make them match or set `variables`.",
            field="variables",
        )
    return names


def _natural(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def bind_all(
    expressions: list[Expression], names: list[str], parameters: dict[str, float]
) -> list[Function]:
    """Each expression bound to `names`, with the parameters it uses."""
    functions = []
    for i, e in enumerate(expressions):
        own = {k: v for k, v in parameters.items() if k in e.variables}
        missing = [v for v in e.variables if v not in own and v not in names]
        if missing:
            raise RequestError(
                f"`expressions[{i}]` uses `{missing[0]}`, which is neither in `variables` nor "
                "in `parameters`; add it to one of them.",
                field="variables",
            )
        functions.append(bind(e, names, own))
    return functions


def node_counts(expressions: list[Expression], dimension: int) -> list[int]:
    """Operations per point and evaluation: a vector expression works on every coordinate."""
    return [e.node_count * (dimension if e.vector_variable else 1) for e in expressions]


# ---------------------------------------------------------------- exact: true

MAX_EXACT_TERMS = 256  # symbolic partial derivatives per request: each is Python work


def symbolic_terms(
    expressions: list[Expression], terms: list[tuple[int, int, int]], names: list[str]
) -> list[Expression]:
    """The symbolic ∂^k f_i/∂x_j^k of each (i, j, k) in `terms` (bounded: app.symbolic)."""
    if len(terms) > MAX_EXACT_TERMS:
        raise TooLargeError(
            f"`exact` needs {len(terms)} symbolic partial derivatives; the limit is "
            f"{MAX_EXACT_TERMS}; send fewer expressions or coordinates, or drop `exact`.",
            reason="exact",
        )
    derivatives = []
    for i, j, order in terms:
        try:
            exact = derivative_expression(expressions[i], names[j])
            if order == 2:
                exact = derivative_expression(exact, names[j])
        except NablaError as error:
            error.field = "exact" if error.field is None else f"expressions[{i}]"
            raise
        derivatives.append(exact)
    return derivatives


def exact_work(derivatives: list[Expression], points: int, dimension: int) -> int:
    return vector_work(1, points, [e.node_count for e in derivatives], dimension)


def evaluated(f: Function, rows: Sequence[Array], shape: tuple[int, ...]) -> Array:
    """f on rows broadcast to `shape`, in blocks along its first axis: a derivative tree of
    thousands of nodes holds a temporary per level (as service._evaluated)."""
    out = np.empty(shape)
    per_row = math.prod(shape[1:])
    step = max(1, numerics.BLOCK // max(per_row, 1))
    for start in range(0, shape[0], step):
        block = slice(start, start + step)
        part = [r[block] if np.shape(r)[0] != 1 else r for r in rows]
        out[block] = np.broadcast_to(f(part), out[block].shape)
    return out


def bind_derivatives(
    derivatives: list[Expression], names: list[str], parameters: dict[str, float]
) -> list[Function]:
    """Each derivative bound to `names`, with the parameters it uses."""
    functions = []
    for exact in derivatives:
        own = {k: v for k, v in parameters.items() if k in exact.variables}
        functions.append(exact.bind(names, own))
    return functions


# ---------------------------------------------------------------- /jacobian


def jacobian_limits(request: JacobianRequest, settings: Settings) -> None:
    n, d, m = _jacobian_size(request, settings)
    _jacobian_work(request, n, d, [1] * m, settings)
    arrays = engine.jacobian_arrays(m, d, error_estimate=request.error_estimate)
    exact = 3 * m * d if request.exact else 0  # the exact values, stacked, and the errors
    check_memory(n, arrays + exact, settings, inputs=listed_bytes(n, d))


def _jacobian_size(request: JacobianRequest, settings: Settings) -> tuple[int, int, int]:
    rows = [request.point] if request.point is not None else request.points or [[]]
    check_points(len(rows), settings, field="points")
    _check_dimension(len(rows[0]), settings)
    return len(rows), len(rows[0]), len(request.expressions)


def _jacobian_work(
    request: JacobianRequest, n: int, d: int, nodes: list[int], settings: Settings, extra: int = 0
) -> int:
    plan = engine.jacobian_evaluations(
        d,
        method=request.method,
        accuracy=request.accuracy,
        error_estimate=request.error_estimate,
        automatic_step=request.step is None,
        tolerance=request.tolerance is not None,
    )
    what = f"{plan} evaluations of {len(nodes)} expressions of {sum(nodes)} nodes on {n} points"
    work = vector_work(plan, n, nodes, d) + extra
    check_vector_work(work, what + (" and their exact derivatives" if extra else ""), settings)
    return work


def _regradient_limit(
    request: JacobianRequest | DirectionalRequest,
    d: int,
    nodes: list[int],
    work: int,
    settings: Settings,
) -> int:
    """How many points the engine may re-estimate by gradients (`vector._by_gradient`,
    `vector._dotted_gradient`) with
    what the request left of the budget: each costs every function's gradient, its check
    and its ladder of smaller steps (`numerics.ladder_evaluations`)."""
    plan = numerics.evaluation_count(
        request.method, request.accuracy, 1, d, request.error_estimate, automatic_step=True
    )
    ladder = numerics.ladder_evaluations(2) * d
    per_point = sum(nodes) * (plan + ladder)
    return max(0, (settings.max_work - work) // max(per_point, 1))


def jacobian(request: JacobianRequest, settings: Settings) -> JacobianPayload:
    expressions = load_expressions(
        request.expressions, request.method, request.parameters, settings
    )
    rows = [request.point] if request.point is not None else request.points
    assert rows is not None
    n, d, _ = _jacobian_size(request, settings)
    work = _jacobian_work(request, n, d, node_counts(expressions, d), settings)
    points = _point_array(rows, settings)
    names = shared_names(expressions, request.variables, d, request.parameters)
    functions = bind_all(expressions, names, request.parameters)
    derivatives = []
    if request.exact:
        terms = [(i, j, 1) for i in range(len(expressions)) for j in range(d)]
        derivatives = symbolic_terms(expressions, terms, names)
        extra = exact_work(derivatives, n, d)
        work = _jacobian_work(request, n, d, node_counts(expressions, d), settings, extra)
    limit = _regradient_limit(request, d, node_counts(expressions, d), work, settings)
    with engine_errors():
        result = engine.jacobian(
            functions,
            points,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),  # type: ignore[arg-type]
            refine_limit=limit,
        )
    payload: JacobianPayload = {"variables": names}
    errors = result.errors
    if request.point is not None:
        payload |= {"values": result.values[0], "jacobian": result.jacobian[0]}
        errors = None if errors is None else errors[0]
    else:
        payload |= {"values": result.values, "jacobians": result.jacobian}
    if errors is not None:
        payload["errors"] = np.ascontiguousarray(errors)
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    if derivatives:
        payload |= _jacobian_exact(derivatives, names, request, points, result.jacobian)
    return payload


def _jacobian_exact(
    derivatives: list[Expression],
    names: list[str],
    request: JacobianRequest,
    points: Array,
    estimates: Array,
) -> JacobianPayload:
    """`exact` and `errors_vs_exact` (N × m × d, or m × d at one `point`)."""
    n, d = points.shape
    bound = bind_derivatives(derivatives, names, request.parameters)
    columns = [points[:, j] for j in range(d)]
    values = np.stack([evaluated(g, columns, (n,)) for g in bound], axis=1)
    exact = values.reshape(n, len(derivatives) // d, d)
    with np.errstate(all="ignore"):
        differences = np.abs(estimates - exact)
    if request.point is not None:
        return {"variables": names, "exact": exact[0], "errors_vs_exact": differences[0]}
    return {"variables": names, "exact": exact, "errors_vs_exact": differences}


# ---------------------------------------------------------------- /directional-derivative


def directional_limits(request: DirectionalRequest, settings: Settings) -> None:
    n, d = _directional_size(request, settings)
    _directional_work(request, n, d, 1, settings)
    # the points (the caller's and the engine's), the centre, f, the estimate, its step (and
    # bound) and the flags; an evaluation's moved coordinates live on a block of points
    arrays = 2 * d + 5 + (1 if request.error_estimate else 0)
    exact = 3 if request.exact else 0  # the exact value, a partial's, and the error
    check_memory(n, arrays + exact, settings, inputs=listed_bytes(n, d))


def _directional_size(request: DirectionalRequest, settings: Settings) -> tuple[int, int]:
    rows = [request.point] if request.point is not None else request.points or [[]]
    check_points(len(rows), settings, field="points")
    _check_dimension(len(rows[0]), settings)
    return len(rows), len(rows[0])


def _directional_work(
    request: DirectionalRequest, n: int, d: int, nodes: int, settings: Settings, extra: int = 0
) -> int:
    plan = engine.directional_evaluations(
        method=request.method,
        accuracy=request.accuracy,
        error_estimate=request.error_estimate,
        automatic_step=request.step is None,
        tolerance=request.tolerance is not None,
    )
    # each evaluation moves the d coordinates along u, then evaluates f
    what = f"{plan} evaluations of f ({nodes} nodes) on {n} points of {d} coordinates"
    work = vector_work(plan, n, [nodes + 2 * d], d) + extra
    check_vector_work(work, what + (" and its exact gradient" if extra else ""), settings)
    return work


def directional_derivative(request: DirectionalRequest, settings: Settings) -> DirectionalPayload:
    expression = load_expression(request, settings)
    rows = [request.point] if request.point is not None else request.points
    assert rows is not None
    n, d = _directional_size(request, settings)
    nodes = node_counts([expression], d)
    work = _directional_work(request, n, d, nodes[0], settings)
    points = _point_array(rows, settings)
    names = coordinate_names(expression, request.variables, d, request.parameters)
    if len(request.direction) != d:
        raise RequestError(
            f"`direction` has {len(request.direction)} components but each point has {d} "
            "coordinates; give one component per coordinate.",
            field="direction",
        )
    derivatives = []
    if request.exact:
        derivatives = symbolic_terms([expression], [(0, j, 1) for j in range(d)], names)
        extra = exact_work(derivatives, n, d)
        work = _directional_work(request, n, d, nodes[0], settings, extra)
    limit = _regradient_limit(request, d, nodes, work, settings)
    with engine_errors():
        result = engine.directional_derivative(
            bind(expression, names, request.parameters),
            points,
            request.direction,
            normalize=request.normalize,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
            tolerance=tolerance_of(request),
            refine_limit=limit,
        )
    payload: DirectionalPayload = {"variables": names, "direction": result.direction}
    if request.point is not None:
        payload |= {"value": float(result.values[0]), "derivative": float(result.derivatives[0])}
    else:
        payload |= {"values": result.values, "derivatives": result.derivatives}
    payload["steps"] = result.steps
    if result.errors is not None:
        payload["errors"] = result.errors
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    if result.converged is not None and result.evaluations is not None:
        payload |= {"converged": result.converged, "evaluations": result.evaluations}
    if derivatives:
        payload |= _directional_exact(derivatives, names, request, points, result)
    return payload


def _directional_exact(
    derivatives: list[Expression],
    names: list[str],
    request: DirectionalRequest,
    points: Array,
    result: engine.Directional,
) -> DirectionalPayload:
    """`exact` = Σ u_j·∂f/∂x_j and `errors_vs_exact` (numbers at one `point`)."""
    n, d = points.shape
    bound = bind_derivatives(derivatives, names, request.parameters)
    columns = [points[:, j] for j in range(d)]
    exact = np.zeros(n)
    with np.errstate(all="ignore"):
        for g, u in zip(bound, result.direction, strict=True):
            exact += float(u) * evaluated(g, columns, (n,)) if u else 0.0
        differences = np.abs(result.derivatives - exact)
    payload: DirectionalPayload = {"variables": names, "direction": result.direction}
    single = request.point is not None
    payload["exact"] = float(exact[0]) if single else exact
    payload["errors_vs_exact"] = float(differences[0]) if single else differences
    return payload


# ---------------------------------------------------------------- /vector-field


def vector_field_limits(request: VectorFieldRequest, settings: Settings) -> None:
    size, d = _field_size(request, settings)
    _field_work(request, size, d, [1] * len(request.expressions), settings)
    _field_memory(request, size, d, settings)


def _field_size(request: VectorFieldRequest, settings: Settings) -> tuple[int, int]:
    size = _check_grid(request, settings)  # type: ignore[arg-type]
    d = len(request.grid)
    m = len(request.expressions)
    want = 1 if request.operator == "laplacian" else d
    if m != want:
        what = "one scalar expression" if want == 1 else f"{d} expressions, one per axis"
        raise RequestError(
            f"the {request.operator} on a grid of {d} axes takes {what}; got {m}.",
            field="expressions",
        )
    if request.operator == "curl" and d not in (2, 3):
        raise RequestError(
            f"the curl needs a grid of 2 or 3 axes; `grid` has {d}; use `divergence` or "
            "`laplacian` in other dimensions.",
            field="operator",
        )
    return size, d


def _field_work(
    request: VectorFieldRequest,
    size: int,
    d: int,
    nodes: list[int],
    settings: Settings,
    extra: int = 0,
) -> None:
    plan = engine.field_evaluations(
        request.operator,
        d,
        method=request.method,
        accuracy=request.accuracy,
        error_estimate=request.error_estimate,
        automatic_step=request.step is None,
    )
    work = sum(vector_work(calls, size, [k], d) for calls, k in zip(plan, nodes, strict=True))
    what = f"{max(plan)} evaluations of each expression on {size} grid points"
    what += " and the exact derivatives" if extra else ""
    check_vector_work(work + extra, what, settings)


def _field_memory(request: VectorFieldRequest, size: int, d: int, settings: Settings) -> None:
    arrays = engine.field_arrays(request.operator, d, error_estimate=request.error_estimate)
    components = len(request.expressions)
    float32 = components + 3 if request.precision == "float32" else 0  # the answer's copies
    outputs = 3 if request.operator == "curl" and d == 3 else 1
    exact = 2 * outputs + 1 if request.exact else 0  # exact, its errors, and a partial
    check_memory(size, arrays + float32 + exact, settings)


def vector_field(request: VectorFieldRequest, settings: Settings) -> VectorFieldPayload:
    expressions = load_expressions(
        request.expressions, request.method, request.parameters, settings
    )
    size, d = _field_size(request, settings)
    _field_work(request, size, d, node_counts(expressions, d), settings)
    names = shared_names(expressions, request.variables, d, request.parameters)
    functions = bind_all(expressions, names, request.parameters)
    axes = [axis_values(spec) for spec in request.grid]
    if request.precision == "float32":
        _check_single_precision(axes)
    if request.operator == "laplacian" and request.method == "complex":
        raise MethodError(
            "the Laplacian is a second derivative, which the `complex` method does not "
            "compute; use `central`.",
            field="method",
        )
    terms = engine.field_terms(request.operator, d)
    derivatives = []
    if request.exact:
        order = 2 if request.operator == "laplacian" else 1
        wanted = [(component, coordinate, order) for _, component, coordinate, _ in terms]
        derivatives = symbolic_terms(expressions, wanted, names)
        extra = exact_work(derivatives, size, d)
        _field_work(request, size, d, node_counts(expressions, d), settings, extra)
    with engine_errors():
        result = engine.vector_field(
            functions,
            axes,
            operator=request.operator,
            indexing=request.indexing,
            method=request.method,
            step=request.step,
            accuracy=request.accuracy,
            error_estimate=request.error_estimate,
        )
    payload: VectorFieldPayload = {"variables": names, "operator": request.operator}
    payload |= _field_arrays(result, request)
    if derivatives:
        payload |= _field_exact(derivatives, names, request, result)
    if flagged := unreliable(result.unreliable):
        payload["unreliable"] = flagged
    return payload


def _field_exact(
    derivatives: list[Expression],
    names: list[str],
    request: VectorFieldRequest,
    result: engine.VectorField,
) -> VectorFieldPayload:
    """`exact`, the operator's signed sum of symbolic partials on the grid, and
    `errors_vs_exact`, shaped like `result`."""
    bound = bind_derivatives(derivatives, names, request.parameters)
    terms = engine.field_terms(request.operator, len(names))
    rows = numerics.grid_rows(result.axes, request.indexing)
    exact = np.zeros((3 if result.result.ndim == 2 else 1, *result.shape))
    with np.errstate(all="ignore"):
        for g, (output, _, _, sign) in zip(bound, terms, strict=True):
            exact[output] += sign * evaluated(g, rows, result.shape)
        flat = exact.reshape(result.result.shape)
        return {"exact": flat, "errors_vs_exact": np.abs(result.result - flat)}


def _field_arrays(result: engine.VectorField, request: VectorFieldRequest) -> VectorFieldPayload:
    """The arrays the client asked for (`include`), in the precision it asked for."""
    default = ("axes", "shape", "coordinates", "components", "result")
    include = set(request.include or default)
    if result.errors is not None and request.include is None:
        include.add("errors")
    dtype = np.float32 if request.precision == "float32" else np.float64
    axes = [axis.astype(dtype, copy=False) for axis in result.axes]
    arrays: dict[str, object] = {
        "axes": axes,
        "shape": list(result.shape),
        "coordinates": GridPoints.of(axes, request.indexing),
        "components": result.components,
        "result": result.result,
        "errors": result.errors,
    }
    if dtype is np.float32:
        with np.errstate(over="ignore"):  # beyond float32's range: inf, written as null
            for key in ("components", "result", "errors"):
                value = arrays[key]
                if isinstance(value, np.ndarray) and key in include:
                    arrays[key] = value.astype(np.float32)
    chosen = {k: v for k, v in arrays.items() if k in include and v is not None}
    return chosen  # type: ignore[return-value]


# ---------------------------------------------------------------- the endpoints

JACOBIAN = Endpoint(jacobian_limits, jacobian)
DIRECTIONAL = Endpoint(directional_limits, directional_derivative)
VECTOR_FIELD = Endpoint(vector_field_limits, vector_field)
