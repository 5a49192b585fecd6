"""Request and response models: the HTTP contract.

Requests are strict (no strings for numbers, no booleans for numbers, no NaN/Infinity,
no numbers that overflow to inf, no unknown fields). Responses carry `null` wherever a
result is not a finite number: JSON has no NaN.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)

from app.errors import RequestError, TooLargeError

Method = Literal["central", "forward", "backward", "complex"]
Number = Annotated[float, Field(allow_inf_nan=False)]
Result = float | None  # a computed number; null when not finite
# A variable or parameter name: short, so that no error message can echo megabytes.
Name = Annotated[
    str, StringConstraints(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*(\[[0-9]+\])?$")
]


def _one_of(*allowed: int) -> Any:
    """A validator for a strict integer from a fixed set."""

    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


# Strict ints from a set: `Literal[1, 2]` would accept `true` as 1 and 2.0 as 2.
Accuracy = Annotated[
    int,
    Strict(),
    _one_of(1, 2, 4, 6, 8),
    WithJsonSchema({"type": "integer", "enum": [1, 2, 4, 6, 8]}),
]
Order = Annotated[
    int,
    Strict(),
    _one_of(1, 2, 3, 4, 5, 6),
    WithJsonSchema({"type": "integer", "enum": [1, 2, 3, 4, 5, 6]}),
]


def _at_most(setting: str, reason: str, noun: str, advice: str) -> Any:
    """A list or map no longer than the setting `setting`, measured on the raw input before
    any item is validated: a body of a million bad points must not become a million
    errors (1.2 GiB for a 4 MB body). The settings come in the validation context
    (app.json_in); without one (a model built in code) only the service's checks apply."""

    def check(value: Any, info: ValidationInfo) -> Any:
        # Before the list's own validation, not around it: a wrap costs every request more.
        if isinstance(value, (list, dict)) and info.context is not None:
            settings = info.context.get("settings")
            limit = None if settings is None else getattr(settings, setting)
            if limit is not None and len(value) > limit:
                raise TooLargeError(
                    f"`{info.field_name}` has {len(value)} {noun}; the limit is {limit}; {advice}",
                    reason=reason,
                )
        return value

    return BeforeValidator(check)


# Lists stop at their first bad item (`fail_fast`) and are capped before they are built.
Coordinates = Annotated[
    list[Number],
    Field(min_length=1, fail_fast=True),
    _at_most("max_dimensions", "dimensions", "coordinates", "use fewer coordinates."),
]
PointValues = Annotated[
    list[Number],
    Field(min_length=1, fail_fast=True),
    _at_most("max_points", "points", "points", "split the request."),
]
PointRows = Annotated[
    list[Coordinates],
    Field(min_length=1, fail_fast=True),
    _at_most("max_points", "points", "points", "split the request."),
]
Names = Annotated[
    list[Name],
    Field(fail_fast=True),
    _at_most("max_dimensions", "dimensions", "names", "use fewer variables."),
]
Parameters = Annotated[
    dict[Name, Number],
    _at_most(
        "max_parameters", "parameters", "entries", "send only the parameters the expression uses."
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class Size(NamedTuple):
    """What a request asks for: `points` points of `dimension` coordinates each."""

    points: int
    dimension: int

    @property
    def coordinates(self) -> int:
        """Point-coordinates: what the memory of a request's arrays grows with."""
        return self.points * self.dimension


class ComputeRequest(StrictModel):
    """A request that computes: it says how big it is (`app.lifecycle` schedules by it)."""

    def may_run_inline(self) -> bool:
        """Whether a tiny one (a few points of a short expression) may be computed on the
        event loop, where a thread hop would cost more than its work: not Python-heavy work
        (descent, Hessians, the symbolic derivative)."""
        return False

    def size(self) -> Size:
        """Points and coordinates asked for; NablaError where a spec is invalid."""
        raise NotImplementedError


class Health(BaseModel):
    status: Literal["ok"] = Field(
        description="Always `ok` when the service answers.", examples=["ok"]
    )


class Readiness(BaseModel):
    status: Literal["ready", "shedding", "starting"] = Field(
        description="`ready`, or `shedding` (with 503) while a new request would be refused "
        "(every compute process busy and their line full), and for a second after one was; "
        "`starting` (with 503) while a compute process is still importing the app (about a "
        "second after the server starts, or after it replaced one it stopped).",
        examples=["ready"],
    )


# ---------------------------------------------------------------- shared request parts


class Arange(StrictModel):
    """Evenly spaced values `numpy.arange(start, stop, step)`: stop excluded."""

    start: Number = Field(description="First value.", examples=[-2.0])
    stop: Number = Field(description="End of the interval, excluded.", examples=[2.5])
    step: Number = Field(
        description="Spacing; non-zero, its sign gives the direction.", examples=[0.25]
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"start": -2, "stop": 2.5, "step": 0.25}]}
    )

    def count(self, field: str) -> int:
        """How many values the spec yields, computed without allocating them (`field`
        names it in errors)."""
        if self.step == 0:
            raise RequestError(f"`{field}.step` must not be 0.", field=f"{field}.step")
        span = (self.stop - self.start) / self.step  # Python floats: inf, not an error
        if not math.isfinite(span):
            raise TooLargeError(
                f"`{field}` yields too many values; use a larger `step`.", reason="points"
            )
        count = math.ceil(span)
        if count <= 0:
            direction = "greater" if self.step > 0 else "less"
            raise RequestError(
                f"`{field}` is empty: with step {self.step}, `stop` must be {direction} "
                f"than `start`.",
                field=field,
            )
        return count


