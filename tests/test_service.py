"""The service layer: the work budget and what it leaves for refinement."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app import numerics, service
from app.config import Settings
from app.errors import MethodError, RequestError, TooLargeError
from app.schemas import (
    DerivativeRequest,
    GradientFieldRequest,
)


def test_the_refinement_limit_is_what_the_work_budget_leaves() -> None:
    request = DerivativeRequest.model_validate({"expression": "1/x", "points": [1e-8]})
    expression = service.parse_counted("1/x", Settings())
    settings = Settings(max_work=10_000_000)
    work = service.check_work(expression, 1, 1, request, 1, settings)
    # central accuracy 2: 2 off-center evaluations at each of 25 steps, and where smaller
    # steps disagree, 8 that measure f's noise (`ladders._rounding_noise`); 3 nodes per point
    per_point = ((numerics.SHRINK_LEVELS + 1) * 2 + 8) * expression.node_count
    limit = service.refine_limit(expression, 1, request, work, settings)
    assert limit == (10_000_000 - work) // per_point
    assert service.refine_limit(expression, 1, request, 10_000_000, settings) == 0


def test_a_range_up_to_the_largest_float_yields_finite_points() -> None:
    # Found by the fuzz test: linspace warned of an overflow (an error under pytest).
    spec = DerivativeRequest.model_validate(
        {"expression": "x", "range": {"start": 0.001, "stop": 1.7976931348623157e308, "num": 1000}}
    ).range
    assert spec is not None
    values = service.axis_values(spec)
    assert values.shape == (1000,)
    assert np.all(np.isfinite(values))
    assert values[-1] == 1.7976931348623157e308
    assert np.all(np.diff(values) > 0)


def _field(axes: int) -> GradientFieldRequest:
    return GradientFieldRequest.model_validate(
        {"expression": "sum(x**2)", "grid": [{"start": 0, "stop": 1, "num": 1}] * axes}
    )


def test_a_grid_of_more_axes_than_numpy_broadcasts_is_refused_before_any_axis_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unexpected(spec: Any) -> None:
        raise AssertionError("the limit is checked before the axes are computed")

    monkeypatch.setattr(service, "axis_values", unexpected)
    with pytest.raises(TooLargeError, match=r"^`grid` has 33 axes; the limit is 32 \(") as caught:
        service.gradient_field(_field(numerics.MAX_GRID_AXES + 1), Settings())
    assert caught.value.reason == "dimensions"


def test_a_lower_configured_dimension_limit_is_the_one_a_grid_is_refused_with() -> None:
    with pytest.raises(TooLargeError, match=r"^`grid` has 5 axes; the limit is 4 \(use fewer"):
        service.gradient_field(_field(5), Settings(max_dimensions=4))


def test_a_tolerance_is_charged_every_step_it_may_try_before_computing() -> None:
    # 10^5 points of sin(x): the first answer fits the budget, its 44 more evaluations do not.
    request = DerivativeRequest.model_validate(
        {"expression": "sin(x)", "range": {"start": 0, "stop": 1, "num": 100_000}}
    )
    settings = Settings(max_work=5_000_000)
    service.derivative(request, settings)
    tight = DerivativeRequest.model_validate(request.model_dump() | {"tolerance": {"rtol": 1e-12}})
    with pytest.raises(TooLargeError, match="`tolerance`") as caught:
        service.derivative(tight, settings)
    assert caught.value.context["reason"] == "work"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(None, [], id="no-flags"),
        pytest.param(np.zeros(1, dtype=bool), [], id="one-point-trusted"),
        pytest.param(np.array([False, True, True]), [1, 2], id="few"),
        pytest.param(np.array([[False, True], [True, False]]), [1, 2], id="grid"),
        pytest.param(np.arange(40) % 13 == 5, [5, 18, 31], id="many"),
        pytest.param(np.zeros(40, dtype=bool), [], id="many-trusted"),
    ],
)
def test_unreliable_lists_the_flat_indices_of_the_flagged_points(
    flags: np.ndarray | None, expected: list[int]
) -> None:
    found = service.unreliable(flags)
    assert found == expected
    assert all(type(i) is int for i in found)  # JSON writes Python ints as they are


@pytest.mark.parametrize(
    ("error", "kind", "field"),
    [
        pytest.param(numerics.MethodUnavailable("no", field="method"), MethodError, "method"),
        pytest.param(numerics.NumericsError("bad", field="step"), RequestError, "step"),
    ],
)
def test_the_engines_errors_become_client_errors_naming_their_field(
    error: Exception, kind: type[Exception], field: str
) -> None:
    with pytest.raises(kind) as raised, service.engine_errors():
        raise error
    assert raised.value.field == field  # type: ignore[attr-defined]
    assert str(raised.value) == str(error)
    assert raised.value.__cause__ is None


def test_other_errors_pass_through_the_engines_error_translation() -> None:
    with pytest.raises(KeyError), service.engine_errors():
        raise KeyError("x")
