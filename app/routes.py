"""HTTP routes: validated request in → service (expression → numerics) → response out.

Compute routes are plain `def`: FastAPI runs them in the threadpool, so evaluation and
orjson encoding of large results never block the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app import service
from app.config import Settings
from app.http import StrictJSONRoute, json_response
from app.schemas import (
    DerivativeRequest,
    DerivativeResponse,
    DescentRequest,
    DescentResponse,
    ErrorResponse,
    GradientFieldRequest,
    GradientFieldResponse,
    GradientRequest,
    GradientResponse,
    Health,
    HessianRequest,
    HessianResponse,
    StepStudyRequest,
    StepStudyResponse,
)

router = APIRouter(route_class=StrictJSONRoute)


def app_settings(request: Request) -> Settings:
    """The settings `create_app` was built with (tests build apps with other limits)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Body, points, grid or work over the limit."},
    415: {"model": ErrorResponse, "description": "The body is not `application/json`."},
    422: {
        "model": ErrorResponse,
        "description": "Invalid JSON (NaN, duplicate keys, ...), request or expression.",
    },
}


def respond(request: Request, payload: dict[str, Any], points: int) -> Response:
    request.state.points = points  # for the access log
    return json_response(payload)


@router.get("/health", summary="Liveness and readiness probe")
def health() -> Health:
    return Health(status="ok")


@router.post(
    "/derivative",
    summary="f'(x) or f''(x) at many points, with tangent lines",
    response_model=DerivativeResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def derivative(body: DerivativeRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.derivative(body, settings)
    return respond(request, payload, len(payload["points"]))


@router.post(
    "/gradient",
    summary="∇f at one point or many",
    response_model=GradientResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def gradient(body: GradientRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.gradient(body, settings)
    return respond(request, payload, 1 if body.point is not None else len(body.points or ()))


@router.post(
    "/gradient-field",
    summary="∇f on a grid: the notebook's quiver plot as data",
    response_model=GradientFieldResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def gradient_field(body: GradientFieldRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.gradient_field(body, settings)
    return respond(request, payload, service.grid_size(body))


@router.post(
    "/hessian",
    summary="Second partial derivatives at one point or many",
    response_model=HessianResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def hessian(body: HessianRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.hessian(body, settings)
    return respond(request, payload, 1 if body.point is not None else len(body.points or ()))


@router.post(
    "/descent",
    summary="Gradient descent from a starting point: the path to the minimum",
    response_model=DescentResponse,
    responses=ERRORS,
)
def descent(body: DescentRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.descent(body, settings)
    return respond(request, payload, len(payload["values"]))


@router.post(
    "/step-study",
    summary="Error of each formula over step sizes: why h = 1e-50 fails and 1e-4 works",
    response_model=StepStudyResponse,
    responses=ERRORS,
)
def step_study(body: StepStudyRequest, request: Request, settings: SettingsDep) -> Response:
    payload = service.step_study(body, settings)
    return respond(request, payload, len(payload["steps"]))