class Linspace(StrictModel):
    """`num` evenly spaced values `numpy.linspace(start, stop, num)`: stop included."""

    start: Number = Field(description="First value.", examples=[0.0])
    stop: Number = Field(description="Last value, included.", examples=[20.0])
    num: int = Field(ge=1, description="How many values.", examples=[200])

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"start": 0, "stop": 20, "num": 200}]}
    )

    def count(self, field: str) -> int:
        """`num`, once the spec is checked to yield finite values."""
        if self.start == self.stop and self.num > 1:
            raise RequestError(f"`{field}` has start == stop; use num 1.", field=field)
        if not math.isfinite(self.stop - self.start):
            # numpy.linspace would overflow computing its spacing and yield NaN values.
            raise RequestError(
                f"`{field}` spans more than the largest float; narrow `start` and `stop`.",
                field=field,
            )
        return self.num


def _axis_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "arange" if "step" in value else "linspace" if "num" in value else None
    kinds: dict[type, str] = {Arange: "arange", Linspace: "linspace"}
    return kinds.get(type(value))  # a list or a number: neither, an `axis_spec` error


# `step` means arange, `num` means linspace: errors then name the field that is wrong.
Axis = Annotated[
    Annotated[Arange, Tag("arange")] | Annotated[Linspace, Tag("linspace")],
    Discriminator(
        _axis_kind,
        custom_error_type="axis_spec",
        custom_error_message="an axis is {start, stop, step} or {start, stop, num}",
    ),
]


class FormulaOptions(ComputeRequest):
    """The expression and how to difference it."""

    expression: str = Field(
        description="The function, in Python-like math: `+ - * / ** ^ %`, whitelisted "
        "functions (`sin`, `exp`, `log`, `erf`, `gamma`, `sigmoid`, `sum`, ...), constants "
        "`pi` and `e`; multiplication is written out (`2*x`, not `2x`).",
        examples=["0.01*x**2 + 0.1*x"],
    )
    method: Method = Field(
        "central",
        description="Finite-difference formula: `central`, one-sided `forward`/`backward`, "
        "or `complex` step (exact to rounding; analytic expressions only).",
        examples=["central"],
    )
    step: Number | None = Field(
        None,
        gt=0,
        description="Step h, used exactly as given; omit it for an automatic step that "
        "scales with |x| and shrinks near the edge of f's domain. At least the stencil's "
        "smallest step (about 1.05e-154 for a second derivative, 3e-309 for a first; none "
        "for `complex`), else 422.",
        examples=[0.0001],
    )
    accuracy: Accuracy = Field(
        2,
        description="Order p of the truncation error O(h^p): 2, 4, 6 or 8 "
        "(1 also for `forward`/`backward`, the textbook two-point formula).",
        examples=[2],
    )
    parameters: Parameters = Field(
        default_factory=dict,
        description="Values of names that are constants, not variables (`a` in `a*x**2`).",
        examples=[{}],
    )

    @model_validator(mode="after")
    def _accuracy_applies(self) -> Self:
        # The complex step has no stencil whose order `accuracy` could choose: it was ignored.
        if self.method == "complex" and self.accuracy != 2:
            raise RequestError(
                f"`accuracy` {self.accuracy} does not apply to `method` `complex`, which is "
                "exact to rounding already; omit `accuracy`, or use `central` for a stencil "
                "of that order.",
                field="accuracy",
            )
        return self


class ToleranceSpec(StrictModel):
    """|error| ≤ atol + rtol·|value|, as scipy.differentiate's `rtol` and `atol`."""

    rtol: Number = Field(
        0.0,
        ge=0,
        description="Relative tolerance, against each point's largest component.",
        examples=[1e-12],
    )
    atol: Number = Field(0.0, ge=0, description="Absolute tolerance.", examples=[0.0])

    @model_validator(mode="after")
    def _some_tolerance(self) -> Self:
        if self.rtol == 0 and self.atol == 0:
            raise ValueError('`tolerance` needs `rtol` or `atol` above 0, such as {"rtol": 1e-12}')
        return self


TOLERANCE = (
    "Re-estimate each point with high-order central stencils (f': 8th order, and 16th where "
    "the 8th cannot meet the bound at any step; f'': 12th), at up to 3 steps, until its error "
    "bound meets atol + rtol·|value| (central method, automatic step only). Adds `converged` "
    "and `evaluations` per point; costs the stencil's order in evaluations of f per "
    "coordinate and step tried, and 4 that measure f's rounding near the point: at most 44 "
    "(f') or 40 (f'') per coordinate, on top of the first answer's."
)


