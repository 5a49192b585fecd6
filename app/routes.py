"""HTTP routes: validated request in → service (expression → numerics) → response out.

Every compute route answers through `Lifecycle.answer` (app.lifecycle), which runs the
service in a compute process, or inline for a tiny request, and owns its admission,
shedding and release.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import service, vector_service
from app.json_in import StrictJSONRoute
from app.json_out import NumpyJSONResponse
from app.lifecycle import Lifecycle
from app.schemas import (
    DerivativeRequest,
    DerivativeResponse,
    DescentRequest,
    DescentResponse,
    DirectionalRequest,
    DirectionalResponse,
    ErrorResponse,
    GradientFieldRequest,
    GradientFieldResponse,
    GradientRequest,
    GradientResponse,
    Health,
    HessianRequest,
    HessianResponse,
    JacobianRequest,
    JacobianResponse,
    Readiness,
    StepStudyRequest,
    StepStudyResponse,
    VectorFieldRequest,
    VectorFieldResponse,
)

router = APIRouter(route_class=StrictJSONRoute)


def _examples(**bodies: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """OpenAPI `examples` of error bodies, each with its summary (Swagger's drop-down)."""
    return {
        "application/json": {
            "examples": {
                name: {"summary": summary, "value": body}
                for name, (summary, body) in bodies.items()
            }
        }
    }


# Real answers of this server, one set per status code (tests/test_mistakes.py checks them).
ERRORS: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorResponse,
        "description": "Body, points, grid or work over the limit.",
        "content": _examples(
            points=(
                "Too many points",
                {
                    "detail": "`points` has 2000000 points; the limit is 1000000; "
                    "split the request.",
                    "type": "too_large",
                    "reason": "points",
                },
            )
        ),
    },
    415: {
        "model": ErrorResponse,
        "description": "The body is not `application/json`.",
        "content": _examples(
            media=(
                "Not JSON",
                {
                    "detail": "send the body as JSON with `Content-Type: application/json`.",
                    "type": "unsupported_media_type",
                },
            )
        ),
    },
    422: {
        "model": ErrorResponse,
        "description": "Invalid JSON (NaN, duplicate keys, ...), request or expression.",
        "content": _examples(
            expression=(
                "An expression written as on paper",
                {
                    "detail": "`2x` at column 1: write the multiplication out, as `2*x`.",
                    "type": "invalid_expression",
                    "field": "expression",
                    "column": 1,
                },
            ),
            function=(
                "A misspelt function",
                {
                    "detail": "unknown function `sni` at column 1; did you mean `sin`?",
                    "type": "invalid_expression",
                    "field": "expression",
                    "column": 1,
                },
            ),
            field=(
                "A field under another name",
                {
                    "detail": "unknown field `h`; write `step` instead.",
                    "type": "validation_error",
                    "field": "h",
                    "errors": [
                        {
                            "field": "h",
                            "message": "unknown field `h`; write `step` instead.",
                            "type": "extra_forbidden",
                        }
                    ],
                },
            ),
            json=(
                "Not strict JSON",
                {
                    "detail": "`NaN` is not a JSON number; send finite numbers only.",
                    "type": "malformed_json",
                },
            ),
        ),
    },
    503: {
        "model": ErrorResponse,
        "description": "The server is at its limit of queued work; retry after `Retry-After`.",
        "content": _examples(
            busy=(
                "Busy",
                {
                    "detail": "the server is busy (4 computing, 64 waiting, the first for "
                    "2.0 s); retry shortly.",
                    "type": "overloaded",
                    "reason": "queue",
                },
            )
        ),
    },
}


def lifecycle(request: Request) -> Lifecycle:
    owner: Lifecycle = request.app.state.lifecycle
    return owner


@router.get("/health", summary="Liveness probe")
async def health() -> Health:
    # On the event loop: a probe must answer even when every compute process is busy.
    return Health(status="ok")


@router.get(
    "/ready",
    summary="Readiness probe: 503 while the server sheds load or is still starting",
    responses={
        503: {
            "model": Readiness,
            "description": "Shedding load, or still starting; retry elsewhere.",
        }
    },
)
async def ready(request: Request) -> Response:
    if lifecycle(request).shedding:
        return NumpyJSONResponse({"status": "shedding"}, status_code=503)
    if lifecycle(request).starting:
        return NumpyJSONResponse({"status": "starting"}, status_code=503)
    return NumpyJSONResponse({"status": "ready"})


@router.post(
    "/derivative",
    summary="f'(x) or f''(x) at many points, with tangent lines",
    response_model=DerivativeResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def derivative(body: DerivativeRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.DERIVATIVE)


@router.post(
    "/gradient",
    summary="∇f at one point or many",
    response_model=GradientResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def gradient(body: GradientRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.GRADIENT)


@router.post(
    "/gradient-field",
    summary="∇f on a grid: the notebook's quiver plot as data",
    response_model=GradientFieldResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def gradient_field(body: GradientFieldRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.GRADIENT_FIELD)


@router.post(
    "/hessian",
    summary="Second partial derivatives at one point or many",
    response_model=HessianResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def hessian(body: HessianRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.HESSIAN)


@router.post(
    "/descent",
    summary="Gradient descent from a starting point: the path to the minimum",
    response_model=DescentResponse,
    responses=ERRORS,
)
async def descent(body: DescentRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.DESCENT)


@router.post(
    "/step-study",
    summary="Error of each formula over step sizes: why h = 1e-50 fails and 1e-4 works",
    response_model=StepStudyResponse,
    responses=ERRORS,
)
async def step_study(body: StepStudyRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, service.STEP_STUDY)


@router.post(
    "/jacobian",
    summary="J of m expressions at one point or many, sharing each stencil's evaluations",
    response_model=JacobianResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def jacobian(body: JacobianRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, vector_service.JACOBIAN)


@router.post(
    "/directional-derivative",
    summary="∇f·u along a direction, by one stencil along it",
    response_model=DirectionalResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def directional_derivative(body: DirectionalRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, vector_service.DIRECTIONAL)


@router.post(
    "/vector-field",
    summary="Divergence, curl or Laplacian on a grid: a heatmap under the arrows",
    response_model=VectorFieldResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def vector_field(body: VectorFieldRequest, request: Request) -> Response:
    return await lifecycle(request).answer(request, body, vector_service.VECTOR_FIELD)
