"""HTTP routes: validated request in → service (expression → numerics) → response out.

Heavy work never runs on the event loop: `answer` hands a request to the compute threads
(app.lifecycle) unless `service.is_light` says it is tiny (a few points of a short
expression). For those, the two thread hops cost more than the work itself: measured with
wrk, answering inline took 1-point /derivative from 1,043 to about 2,500 requests per
second on one worker (bench/profile.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import service
from app.config import Settings
from app.http import NumpyJSONResponse, StrictJSONRoute, json_response
from app.lifecycle import HEAVY_SIZE, Lifecycle
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
    Readiness,
    StepStudyRequest,
    StepStudyResponse,
)

router = APIRouter(route_class=StrictJSONRoute)


ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Body, points, grid or work over the limit."},
    415: {"model": ErrorResponse, "description": "The body is not `application/json`."},
    422: {
        "model": ErrorResponse,
        "description": "Invalid JSON (NaN, duplicate keys, ...), request or expression.",
    },
}


async def answer(
    request: Request, compute: Callable[[Any, Settings], dict[str, Any]], body: Any
) -> Response:
    # The settings `create_app` was built with (tests build apps with other limits); read
    # here rather than through a dependency, which costs every request a resolution step.
    settings: Settings = request.app.state.settings

    def work() -> Response:
        response = json_response(compute(body, settings))  # encoding happens here too
        request.state.points = service.point_count(body)  # for the access log
        return response

    if service.is_light(body):
        return work()
    lifecycle: Lifecycle = request.app.state.lifecycle
    if service.size(body) >= HEAVY_SIZE:
        await lifecycle.admission.enter(request)  # given back when sent (app.http)
    return await lifecycle.scheduler.run(work)


@router.get("/health", summary="Liveness probe")
async def health() -> Health:
    # On the event loop: a probe must answer even when every compute thread is busy.
    return Health(status="ok")


@router.get(
    "/ready",
    summary="Readiness probe: 503 while the server sheds load",
    responses={503: {"model": Readiness, "description": "Shedding load; retry elsewhere."}},
)
async def ready(request: Request) -> Response:
    lifecycle: Lifecycle = request.app.state.lifecycle
    if lifecycle.scheduler.shedding:
        return NumpyJSONResponse({"status": "shedding"}, status_code=503)
    return NumpyJSONResponse({"status": "ready"})


@router.post(
    "/derivative",
    summary="f'(x) or f''(x) at many points, with tangent lines",
    response_model=DerivativeResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def derivative(body: DerivativeRequest, request: Request) -> Response:
    return await answer(request, service.derivative, body)


@router.post(
    "/gradient",
    summary="∇f at one point or many",
    response_model=GradientResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def gradient(body: GradientRequest, request: Request) -> Response:
    return await answer(request, service.gradient, body)


@router.post(
    "/gradient-field",
    summary="∇f on a grid: the notebook's quiver plot as data",
    response_model=GradientFieldResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def gradient_field(body: GradientFieldRequest, request: Request) -> Response:
    return await answer(request, service.gradient_field, body)


@router.post(
    "/hessian",
    summary="Second partial derivatives at one point or many",
    response_model=HessianResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def hessian(body: HessianRequest, request: Request) -> Response:
    return await answer(request, service.hessian, body)


@router.post(
    "/descent",
    summary="Gradient descent from a starting point: the path to the minimum",
    response_model=DescentResponse,
    responses=ERRORS,
)
async def descent(body: DescentRequest, request: Request) -> Response:
    return await answer(request, service.descent, body)


@router.post(
    "/step-study",
    summary="Error of each formula over step sizes: why h = 1e-50 fails and 1e-4 works",
    response_model=StepStudyResponse,
    responses=ERRORS,
)
async def step_study(body: StepStudyRequest, request: Request) -> Response:
    return await answer(request, service.step_study, body)