class DifferenceOptions(FormulaOptions):
    """Fields every derivative endpoint accepts."""

    error_estimate: bool = Field(
        False,
        description="Also return `errors`: an estimate of each result's absolute error.",
        examples=[False],
    )
    tolerance: ToleranceSpec | None = Field(None, description=TOLERANCE, examples=[None])


class PointsMixin(ComputeRequest):
    """Exactly one of `point` or `points`: one point or many, each a list of d numbers."""

    variables: Names | None = Field(
        None,
        description="Order of the coordinates. Default: the expression's free names in "
        "natural order (`x2` before `x10`), or `x[0]..x[d-1]` for a vector variable.",
        examples=[["x0", "x1"]],
    )
    point: Coordinates | None = Field(
        None, description="One point: d coordinates.", examples=[[3.0, 4.0]]
    )
    points: PointRows | None = Field(
        None,
        description="N points, each d coordinates.",
        examples=[[[3.0, 4.0], [0.0, 2.0]]],
    )

    def size(self) -> Size:
        rows = [self.point] if self.point is not None else self.points or [[]]
        return Size(len(rows), len(rows[0]))

    @model_validator(mode="after")
    def _one_of_point_or_points(self) -> Self:
        if self.point is not None and self.points is not None:
            raise ValueError("send `point` or `points`, not both; remove one")
        if self.point is None and self.points is None:
            raise ValueError(
                "send `point` (one point, such as [3, 4]) or `points` (several, such as "
                "[[3, 4], [0, 2]])"
            )
        return self


# ---------------------------------------------------------------- /derivative


class DerivativeRequest(DifferenceOptions):
    """f'(x) (or f''(x)) of a one-variable function at many points."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"expression": "0.01*x**2 + 0.1*x", "points": [5, 10], "step": 0.0001}]
        }
    )

    variable: Name | None = Field(
        None,
        description="The variable to differentiate by; optional when the expression has "
        "exactly one free name.",
        examples=["x"],
    )
    points: PointValues | None = Field(
        None,
        description="Where to differentiate. Give this or `range`.",
        examples=[[5, 10]],
    )
    range: Axis | None = Field(
        None,
        description="Points as `{start, stop, step}` (numpy.arange) or `{start, stop, num}` "
        "(numpy.linspace). Give this or `points`.",
        examples=[{"start": 0, "stop": 20, "num": 5}],
    )
    order: Order = Field(
        1,
        description="1 for f', 2 for f'', up to 6. Orders 3-6 use central or one-sided stencils "
        "of the `accuracy` asked (no `complex`, no `tolerance`); float64 gives fewer digits "
        "as the order grows (about 1e-7 relative for the third derivative at accuracy 2, 1e-3 "
        "for the sixth; accuracy 8: 1e-11 and 1e-8), and answers past 1e-6 say so in "
        "`unreliable`.",
        examples=[1],
    )
    exact: bool = Field(
        False,
        description="Also return `exact` (the symbolic derivative, evaluated) and "
        "`errors_vs_exact`; the derivative's text is in `exact_expression`.",
        examples=[False],
    )

    def may_run_inline(self) -> bool:
        return not self.exact

    def size(self) -> Size:
        count = len(self.points or ()) if self.range is None else self.range.count("range")
        return Size(count, 1)

    @model_validator(mode="after")
    def _one_of_points_or_range(self) -> Self:
        if self.points is not None and self.range is not None:
            raise ValueError("send `points` or `range`, not both; remove one")
        if self.points is None and self.range is None:
            raise ValueError(
                'send `points` (such as [5, 10]) or `range` (such as {"start": 0, "stop": 20, '
                '"num": 5})'
            )
        return self


UNRELIABLE = (
    "Indices of the points whose answer may be more than 1e-6 off, relative to each value "
    "(a value of exactly 0: to the point's largest): f's rounding swamps its step, smaller "
    "steps disagree, or the error bound (`error_estimate`) says so. Absent when none is."
)


class DerivativeResponse(BaseModel):
    variable: str = Field(description="The variable differentiated by.", examples=["x"])
    method: Method = Field(description="The method used.", examples=["central"])
    points: list[float] = Field(description="The x values.", examples=[[5.0, 10.0]])
    values: list[Result] = Field(description="f(x); null where not finite.", examples=[[0.75, 2.0]])
    derivatives: list[Result] = Field(
        description="f'(x) (or f''(x)); null where not finite.", examples=[[0.2, 0.3]]
    )
    intercepts: list[Result] | None = Field(
        description="Tangent lines y = derivatives[i]·t + intercepts[i], i.e. "
        "f(x) − f'(x)·x; null for order 2.",
        examples=[[-0.25, -1.0]],
    )
    steps: list[Result] = Field(
        description="The step h used at each point.", examples=[[1e-4, 1e-4]]
    )
    errors: list[Result] | None = Field(
        None,
        description="Estimated absolute error (only with `error_estimate`).",
        examples=[[1.2e-11, 2.5e-11]],
    )
    exact_expression: str | None = Field(
        None,
        description="The exact derivative as text (only with `exact`).",
        examples=["0.02*x + 0.1"],
    )
    exact: list[Result] | None = Field(
        None,
        description="The exact derivative at each point (only with `exact`).",
        examples=[[0.2, 0.3]],
    )
    errors_vs_exact: list[Result] | None = Field(
        None,
        description="|derivatives − exact| (only with `exact`).",
        examples=[[9.1e-13, 1.4e-12]],
    )
    unreliable: list[int] | None = Field(None, description=UNRELIABLE, examples=[[1]])
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None, description="Evaluations of f per point (with `tolerance`).", examples=[[28]]
    )


# ---------------------------------------------------------------- /gradient


class GradientRequest(DifferenceOptions, PointsMixin):
    """∇f of a d-variable function at one point or many."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expression": "x0**2 + x1**2", "point": [3, 4]}]}
    )

    def may_run_inline(self) -> bool:
        return True


