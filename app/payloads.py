"""What each service function returns: the answer's arrays, by name, before JSON.

The response models of `app.schemas` describe the same fields for OpenAPI; these say what
the code hands to the encoder (NumPy arrays, written by orjson, non-finite as null).
Optional keys are the ones a request asks for (`error_estimate`, `exact`, `include`).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from app.numerics import Array, GridPoints


class DerivativePayload(TypedDict):
    variable: str
    method: str
    points: Array
    values: Array
    derivatives: Array
    intercepts: Array | None
    steps: Array
    errors: NotRequired[Array]
    exact_expression: NotRequired[str]
    exact: NotRequired[Array]
    errors_vs_exact: NotRequired[Array]
    unreliable: NotRequired[list[int]]
    converged: NotRequired[Array]
    evaluations: NotRequired[Array]


class GradientPayload(TypedDict):
    variables: list[str]
    value: NotRequired[float]  # one `point`
    gradient: NotRequired[Array]
    values: NotRequired[Array]  # many `points`
    gradients: NotRequired[Array]
    errors: NotRequired[Array]
    unreliable: NotRequired[list[int]]
    converged: NotRequired[Array]
    evaluations: NotRequired[Array]


class FieldPayload(TypedDict, total=False):
    variables: list[str]
    axes: list[Array]
    shape: list[int]
    coordinates: GridPoints
    values: Array
    gradient: Array
    errors: Array
    unreliable: list[int]
    converged: Array
    evaluations: Array


class HessianPayload(TypedDict):
    variables: list[str]
    value: NotRequired[float]  # one `point`
    hessian: NotRequired[Array]
    values: NotRequired[Array]  # many `points`
    hessians: NotRequired[Array]
    unreliable: NotRequired[list[int]]
    errors: NotRequired[Array]
    converged: NotRequired[Array]
    evaluations: NotRequired[Array]


class DescentPayload(TypedDict):
    variables: list[str]
    path: Array
    values: Array
    gradient_norms: Array
    converged: bool
    iterations: int


class StepStudyPayload(TypedDict):
    variable: str
    point: float
    value: float
    derivative: str
    reference: float
    steps: Array
    estimates: dict[str, Array]
    errors: dict[str, Array]
    best_step: dict[str, float | None]


class JacobianPayload(TypedDict):
    variables: list[str]
    values: NotRequired[Array]  # (m,) at one `point`, (N, m) at many
    jacobian: NotRequired[Array]  # one `point`
    jacobians: NotRequired[Array]  # many `points`
    errors: NotRequired[Array]
    unreliable: NotRequired[list[int]]
    converged: NotRequired[Array]
    evaluations: NotRequired[Array]
    exact: NotRequired[Array]
    errors_vs_exact: NotRequired[Array]


class DirectionalPayload(TypedDict):
    variables: list[str]
    direction: Array
    value: NotRequired[float]  # one `point`
    derivative: NotRequired[float]
    values: NotRequired[Array]  # many `points`
    derivatives: NotRequired[Array]
    steps: NotRequired[Array]
    errors: NotRequired[Array]
    unreliable: NotRequired[list[int]]
    converged: NotRequired[Array]
    evaluations: NotRequired[Array]
    exact: NotRequired[Array | float]  # a float at one `point`
    errors_vs_exact: NotRequired[Array | float]


class VectorFieldPayload(TypedDict, total=False):
    variables: list[str]
    operator: str
    axes: list[Array]
    shape: list[int]
    coordinates: GridPoints
    components: Array
    result: Array
    errors: Array
    unreliable: list[int]
    exact: Array
    errors_vs_exact: Array


Payload = (
    DerivativePayload
    | GradientPayload
    | FieldPayload
    | HessianPayload
    | DescentPayload
    | StepStudyPayload
    | JacobianPayload
    | DirectionalPayload
    | VectorFieldPayload
)
