"""/hessian, /descent, /step-study and `exact: true` on /derivative, over HTTP."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import make_client
from fastapi.testclient import TestClient

Array = np.ndarray[Any, Any]
NOTEBOOK = "0.01*x**2 + 0.1*x"
BOWL = "x0**2 + x1**2"


def _array(values: Any) -> Array:
    """JSON numbers to float64, with null as NaN."""
    return np.array(values, dtype=np.float64)


# ---------------------------------------------------------------- /hessian

# f = x0²·x1 + sin(x1):  f_00 = 2·x1,  f_01 = f_10 = 2·x0,  f_11 = −sin(x1).
SAMPLE = "x0**2*x1 + sin(x1)"


def _sample_hessian(x0: float, x1: float) -> Array:
    return np.array([[2 * x1, 2 * x0], [2 * x0, -math.sin(x1)]])


# The automatic step h ≈ eps^(1/4)·max(|x|, 1) leaves errors of about 1e-8 (h² truncation
# against eps/h² rounding): the tolerance is set well above that, far below any wrong rule.
HESSIAN_ATOL = 1e-6


@pytest.mark.parametrize(
    "point",
    [
        pytest.param([1.0, 2.0], id="schema-example"),
        pytest.param([-0.5, 3.0], id="negative-x0"),
        pytest.param([2.0, -1.0], id="negative-x1"),
        pytest.param([0.0, 0.0], id="origin"),
    ],
)
def test_hessian_at_one_point_is_the_closed_form(client: TestClient, point: list[float]) -> None:
    r = client.post("/hessian", json={"expression": SAMPLE, "point": point})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"variables", "value", "hessian"}
    assert body["variables"] == ["x0", "x1"]
    x0, x1 = point
    assert body["value"] == pytest.approx(x0**2 * x1 + math.sin(x1), rel=1e-15, abs=1e-15)
    np.testing.assert_allclose(body["hessian"], _sample_hessian(x0, x1), atol=HESSIAN_ATOL)


def test_hessian_at_many_points_is_the_closed_form_at_each(client: TestClient) -> None:
    points = [[1.0, 2.0], [-0.5, 3.0], [2.0, -1.0], [10.0, 0.25]]
    r = client.post("/hessian", json={"expression": SAMPLE, "points": points})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"variables", "values", "hessians"}
    expected_values = [x0**2 * x1 + math.sin(x1) for x0, x1 in points]
    np.testing.assert_allclose(body["values"], expected_values, rtol=1e-15)
    expected = np.stack([_sample_hessian(x0, x1) for x0, x1 in points])
    np.testing.assert_allclose(body["hessians"], expected, atol=HESSIAN_ATOL)


def test_hessian_of_a_quadratic_form_is_constant_everywhere(client: TestClient) -> None:
    points = [[0.0, 0.0], [1.0, 2.0], [-3.0, 7.5], [100.0, -250.0], [-40.0, 25.0]]
    body = {"expression": "3*x0**2 + 2*x0*x1 + x1**2", "points": points}
    r = client.post("/hessian", json=body)
    assert r.status_code == 200, r.text
    expected = np.broadcast_to([[6.0, 2.0], [2.0, 2.0]], (len(points), 2, 2))
    np.testing.assert_allclose(r.json()["hessians"], expected, rtol=1e-6, atol=1e-6)


def test_hessian_of_a_vector_expression_names_its_components(client: TestClient) -> None:
    r = client.post("/hessian", json={"expression": "sum(x**2)", "point": [1.0, -2.0, 3.0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variables"] == ["x[0]", "x[1]", "x[2]"]
    assert body["value"] == 14.0
    np.testing.assert_allclose(body["hessian"], 2 * np.eye(3), atol=HESSIAN_ATOL)


def test_hessian_is_exactly_symmetric(client: TestClient) -> None:
    rng = np.random.default_rng(7)
    points = rng.uniform(-2, 2, size=(20, 3)).tolist()
    body = {"expression": "sin(x0*x1) + exp(x1*x2/3) + x0*x2**3", "points": points}
    r = client.post("/hessian", json=body)
    assert r.status_code == 200, r.text
    hessians = _array(r.json()["hessians"])
    assert hessians.shape == (20, 3, 3)
    np.testing.assert_array_equal(hessians, hessians.transpose(0, 2, 1))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"expression": SAMPLE, "points": [[1.0, 2.0], [3.0]]}, id="ragged-points"),
        pytest.param(
            {"expression": SAMPLE, "point": [1.0, 2.0], "method": "forward"}, id="one-sided-method"
        ),
        pytest.param({"expression": SAMPLE, "point": [1.0, 2.0], "bogus": 1}, id="unknown-field"),
        pytest.param(
            {"expression": SAMPLE, "point": [1.0, 2.0], "points": [[1.0, 2.0]]}, id="both"
        ),
        pytest.param({"expression": SAMPLE, "point": [1.0, 2.0], "step": 0}, id="zero-step"),
        pytest.param({"expression": SAMPLE, "point": [1.0]}, id="too-few-coordinates"),
    ],
)
def test_hessian_refuses_a_malformed_request(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/hessian", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


# ---------------------------------------------------------------- /descent


def _descend(client: TestClient, **fields: Any) -> dict[str, Any]:
    r = client.post("/descent", json={"expression": BOWL, "init": [-3.0, 4.0], **fields})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_descent_on_the_notebook_bowl_reaches_the_minimum(client: TestClient) -> None:
    body = _descend(client, learning_rate=0.1, steps=100)
    path = _array(body["path"])
    assert body["variables"] == ["x0", "x1"]
    assert path.shape == (101, 2)
    assert body["iterations"] == 100
    assert body["converged"] is True
    np.testing.assert_allclose(path[-1], [0.0, 0.0], atol=1e-8)
    assert np.all(np.diff(body["values"]) < 0)


def test_descent_path_is_the_closed_form_geometric_sequence(client: TestClient) -> None:
    # On x0² + x1², x ← x − η·2x = (1 − 2η)·x: with η = 0.1 the k-th iterate is 0.8^k·x₀.
    body = _descend(client, learning_rate=0.1, steps=100)
    k = np.arange(101)[:, None]
    expected = 0.8**k * np.array([-3.0, 4.0])
    np.testing.assert_allclose(body["path"], expected, rtol=1e-6, atol=1e-12)
    norms = 2 * np.linalg.norm(expected, axis=1)  # ‖∇f‖ = 2‖x‖
    np.testing.assert_allclose(body["gradient_norms"], norms, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(body["values"], np.sum(expected**2, axis=1), rtol=1e-6, atol=1e-12)


def test_descent_with_a_tolerance_stops_at_the_first_small_gradient(client: TestClient) -> None:
    body = _descend(client, learning_rate=0.1, steps=100, tolerance=1e-3)
    norms = body["gradient_norms"]
    assert body["iterations"] < 100
    assert len(body["path"]) == len(body["values"]) == len(norms) == body["iterations"] + 1
    assert norms[-1] <= 1e-3 < norms[-2]
    assert body["converged"] is True


def test_descent_default_learning_rate_is_one_hundredth(client: TestClient) -> None:
    body = _descend(client, steps=1)
    np.testing.assert_allclose(body["path"][1], [-3.0 * 0.98, 4.0 * 0.98], rtol=1e-9)


@pytest.mark.parametrize(
    ("expression", "init", "learning_rate"),
    [
        pytest.param(BOWL, [-3.0, 4.0], 1.5, id="bowl-overshoots"),
        pytest.param("x**4", [3.0], 1.0, id="quartic-explodes"),
        pytest.param("-x**2", [1.0], 0.5, id="unbounded-below"),
    ],
)
def test_descent_divergence_is_reported_not_raised(
    client: TestClient, expression: str, init: list[float], learning_rate: float
) -> None:
    body = {"expression": expression, "init": init, "learning_rate": learning_rate, "steps": 2000}
    r = client.post("/descent", json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["converged"] is False
    assert None in result["values"]
    assert len(result["path"]) == result["iterations"] + 1


def test_descent_steps_over_the_server_cap_are_too_large() -> None:
    with make_client(max_descent_steps=10) as small:
        r = small.post("/descent", json={"expression": BOWL, "init": [-3.0, 4.0], "steps": 11})
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "steps"


def test_descent_steps_at_the_server_cap_are_accepted() -> None:
    with make_client(max_descent_steps=10) as small:
        r = small.post("/descent", json={"expression": BOWL, "init": [-3.0, 4.0], "steps": 10})
    assert r.status_code == 200, r.text
    assert r.json()["iterations"] == 10


@pytest.mark.parametrize("learning_rate", [0.0, -0.1], ids=["zero", "negative"])
def test_descent_refuses_a_learning_rate_that_is_not_positive(
    client: TestClient, learning_rate: float
) -> None:
    body = {"expression": BOWL, "init": [-3.0, 4.0], "learning_rate": learning_rate}
    r = client.post("/descent", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "learning_rate"


# ---------------------------------------------------------------- /step-study


def _study(client: TestClient, **fields: Any) -> dict[str, Any]:
    r = client.post("/step-study", json=fields)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_step_study_reproduces_the_notebook_h_1e_50_failure(client: TestClient) -> None:
    body = _study(client, expression=NOTEBOOK, point=5, steps=[1e-50])
    assert 5.0 + 1e-50 == 5.0  # why every real difference formula sees no change at all
    f_prime = pytest.approx(0.2, rel=1e-15)  # 0.02·5 + 0.1
    assert body == {
        "variable": "x",
        "point": 5.0,
        "value": pytest.approx(0.75, rel=1e-15),
        "derivative": "0.02*x + 0.1",
        "reference": f_prime,
        "steps": [1e-50],
        "estimates": {"forward": [0.0], "backward": [0.0], "central": [0.0], "complex": [f_prime]},
        "errors": {
            "forward": [f_prime],
            "backward": [f_prime],
            "central": [f_prime],
            "complex": [pytest.approx(0.0, abs=1e-15)],
        },
        "best_step": {"forward": 1e-50, "backward": 1e-50, "central": 1e-50, "complex": 1e-50},
    }


@pytest.fixture(scope="module")
def exp_study(client: TestClient) -> dict[str, Any]:
    return _study(client, expression="exp(x)", point=1)


def test_step_study_default_steps_are_one_per_decade(exp_study: dict[str, Any]) -> None:
    np.testing.assert_allclose(exp_study["steps"], 10.0 ** -np.arange(1, 17), rtol=1e-15)
    assert exp_study["derivative"] == "exp(x)"
    assert exp_study["reference"] == pytest.approx(math.e, rel=1e-15)
    assert set(exp_study["estimates"]) == {"forward", "backward", "central", "complex"}


def test_step_study_errors_are_the_distance_to_e(exp_study: dict[str, Any]) -> None:
    for method, estimates in exp_study["estimates"].items():
        expected = np.abs(_array(estimates) - math.e)
        np.testing.assert_allclose(exp_study["errors"][method], expected, rtol=1e-12, atol=1e-15)


def test_step_study_forward_error_is_smallest_near_sqrt_eps(exp_study: dict[str, Any]) -> None:
    assert 1e-9 <= exp_study["best_step"]["forward"] <= 1e-7


def test_step_study_central_error_is_a_v_with_its_bottom_near_1e_5(
    exp_study: dict[str, Any],
) -> None:
    errors = dict(zip(exp_study["steps"], exp_study["errors"]["central"], strict=True))
    assert 1e-7 <= exp_study["best_step"]["central"] <= 1e-4
    assert errors[1e-1] > 1e-4  # truncation arm: e·h²/6
    assert errors[1e-16] > 1e-3  # rounding arm: about eps·e/h
    assert min(errors.values()) < 1e-9


def test_step_study_complex_step_is_exact_for_small_steps(exp_study: dict[str, Any]) -> None:
    steps, errors = _array(exp_study["steps"]), _array(exp_study["errors"]["complex"])
    assert np.all(errors[steps <= 1e-8] <= 1e-15)


def test_step_study_leaves_out_the_complex_step_for_abs(client: TestClient) -> None:
    body = _study(client, expression="abs(x)", point=1)
    assert set(body["estimates"]) == {"forward", "backward", "central"}
    assert set(body["errors"]) == set(body["best_step"]) == set(body["estimates"])
    assert body["reference"] == 1.0


def test_step_study_uses_the_parameters_in_the_reference(client: TestClient) -> None:
    body = _study(client, expression="a*x**3", point=2, steps=[1e-3], parameters={"a": 5})
    assert body["reference"] == pytest.approx(60.0, rel=1e-15)


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([0.0], id="zero"),
        pytest.param([-1e-3], id="negative"),
        pytest.param([1e-3, 0.0], id="zero-among-others"),
        pytest.param([1e-3] * 201, id="more-than-200"),
        pytest.param([], id="empty"),
    ],
)
def test_step_study_refuses_bad_steps(client: TestClient, steps: list[float]) -> None:
    r = client.post("/step-study", json={"expression": "exp(x)", "point": 1, "steps": steps})
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("steps")


def test_step_study_accepts_200_steps(client: TestClient) -> None:
    body = _study(client, expression="exp(x)", point=1, steps=list(np.logspace(-1, -12, 200)))
    assert len(body["errors"]["central"]) == 200


# ---------------------------------------------------------------- /derivative with exact


def _derivative(client: TestClient, **fields: Any) -> dict[str, Any]:
    r = client.post("/derivative", json=fields)
    assert r.status_code == 200, r.text
    return dict(r.json())


POINTS = [-3.0, 0.0, 1.0, 2.0, 10.0]


def test_exact_derivative_of_sin_is_cos(client: TestClient) -> None:
    body = _derivative(client, expression="sin(x)", points=POINTS, exact=True)
    assert body["exact_expression"] == "cos(x)"
    np.testing.assert_allclose(body["exact"], np.cos(POINTS), rtol=1e-15, atol=1e-16)
    gap = np.abs(_array(body["derivatives"]) - np.cos(POINTS))
    np.testing.assert_allclose(body["errors_vs_exact"], gap, rtol=1e-6, atol=1e-16)
    assert max(body["errors_vs_exact"]) < 1e-8


def test_exact_second_derivative_of_sin_is_minus_sin(client: TestClient) -> None:
    body = _derivative(client, expression="sin(x)", points=POINTS, exact=True, order=2)
    assert body["exact_expression"] == "-sin(x)"
    np.testing.assert_allclose(body["exact"], -np.sin(POINTS), rtol=1e-15, atol=1e-16)
    gap = np.abs(_array(body["derivatives"]) + np.sin(POINTS))
    np.testing.assert_allclose(body["errors_vs_exact"], gap, rtol=1e-6, atol=1e-16)


def test_exact_derivative_of_the_notebook_function(client: TestClient) -> None:
    body = _derivative(client, expression=NOTEBOOK, points=[5, 10], exact=True)
    assert body["exact_expression"] == "0.02*x + 0.1"
    np.testing.assert_allclose(body["exact"], [0.2, 0.3], rtol=1e-15)


def test_exact_derivative_over_a_range_uses_its_points(client: TestClient) -> None:
    body = _derivative(
        client, expression="x**3", range={"start": -2, "stop": 2, "num": 5}, exact=True
    )
    np.testing.assert_allclose(body["exact"], [12.0, 3.0, 0.0, 3.0, 12.0], rtol=1e-15)


@pytest.mark.parametrize(
    ("fields", "text", "exact"),
    [
        pytest.param({"expression": "3*x"}, "3", [3.0, 3.0], id="linear"),
        pytest.param({"expression": "x"}, "1", [1.0, 1.0], id="identity"),
        pytest.param({"expression": "5"}, "0", [0.0, 0.0], id="constant"),
        pytest.param({"expression": NOTEBOOK, "order": 2}, "0.02", [0.02, 0.02], id="notebook-f2"),
        pytest.param(
            {"expression": "x*y", "variable": "x", "parameters": {"y": 4}},
            "y",
            [4.0, 4.0],
            id="parameter",
        ),
    ],
)
def test_exact_derivative_that_is_a_constant_is_returned_at_every_point(
    client: TestClient, fields: dict[str, Any], text: str, exact: list[float]
) -> None:
    body = _derivative(client, points=[1.0, 2.0], exact=True, **fields)
    assert body["exact_expression"] == text
    assert body["exact"] == pytest.approx(exact, rel=1e-15)


def test_exact_derivative_with_parameters_substitutes_them(client: TestClient) -> None:
    body = _derivative(client, expression="a*x**2", points=[1, 2], exact=True, parameters={"a": 3})
    np.testing.assert_allclose(body["exact"], [6.0, 12.0], rtol=1e-15)


@pytest.mark.parametrize(
    "fields",
    [pytest.param({}, id="omitted"), pytest.param({"exact": False}, id="false")],
)
def test_exact_fields_are_absent_without_exact(client: TestClient, fields: dict[str, Any]) -> None:
    body = _derivative(client, expression="sin(x)", points=POINTS, **fields)
    assert {"exact", "errors_vs_exact", "exact_expression"}.isdisjoint(body)
    assert "derivatives" in body


def test_an_exact_derivative_that_grows_too_large_is_refused_quickly(client: TestClient) -> None:
    product = "*".join(["sin(x)"] * 60)  # its second derivative has ~60² product terms
    request = {"expression": product, "points": [0.1], "exact": True, "order": 2}
    r = client.post("/derivative", json=request)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "derivative"