class GradientResponse(BaseModel):
    variables: list[str] = Field(description="Coordinate order.", examples=[["x0", "x1"]])
    value: Result = Field(
        None, description="f at `point` (single-point requests).", examples=[25.0]
    )
    gradient: list[Result] | None = Field(
        None, description="∇f at `point` (single-point requests).", examples=[[6.0, 8.0]]
    )
    values: list[Result] | None = Field(
        None, description="f at each of `points`.", examples=[[25.0, 4.0]]
    )
    gradients: list[list[Result]] | None = Field(
        None, description="∇f at each of `points`.", examples=[[[6.0, 8.0], [0.0, 4.0]]]
    )
    errors: list[Any] | None = Field(
        None,
        description="Estimated absolute errors shaped like `gradient` or `gradients` "
        "(only with `error_estimate`).",
        examples=[[1e-11, 1e-11]],
    )
    unreliable: list[int] | None = Field(
        None, description=UNRELIABLE + " `point` is index 0.", examples=[[0]]
    )
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None, description="Evaluations of f per point (with `tolerance`).", examples=[[28]]
    )


# ---------------------------------------------------------------- /gradient-field


FieldName = Literal["axes", "shape", "coordinates", "values", "gradient", "errors"]


class GradientFieldRequest(DifferenceOptions):
    """∇f on every point of a Cartesian grid: the notebook's quiver plot as data."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "expression": "x0**2 + x1**2",
                    "grid": [
                        {"start": -2, "stop": 2.5, "step": 0.25},
                        {"start": -2, "stop": 2.5, "step": 0.25},
                    ],
                }
            ]
        }
    )

    variables: Names | None = Field(
        None,
        description="Which variable each grid axis is; default natural order.",
        examples=[["x0", "x1"]],
    )
    grid: Annotated[
        list[Axis], _at_most("max_dimensions", "dimensions", "axes", "use fewer axes.")
    ] = Field(
        min_length=1,
        fail_fast=True,
        description="One axis per variable: arange or linspace spec; at most 32 axes.",
        examples=[[{"start": -2, "stop": 2.5, "step": 0.25}, {"start": -2, "stop": 2, "num": 5}]],
    )
    indexing: Literal["xy", "ij"] = Field(
        "xy",
        description="Flattening order, as `numpy.meshgrid`: `xy` (default, the notebook's) "
        "or `ij`.",
        examples=["xy"],
    )
    include: list[FieldName] | None = Field(
        None,
        min_length=1,
        max_length=12,
        fail_fast=True,
        description="Which arrays to return (`variables` always comes): default all. "
        "Plotting arrows needs only `gradient` plus `axes` to rebuild the grid, about 40% of "
        "the default response; skipping `coordinates` also skips building them.",
        examples=[["axes", "shape", "gradient"]],
    )
    precision: Literal["float64", "float32"] = Field(
        "float64",
        description="How numbers are written. `float64` (default): the shortest text that "
        "reads back as the same double, about 19 characters. `float32`: rounded to single "
        "precision (relative change ≤ 6e-8) and written as the shortest text that reads back "
        "as that float32, about 10 characters: roughly half the bytes and encoding time, "
        "enough for plotting. Computed values above 3.4e38 become null; grid points beyond "
        "it are refused.",
        examples=["float32"],
    )

    def may_run_inline(self) -> bool:
        return True

    def size(self) -> Size:
        counts = [spec.count(f"grid[{i}]") for i, spec in enumerate(self.grid)]
        return Size(math.prod(counts), len(counts))


class GradientFieldResponse(BaseModel):
    variables: list[str] = Field(description="Coordinate order.", examples=[["x0", "x1"]])
    axes: list[list[float]] | None = Field(
        None, description="The 1-D axis values.", examples=[[[-1.0, 0.0, 1.0], [0.0, 1.0]]]
    )
    shape: list[int] | None = Field(
        None, description="Grid shape, as `numpy.meshgrid` returns it.", examples=[[2, 3]]
    )
    coordinates: list[list[float]] | None = Field(
        None,
        description="d flat arrays: the grid points, meshgrid order flattened.",
        examples=[[[-1.0, 0.0, 1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]],
    )
    values: list[Result] | None = Field(
        None,
        description="f at every grid point (flat).",
        examples=[[1.0, 0.0, 1.0, 2.0, 1.0, 2.0]],
    )
    gradient: list[list[Result]] | None = Field(
        None,
        description="d flat arrays: ∇f at every grid point. With matplotlib: "
        "`quiver(c[0], c[1], -g[0], -g[1])`.",
        examples=[[[-2.0, 0.0, 2.0, -2.0, 0.0, 2.0], [0.0, 0.0, 0.0, 2.0, 2.0, 2.0]]],
    )
    errors: list[list[Result]] | None = Field(
        None,
        description="Estimated absolute errors (only with `error_estimate`).",
        examples=[[[1e-11, 1e-11], [1e-11, 1e-11]]],
    )
    unreliable: list[int] | None = Field(
        None, description=UNRELIABLE + " Indices of the flat grid.", examples=[[4]]
    )
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None, description="Evaluations of f per point (with `tolerance`).", examples=[[28]]
    )


# ---------------------------------------------------------------- /hessian


class HessianRequest(PointsMixin):
    """Second partial derivatives at one point or many."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expression": "x0**2*x1 + sin(x1)", "point": [1, 2]}]}
    )

    expression: str = Field(
        description="The function, as for /gradient.", examples=["x0**2*x1 + sin(x1)"]
    )
    method: Literal["central", "complex"] = Field(
        "central",
        description="`central` differences, or `complex`: the complex step along one "
        "coordinate, a central difference along the other (analytic expressions only; "
        "about twice the digits).",
        examples=["central"],
    )
    step: Number | None = Field(
        None,
        gt=0,
        description="Step h; omit for h ≈ eps^(1/(p+2))·max(|x|, 1) (eps^(1/(p+1)) for the "
        "central part of `complex`).",
        examples=[0.0001],
    )
    accuracy: Accuracy = Field(
        2,
        description="Order p of the truncation error O(h^p): 2, 4, 6 or 8. Central: p "
        "evaluations per diagonal term and p² per mixed one (twice with the automatic step); "
        "complex: p + 2 per term (8 at p = 8), its bound's included.",
        examples=[2],
    )
    error_estimate: bool = Field(
        False,
        description="Also return `errors`: a bound on each term's absolute error.",
        examples=[False],
    )
    tolerance: ToleranceSpec | None = Field(
        None,
        description="Re-estimate each point by 12th-order stencils (a mixed term along "
        "e_i + e_j), at up to 3 steps, until every term's error bound meets atol + rtol·max|H| "
        "(central method, automatic step only). Adds `converged` and `evaluations` per point; "
        "costs up to 36 more evaluations of f per term of the upper triangle and 4 probes of "
        "f's rounding near the point: 18·d(d+1) + 4 a point.",
        examples=[None],
    )
    parameters: Parameters = Field(
        default_factory=dict, description="Values of constant names.", examples=[{}]
    )


class HessianResponse(BaseModel):
    variables: list[str] = Field(description="Row and column order.", examples=[["x0", "x1"]])
    value: Result = Field(None, description="f at `point`.", examples=[4.909])
    hessian: list[list[Result]] | None = Field(
        None,
        description="d×d second derivatives at `point` (symmetric).",
        examples=[[[4.0, 2.0], [2.0, -0.909]]],
    )
    values: list[Result] | None = Field(
        None, description="f at each of `points`.", examples=[[4.909]]
    )
    hessians: list[list[list[Result]]] | None = Field(
        None,
        description="One d×d Hessian per point of `points`.",
        examples=[[[[4.0, 2.0], [2.0, -0.909]]]],
    )
    unreliable: list[int] | None = Field(
        None,
        description=UNRELIABLE
        + " Without `error_estimate` or `tolerance`, f's rounding counts against the point's "
        "largest term (and a mixed term's against itself where the term stands out of it); "
        "with either, each term's bound counts against the term itself, so a point may meet "
        "its `tolerance` (relative to its largest term) and be flagged for a term far below "
        "it, such as an exact 0 come out as rounding. `point` is index 0.",
        examples=[[0]],
    )
    errors: list[Any] | None = Field(
        None,
        description="Bounds on each term's absolute error, shaped like `hessian` or "
        "`hessians` (only with `error_estimate`).",
        examples=[[[1e-9, 1e-9], [1e-9, 1e-9]]],
    )
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None, description="Evaluations of f per point (with `tolerance`).", examples=[[141]]
    )


# ---------------------------------------------------------------- /descent


class DescentRequest(FormulaOptions):
    """Gradient descent: x ← x − learning_rate·∇f(x), the book's next step."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"expression": "x0**2 + x1**2", "init": [-3, 4], "learning_rate": 0.1, "steps": 100}
            ]
        }
    )

    variables: Names | None = Field(
        None, description="Coordinate order; default natural order.", examples=[["x0", "x1"]]
    )
    init: Coordinates = Field(description="Starting point: d coordinates.", examples=[[-3.0, 4.0]])
    learning_rate: Number = Field(0.01, gt=0, description="Step length η.", examples=[0.1])
    steps: int = Field(100, ge=0, description="Iterations (capped by the server).", examples=[100])
    tolerance: Number | None = Field(
        None,
        gt=0,
        description="Stop early once ‖∇f‖ ≤ tolerance. Without it all `steps` run, and "
        "`converged` means ‖∇f‖ ≤ 1e-6 at the end.",
        examples=[1e-8],
    )

    def size(self) -> Size:
        return Size(self.steps + 1, len(self.init))  # the path


class DescentResponse(BaseModel):
    variables: list[str] = Field(description="Coordinate order.", examples=[["x0", "x1"]])
    path: list[list[Result]] = Field(
        description="The iterates, `init` first: iterations + 1 points.",
        examples=[[[-3.0, 4.0], [-2.4, 3.2]]],
    )
    values: list[Result] = Field(description="f along the path.", examples=[[25.0, 16.0]])
    gradient_norms: list[Result] = Field(description="‖∇f‖ along the path.", examples=[[10.0, 8.0]])
    converged: bool = Field(
        description="‖∇f‖ reached the tolerance; false when diverging.", examples=[True]
    )
    iterations: int = Field(description="Steps taken.", examples=[100])


# ---------------------------------------------------------------- /step-study


DEFAULT_STUDY_STEPS = [10.0**-k for k in range(1, 17)]


class StepStudyRequest(ComputeRequest):
    """Error of each finite-difference formula over a range of steps: the V curve."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expression": "exp(x)", "point": 1}]}
    )

    expression: str = Field(description="A one-variable function.", examples=["exp(x)"])
    variable: Name | None = Field(
        None, description="The variable; optional with one free name.", examples=["x"]
    )
    point: Number = Field(description="Where to differentiate.", examples=[1.0])
    steps: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = Field(
        None,
        min_length=1,
        max_length=200,
        fail_fast=True,
        description="Steps to try; default 1e-1, 1e-2, ..., 1e-16.",
        examples=[[0.1, 0.01, 0.001]],
    )
    parameters: Parameters = Field(
        default_factory=dict, description="Values of constant names.", examples=[{}]
    )

    def size(self) -> Size:
        return Size(len(self.steps or DEFAULT_STUDY_STEPS), 1)


class StepStudyResponse(BaseModel):
    variable: str = Field(description="The variable.", examples=["x"])
    point: float = Field(description="x.", examples=[1.0])
    value: Result = Field(description="f(x).", examples=[2.718281828459045])
    derivative: str = Field(description="The exact derivative as text.", examples=["exp(x)"])
    reference: Result = Field(
        description="The exact derivative at x (symbolic, not a finite difference).",
        examples=[2.718281828459045],
    )
    steps: list[float] = Field(description="The steps h.", examples=[[0.1, 0.01]])
    estimates: dict[str, list[Result]] = Field(
        description="Per method (`forward`, `backward`, `central`, `complex`), the estimate "
        "at each step; `complex` is absent for non-analytic expressions.",
        examples=[{"central": [2.7228, 2.7183]}],
    )
    errors: dict[str, list[Result]] = Field(
        description="Per method, |estimate − reference| at each step.",
        examples=[{"central": [4.5e-3, 4.5e-5]}],
    )
    best_step: dict[str, Result] = Field(
        description="Per method, the step with the smallest error.",
        examples=[{"forward": 1e-8, "central": 1e-5}],
    )


class ErrorResponse(BaseModel):
    detail: str = Field(
        description="One sentence: what is wrong and how to fix it.",
        examples=["unknown function `sni` at column 1; did you mean `sin`?"],
    )
    type: str = Field(
        description="Error kind, e.g. `invalid_expression`, `too_large`.",
        examples=["invalid_expression"],
    )
    field: str | None = Field(
        None, description="The request field at fault.", examples=["expression"]
    )
    column: int | None = Field(None, description="1-based column in `expression`.", examples=[1])
    reason: str | None = Field(
        None, description="Which limit was exceeded (413, 503).", examples=["points"]
    )
    errors: list[dict[str, Any]] | None = Field(
        None,
        description="All validation errors: field, message, type.",
        examples=[[{"field": "points[0]", "message": "Input should be a valid number"}]],
    )


# ---------------------------------------------------------------- vector calculus


MAX_EXPRESSIONS = 32  # functions per request: m evaluations share each stencil offset


def _expression_count(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """At most MAX_EXPRESSIONS, counted before any is validated (as `_at_most`)."""
    if isinstance(value, list) and len(value) > MAX_EXPRESSIONS:
        raise TooLargeError(
            f"`expressions` has {len(value)} expressions; the limit is {MAX_EXPRESSIONS}; "
            "split them over several requests.",
            reason="expressions",
        )
    return handler(value)


Expressions = Annotated[
    list[str], Field(min_length=1, fail_fast=True), WrapValidator(_expression_count)
]


def _field_of(model: type[BaseModel], name: str) -> Any:
    """A field of another request, description and example included."""
    return model.model_fields[name]


class VectorOptions(ComputeRequest):
    """How to difference several expressions: the options of /gradient, but `expressions`."""

    method: Method = _field_of(FormulaOptions, "method")
    step: Number | None = _field_of(FormulaOptions, "step")
    accuracy: Accuracy = _field_of(FormulaOptions, "accuracy")
    parameters: Parameters = _field_of(FormulaOptions, "parameters")
    error_estimate: bool = _field_of(DifferenceOptions, "error_estimate")

    @model_validator(mode="after")
    def _accuracy_applies(self) -> Self:
        if self.method == "complex" and self.accuracy != 2:
            raise RequestError(
                f"`accuracy` {self.accuracy} does not apply to `method` `complex`, which is "
                "exact to rounding already; omit `accuracy`, or use `central`.",
                field="accuracy",
            )
        return self


class JacobianRequest(VectorOptions, PointsMixin):
    """J_ij = ∂f_i/∂x_j of m expressions over the same variables, at one point or many."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"expressions": ["x0**2*x1", "5*x0 + sin(x1)"], "point": [1, 2]}]
        }
    )

    expressions: Expressions = Field(
        description="The m functions f_1 … f_m, each as /gradient's `expression`, over the "
        "same variables (a variable one of them does not use has partial 0); at most 32.",
        examples=[["x0**2*x1", "5*x0 + sin(x1)"]],
    )
    tolerance: ToleranceSpec | None = Field(
        None,
        description=TOLERANCE + " Each expression is re-estimated apart; `converged` means "
        "every term of the point's Jacobian met it.",
        examples=[None],
    )
    exact: bool = Field(
        False,
        description="Also return `exact` (the symbolic derivatives, evaluated; shaped like "
        "the answer) and `errors_vs_exact`; at most 256 symbolic partial derivatives.",
        examples=[False],
    )

    def size(self) -> Size:
        points, dimension = PointsMixin.size(self)
        return Size(points, dimension * len(self.expressions))


class JacobianResponse(BaseModel):
    variables: list[str] = Field(description="Column order of J.", examples=[["x0", "x1"]])
    values: list[Any] = Field(
        description="f_1 … f_m at `point` (m values), or at each of `points` (N × m).",
        examples=[[2.0, 5.909]],
    )
    jacobian: list[list[Result]] | None = Field(
        None,
        description="m × d: row i is ∇f_i at `point` (single-point requests).",
        examples=[[[4.0, 1.0], [5.0, -0.416]]],
    )
    jacobians: list[list[list[Result]]] | None = Field(
        None, description="N × m × d: J at each of `points`.", examples=[[[[4.0, 1.0]]]]
    )
    errors: list[Any] | None = Field(
        None,
        description="Bounds on each term's absolute error, shaped like `jacobian` or "
        "`jacobians` (only with `error_estimate`).",
        examples=[[[1e-10, 1e-10], [1e-10, 1e-10]]],
    )
    unreliable: list[int] | None = Field(
        None,
        description=UNRELIABLE + " A term counts against its row's largest. `point` is index 0.",
        examples=[[0]],
    )
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None,
        description="Evaluations of each f per point (with `tolerance`).",
        examples=[[41]],
    )
    exact: list[Any] | None = Field(
        None,
        description="The symbolic derivatives evaluated, shaped like `jacobian` or "
        "`jacobians` (only with `exact`).",
        examples=[[[4.0, 1.0], [5.0, -0.416]]],
    )
    errors_vs_exact: list[Any] | None = Field(
        None,
        description="|J − exact| (only with `exact`).",
        examples=[[[1.8e-11, 0.0], [3.7e-11, 1.3e-11]]],
    )


class DirectionalRequest(DifferenceOptions, PointsMixin):
    """The derivative of f along a direction u: d/dt f(x + t·u) at t = 0."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"expression": "x0**2 + x1**2", "point": [3, 4], "direction": [3, 4]}]
        }
    )

    direction: Coordinates = Field(
        description="The direction: d numbers, one per coordinate.", examples=[[3.0, 4.0]]
    )
    normalize: bool = Field(
        True,
        description="`true` (default): divide `direction` by its length, so the answer is the "
        "slope per unit length, ∇f·u/|u|. `false`: use it as given, ∇f·v (a Jacobian-vector "
        "product, as JAX's `jvp`).",
        examples=[True],
    )
    exact: bool = Field(
        False,
        description="Also return `exact` (the symbolic derivatives, evaluated; shaped like "
        "the answer) and `errors_vs_exact`; at most 256 symbolic partial derivatives.",
        examples=[False],
    )

    def may_run_inline(self) -> bool:
        return not self.exact


class DirectionalResponse(BaseModel):
    variables: list[str] = Field(description="Coordinate order.", examples=[["x0", "x1"]])
    direction: list[float] = Field(
        description="The direction used: unit length unless `normalize` is false.",
        examples=[[0.6, 0.8]],
    )
    value: Result = Field(None, description="f at `point`.", examples=[25.0])
    derivative: Result = Field(
        None, description="∇f·u at `point` (single-point requests).", examples=[10.0]
    )
    values: list[Result] | None = Field(
        None, description="f at each of `points`.", examples=[[25.0, 4.0]]
    )
    derivatives: list[Result] | None = Field(
        None, description="∇f·u at each of `points`.", examples=[[10.0, 3.2]]
    )
    steps: list[Result] = Field(
        description="The step t along the direction at each point: f is evaluated at x ± t·u.",
        examples=[[3.3e-5]],
    )
    errors: list[Result] | None = Field(
        None,
        description="Bound on each derivative's absolute error (only with `error_estimate`).",
        examples=[[1e-10]],
    )
    unreliable: list[int] | None = Field(
        None, description=UNRELIABLE + " `point` is index 0.", examples=[[0]]
    )
    converged: list[bool] | None = Field(
        None, description="Whether each point met `tolerance` (only with it).", examples=[[True]]
    )
    evaluations: list[int] | None = Field(
        None, description="Evaluations of f per point (with `tolerance`).", examples=[[11]]
    )
    exact: Result | list[Result] = Field(
        None,
        description="The symbolic derivatives evaluated, shaped like `derivative` or "
        "`derivatives` (only with `exact`).",
        examples=[[10.0]],
    )
    errors_vs_exact: Result | list[Result] = Field(
        None,
        description="|derivative − exact| (only with `exact`).",
        examples=[[0.0]],
    )


Operator = Literal["divergence", "curl", "laplacian"]
VectorFieldName = Literal["axes", "shape", "coordinates", "components", "result", "errors"]


class VectorFieldRequest(VectorOptions):
    """div F, curl F (2-D, 3-D) or ∇²f on every point of a Cartesian grid."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "expressions": ["-x1", "x0"],
                    "operator": "curl",
                    "grid": [
                        {"start": -2, "stop": 2.5, "step": 0.5},
                        {"start": -2, "stop": 2.5, "step": 0.5},
                    ],
                }
            ]
        }
    )

    expressions: Expressions = Field(
        description="The field: d components F_0 … F_{d−1}, one per grid axis (divergence, "
        "curl), or one scalar f (Laplacian).",
        examples=[["-x1", "x0"]],
    )
    operator: Operator = Field(
        description="`divergence` Σ ∂F_j/∂x_j; `curl` (2-D: the scalar ∂F_1/∂x_0 − ∂F_0/∂x_1; "
        "3-D: the vector); `laplacian` Σ ∂²f/∂x_j².",
        examples=["curl"],
    )
    variables: Names | None = _field_of(GradientFieldRequest, "variables")
    grid: list[Axis] = _field_of(GradientFieldRequest, "grid")
    indexing: Literal["xy", "ij"] = _field_of(GradientFieldRequest, "indexing")
    include: list[VectorFieldName] | None = Field(
        None,
        min_length=1,
        max_length=12,
        fail_fast=True,
        description="Which arrays to return (`variables` and `operator` always come): default "
        "all. A heatmap under arrows needs `axes`, `shape`, `components` and `result`.",
        examples=[["axes", "shape", "components", "result"]],
    )
    precision: Literal["float64", "float32"] = _field_of(GradientFieldRequest, "precision")
    exact: bool = Field(
        False,
        description="Also return `exact` (the symbolic derivatives, evaluated; shaped like "
        "the answer) and `errors_vs_exact`; at most 256 symbolic partial derivatives.",
        examples=[False],
    )

    def size(self) -> Size:
        counts = [spec.count(f"grid[{i}]") for i, spec in enumerate(self.grid)]
        return Size(math.prod(counts), len(counts) * len(self.expressions))


class VectorFieldResponse(BaseModel):
    variables: list[str] = Field(description="Axis order.", examples=[["x0", "x1"]])
    operator: Operator = Field(description="The operator applied.", examples=["curl"])
    axes: list[list[float]] | None = Field(
        None, description="The 1-D axis values.", examples=[[[-1.0, 0.0, 1.0], [0.0, 1.0]]]
    )
    shape: list[int] | None = Field(
        None, description="Grid shape, as `numpy.meshgrid` returns it.", examples=[[2, 3]]
    )
    coordinates: list[list[float]] | None = Field(
        None,
        description="d flat arrays: the grid points, meshgrid order flattened.",
        examples=[[[-1.0, 0.0, 1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]],
    )
    components: list[list[Result]] | None = Field(
        None,
        description="The field at every grid point (flat), one array per expression: with "
        "matplotlib, `quiver(c[0], c[1], F[0], F[1])` (a Laplacian's: f itself).",
        examples=[[[-0.0, -0.0, -0.0, -1.0, -1.0, -1.0], [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]]],
    )
    result: list[Any] | None = Field(
        None,
        description="The operator at every grid point (flat): one array, or three for the "
        "curl of a 3-D field. With matplotlib, `pcolormesh(a[0], a[1], "
        "np.reshape(r, shape))` under the arrows.",
        examples=[[2.0, 2.0, 2.0, 2.0, 2.0, 2.0]],
    )
    errors: list[Any] | None = Field(
        None,
        description="Bounds on `result`'s absolute error, shaped like it (only with "
        "`error_estimate`): the sum of its partials' bounds.",
        examples=[[1e-10, 1e-10, 1e-10, 1e-10, 1e-10, 1e-10]],
    )
    unreliable: list[int] | None = Field(
        None,
        description=UNRELIABLE + " Relative to the point's largest partial. Indices of the "
        "flat grid.",
        examples=[[4]],
    )
    exact: list[Any] | None = Field(
        None,
        description="The symbolic derivatives evaluated, shaped like `result` (only with `exact`).",
        examples=[[2.0, 2.0]],
    )
    errors_vs_exact: list[Any] | None = Field(
        None,
        description="|result − exact| (only with `exact`).",
        examples=[[0.0, 0.0]],
    )
