"""In-process tests of the HTTP contract (issue #4): every field, every rule, every error path.

The oracles are independent of the engine: closed-form derivatives, NumPy's own `arange`,
`linspace` and `meshgrid`, and the numbers the original notebook printed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import make_client
from fastapi.testclient import TestClient

NOTEBOOK = {"expression": "0.01*x**2 + 0.1*x", "points": [5, 10], "step": 1e-4}
DERIVATIVE_FIELDS = {"variable", "method", "points", "values", "derivatives", "intercepts", "steps"}
SMALL_RESPONSE_BYTES = 2048
HUGE_LIST = 200_000


def post_raw(
    client: TestClient, path: str, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return client.post(path, content=content, headers={"content-type": content_type})


def assert_error(r: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """A client error: the status, a JSON body, and a `detail` sentence naming the problem."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body["detail"], str), body
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def meshgrid_flat(*axes: np.ndarray, indexing: str = "xy") -> list[list[float]]:
    return [grid.ravel().tolist() for grid in np.meshgrid(*axes, indexing=indexing)]


# ---------------------------------------------------------------- /derivative


def test_derivative_reproduces_the_notebook_tangent_lines(client: TestClient) -> None:
    r = client.post("/derivative", json=NOTEBOOK)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variable": "x",
        "method": "central",
        "points": [5.0, 10.0],
        "values": [0.75, 2.0],
        "derivatives": [0.1999999999990898, 0.2999999999986347],
        "intercepts": pytest.approx([-0.25, -1.0], abs=1e-10),
        "steps": [1e-4, 1e-4],
    }


def test_derivative_response_has_exactly_the_contract_fields(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "sin(x)", "points": [0.5]})
    assert r.status_code == 200, r.text
    assert set(r.json()) == DERIVATIVE_FIELDS


def test_range_with_step_follows_arange_and_excludes_stop(client: TestClient) -> None:
    spec = {"start": -1, "stop": 1, "step": 0.25}
    r = client.post("/derivative", json={"expression": "x**2", "range": spec})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = np.arange(-1, 1, 0.25)
    assert body["points"] == expected.tolist()
    assert 1.0 not in body["points"]
    np.testing.assert_allclose(body["derivatives"], 2 * expected, atol=1e-8)


def test_range_with_a_negative_step_counts_down(client: TestClient) -> None:
    spec = {"start": 1, "stop": 0, "step": -0.25}
    r = client.post("/derivative", json={"expression": "x**2", "range": spec})
    assert r.status_code == 200, r.text
    assert r.json()["points"] == [1.0, 0.75, 0.5, 0.25]


def test_range_with_num_follows_linspace_and_includes_stop(client: TestClient) -> None:
    spec = {"start": 0, "stop": 2, "num": 9}
    r = client.post("/derivative", json={"expression": "x**3", "range": spec})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = np.linspace(0, 2, 9)
    assert body["points"] == expected.tolist()
    assert body["points"][-1] == 2.0
    np.testing.assert_allclose(body["derivatives"], 3 * expected**2, rtol=1e-8, atol=1e-9)


def test_variable_is_detected_when_the_expression_has_one_free_name(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "t**3", "points": [2]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variable"] == "t"
    np.testing.assert_allclose(body["derivatives"], [12.0], rtol=1e-8)


def test_variable_is_required_when_the_expression_has_several_names(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "a*x**2", "points": [1]})
    body = assert_error(r, 422, "`variable`", "`a`", "`x`")
    assert body["field"] == "variable"


def test_parameters_fix_the_other_names(client: TestClient) -> None:
    request = {"expression": "a*x**2", "points": [1, 2], "parameters": {"a": 3}}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variable"] == "x"
    assert body["values"] == [3.0, 12.0]
    np.testing.assert_allclose(body["derivatives"], [6.0, 12.0], rtol=1e-8)


def test_variable_chooses_the_name_to_differentiate_by(client: TestClient) -> None:
    request = {"expression": "a*x**2", "variable": "a", "points": [1], "parameters": {"x": 3}}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variable"] == "a"
    np.testing.assert_allclose(body["derivatives"], [9.0], rtol=1e-8)


def test_second_derivative_has_null_intercepts(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "x**3", "points": [1, 2], "order": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intercepts"] is None
    assert body["values"] == [1.0, 8.0]
    np.testing.assert_allclose(body["derivatives"], [6.0, 12.0], rtol=1e-6)


@pytest.mark.parametrize("method", ["central", "forward", "backward", "complex"])
def test_every_method_matches_the_closed_form(client: TestClient, method: str) -> None:
    x = [-1.0, 0.0, 2.0]
    r = client.post("/derivative", json={"expression": "exp(x)", "points": x, "method": method})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == method
    np.testing.assert_allclose(body["derivatives"], np.exp(x), rtol=1e-6)


def test_complex_step_is_exact_to_rounding(client: TestClient) -> None:
    x = [0.3, 1.0, 2.0]
    r = client.post("/derivative", json={"expression": "sin(x)", "points": x, "method": "complex"})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["derivatives"], np.cos(x), rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("abs(x)", id="abs"),
        pytest.param("where(x > 0, x, 0)", id="where"),
        pytest.param("relu(x)", id="relu"),
    ],
)
def test_complex_step_is_refused_for_non_analytic_expressions(
    client: TestClient, expression: str
) -> None:
    r = client.post(
        "/derivative", json={"expression": expression, "points": [1], "method": "complex"}
    )
    body = assert_error(r, 422, "`complex`")
    assert body["field"] == "method"


def test_complex_step_is_refused_for_second_derivatives(client: TestClient) -> None:
    request = {"expression": "x**2", "points": [1], "method": "complex", "order": 2}
    body = assert_error(client.post("/derivative", json=request), 422, "`complex`")
    assert body["field"] == "method"


@pytest.mark.parametrize(
    ("method", "accuracy"),
    [
        pytest.param(method, accuracy, id=f"{method}-{accuracy}")
        for method, accuracies in [
            ("central", (2, 4, 6, 8)),
            ("forward", (1, 2, 4, 6, 8)),
            ("backward", (1, 2, 4, 6, 8)),
        ]
        for accuracy in accuracies
    ],
)
def test_accuracy_sets_the_order_of_the_truncation_error(
    client: TestClient, method: str, accuracy: int
) -> None:
    # With h = 0.1 the error of an O(h^p) stencil on exp at 0 is below h^p, and a lower
    # order (accuracy ignored) would miss that bound by orders of magnitude.
    h = 0.1
    request = {
        "expression": "exp(x)",
        "points": [0],
        "method": method,
        "accuracy": accuracy,
        "step": h,
    }
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    assert abs(r.json()["derivatives"][0] - 1.0) < h**accuracy


def test_error_estimate_adds_errors_that_bound_the_actual_error(client: TestClient) -> None:
    x = np.array([0.5, 1.0, 2.0, 3.0])
    request = {"expression": "exp(x)", "points": x.tolist(), "error_estimate": True}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == DERIVATIVE_FIELDS | {"errors"}
    errors = np.array(body["errors"])
    actual = np.abs(np.array(body["derivatives"]) - np.exp(x))
    assert np.all(errors > 0)
    assert np.all(errors < 1e-6)
    assert np.all(actual <= 2 * errors)


def test_errors_are_absent_without_error_estimate(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "exp(x)", "points": [1]})
    assert r.status_code == 200, r.text
    assert "errors" not in r.json()


def test_a_given_step_is_used_exactly(client: TestClient) -> None:
    # The central difference of x³ is exactly 3x² + h²: it shows which h was used.
    h = 0.1
    request = {"expression": "x**3", "points": [1, 10], "step": h}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["steps"] == [h, h]
    np.testing.assert_allclose(body["derivatives"], [3 + h**2, 300 + h**2], rtol=1e-12)


def test_non_finite_results_are_null_with_status_200(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "log(x)", "points": [-1, 1]})
    assert r.status_code == 200, r.text
    assert "NaN" not in r.text
    body = r.json()
    assert body["values"] == [None, 0.0]
    assert body["derivatives"][0] is None
    assert body["intercepts"][0] is None
    np.testing.assert_allclose(body["derivatives"][1], 1.0, rtol=1e-8)


def test_a_pole_gives_a_null_value_and_intercept(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "1/x", "points": [0, 1]})
    assert r.status_code == 200, r.text
    assert "Infinity" not in r.text
    body = r.json()
    assert body["values"] == [None, 1.0]
    assert body["intercepts"][0] is None
    np.testing.assert_allclose(body["derivatives"][1], -1.0, rtol=1e-8)


def test_the_derivative_next_to_a_pole_is_right(client: TestClient) -> None:
    # The automatic step (~6e-6) is wider than 1/x's scale at 1e-8: refined, not garbage.
    r = client.post("/derivative", json={"expression": "1/x", "points": [1e-8, -1e-3, 2.0]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["derivatives"], [-1e16, -1e6, -0.25], rtol=1e-8)


def test_the_derivative_at_an_inflection_point_far_out_is_right(client: TestClient) -> None:
    # At 318310π ≈ 1e6 the automatic step is ≈ 6 and sin is straight across it (f'' = 0):
    # without the check by f(x + 2h) the answer was −0.037.
    x = 318310 * math.pi
    r = client.post("/derivative", json={"expression": "sin(x)", "points": [x, 2.0]})
    assert r.status_code == 200
    np.testing.assert_allclose(r.json()["derivatives"], [math.cos(x), math.cos(2.0)], rtol=1e-8)


def test_a_gradient_field_near_a_singular_line_is_right(client: TestClient) -> None:
    grid = [{"start": 1e-6, "stop": 1e-3, "num": 50}, {"start": -1, "stop": 1, "num": 7}]
    r = client.post("/gradient-field", json={"expression": "log(x0) * x1", "grid": grid})
    assert r.status_code == 200, r.text
    x0, x1 = np.array(r.json()["coordinates"])
    np.testing.assert_allclose(r.json()["gradient"], [x1 / x0, np.log(x0)], rtol=1e-8, atol=1e-12)


def test_the_derivative_at_a_pole_is_null(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "1/x", "points": [0]})
    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == [None]


def test_a_vector_expression_is_refused_by_derivative(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "sum(x**2)", "points": [1]})
    body = assert_error(r, 422, "/gradient")
    assert body["field"] == "expression"


# ---------------------------------------------------------------- /gradient


def test_gradient_at_one_point(client: TestClient) -> None:
    r = client.post("/gradient", json={"expression": "x0**2 + x1**2", "point": [3, 4]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x0", "x1"],
        "value": 25.0,
        "gradient": pytest.approx([6.0, 8.0], rel=1e-8),
    }


def test_gradient_at_many_points(client: TestClient) -> None:
    request = {"expression": "x0**2 + x1**2", "points": [[3, 4], [0, 2], [-1, 0.5]]}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x0", "x1"],
        "values": [25.0, 4.0, 1.25],
        "gradients": [
            pytest.approx([6.0, 8.0], rel=1e-8),
            pytest.approx([0.0, 4.0], rel=1e-8, abs=1e-12),
            pytest.approx([-2.0, 1.0], rel=1e-8),
        ],
    }


def test_gradient_of_a_vector_expression_names_its_components(client: TestClient) -> None:
    r = client.post("/gradient", json={"expression": "sum(x**2)", "point": [3, 4]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x[0]", "x[1]"],
        "value": 25.0,
        "gradient": pytest.approx([6.0, 8.0], rel=1e-8),
    }


def test_gradient_of_indexed_components(client: TestClient) -> None:
    r = client.post("/gradient", json={"expression": "x[0]**2 + 3*x[1]", "point": [3, 4]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x[0]", "x[1]"],
        "value": 21.0,
        "gradient": pytest.approx([6.0, 3.0], rel=1e-8),
    }


def test_reversed_variables_reverse_the_gradient(client: TestClient) -> None:
    request = {"expression": "x0**2 + 3*x1", "point": [4, 3], "variables": ["x1", "x0"]}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x1", "x0"],
        "value": 21.0,
        "gradient": pytest.approx([3.0, 6.0], rel=1e-8),
    }


def test_an_unused_variable_gets_a_zero_partial(client: TestClient) -> None:
    request = {"expression": "x0**2 + x1**2", "point": [3, 4, 5], "variables": ["x0", "x1", "x2"]}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "variables": ["x0", "x1", "x2"],
        "value": 25.0,
        "gradient": pytest.approx([6.0, 8.0, 0.0], rel=1e-8),
    }


def test_gradient_with_the_complex_step_is_exact(client: TestClient) -> None:
    request = {"expression": "x0**2 * x1", "point": [3, 4], "method": "complex"}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == {"variables": ["x0", "x1"], "value": 36.0, "gradient": [24.0, 9.0]}


def test_gradient_error_estimate_is_shaped_like_the_gradients(client: TestClient) -> None:
    request = {"expression": "x0**2 + x1**2", "points": [[3, 4], [1, 2]], "error_estimate": True}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    errors = np.array(r.json()["errors"])
    assert errors.shape == (2, 2)
    assert np.all((errors > 0) & (errors < 1e-6))


def test_ragged_points_are_refused(client: TestClient) -> None:
    request = {"expression": "x0 + x1", "points": [[3, 4], [5]]}
    body = assert_error(client.post("/gradient", json=request), 422, "same number of coordinates")
    assert body["field"] == "points"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"point": [3, 4], "points": [[3, 4]]}, id="both"),
        pytest.param({}, id="neither"),
    ],
)
def test_exactly_one_of_point_or_points_is_required(
    client: TestClient, fields: dict[str, Any]
) -> None:
    r = client.post("/gradient", json={"expression": "x0 + x1", **fields})
    assert_error(r, 422, "`point`", "`points`")


def test_a_point_with_more_coordinates_than_variables_is_refused(client: TestClient) -> None:
    r = client.post("/gradient", json={"expression": "x0**2 + x1**2", "point": [3, 4, 5]})
    body = assert_error(r, 422, "3 coordinates", "2 variables")
    assert body["field"] == "variables"


def test_an_empty_points_list_is_refused_by_gradient(client: TestClient) -> None:
    r = client.post("/gradient", json={"expression": "x0 + x1", "points": []})
    body = assert_error(r, 422)
    assert body["field"] == "points"


# ---------------------------------------------------------------- /gradient-field


def test_gradient_field_is_the_notebook_quiver_data(client: TestClient) -> None:
    axis = {"start": -2, "stop": 2.5, "step": 0.25}
    request = {"expression": "x0**2 + x1**2", "grid": [axis, axis]}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    x = np.arange(-2, 2.5, 0.25)
    coordinates = meshgrid_flat(x, x)
    assert set(body) == {"variables", "axes", "shape", "coordinates", "values", "gradient"}
    assert body["variables"] == ["x0", "x1"]
    assert body["axes"] == [x.tolist(), x.tolist()]
    assert body["shape"] == [18, 18]
    assert body["coordinates"] == coordinates
    c = np.array(coordinates)
    np.testing.assert_allclose(body["values"], c[0] ** 2 + c[1] ** 2, rtol=1e-15)
    np.testing.assert_allclose(body["gradient"], 2 * c, atol=1e-8)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_indexing_lays_out_the_grid_as_meshgrid_does(client: TestClient, indexing: str) -> None:
    grid = [{"start": 0, "stop": 3, "step": 1}, {"start": 10, "stop": 11, "num": 2}]
    request = {"expression": "x0**2 + 3*x1", "grid": grid, "indexing": indexing}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    a, b = np.arange(0, 3, 1.0), np.linspace(10, 11, 2)
    mesh = np.meshgrid(a, b, indexing=indexing)
    c = np.array(meshgrid_flat(a, b, indexing=indexing))
    assert body["axes"] == [a.tolist(), b.tolist()]
    assert body["shape"] == list(mesh[0].shape)
    assert body["coordinates"] == c.tolist()
    assert body["values"] == (c[0] ** 2 + 3 * c[1]).tolist()
    np.testing.assert_allclose(body["gradient"], [2 * c[0], np.full(6, 3.0)], atol=1e-8)


def test_indexing_defaults_to_xy(client: TestClient) -> None:
    grid = [{"start": 0, "stop": 1, "num": 3}, {"start": 0, "stop": 1, "num": 2}]
    r = client.post("/gradient-field", json={"expression": "x0 * x1", "grid": grid})
    assert r.status_code == 200, r.text
    assert r.json()["shape"] == [2, 3]


def test_gradient_field_on_a_three_dimensional_grid(client: TestClient) -> None:
    grid = [
        {"start": 0, "stop": 1, "num": 2},
        {"start": 1, "stop": 2, "num": 3},
        {"start": -1, "stop": 1, "step": 0.5},
    ]
    r = client.post("/gradient-field", json={"expression": "x*y*z", "grid": grid})
    assert r.status_code == 200, r.text
    body = r.json()
    axes = [np.linspace(0, 1, 2), np.linspace(1, 2, 3), np.arange(-1, 1, 0.5)]
    x, y, z = np.array(meshgrid_flat(*axes))
    assert body["variables"] == ["x", "y", "z"]
    assert body["shape"] == list(np.meshgrid(*axes)[0].shape)
    assert body["coordinates"] == [x.tolist(), y.tolist(), z.tolist()]
    np.testing.assert_allclose(body["values"], x * y * z, atol=1e-15)
    np.testing.assert_allclose(body["gradient"], [y * z, x * z, x * y], atol=1e-8)


def test_gradient_field_variables_choose_the_name_of_each_axis(client: TestClient) -> None:
    grid = [{"start": 0, "stop": 1, "num": 2}, {"start": 5, "stop": 7, "num": 3}]
    request = {"expression": "x0**2 + 3*x1", "grid": grid, "variables": ["x1", "x0"]}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    x1, x0 = np.array(meshgrid_flat(np.linspace(0, 1, 2), np.linspace(5, 7, 3)))
    assert body["variables"] == ["x1", "x0"]
    assert body["coordinates"] == [x1.tolist(), x0.tolist()]
    np.testing.assert_allclose(body["gradient"], [np.full(6, 3.0), 2 * x0], atol=1e-8)


@pytest.mark.parametrize(
    "num", [pytest.param(40, id="40x40"), pytest.param(300, id="300x300-streamed")]
)
def test_float32_precision_rounds_every_array_and_halves_the_bytes(
    client: TestClient, num: int
) -> None:
    grid = [{"start": -1.3, "stop": 2.1, "num": num}, {"start": 0.7, "stop": 3.3, "num": num}]
    request = {"expression": "sin(x0)*x1 + x1**3/7", "grid": grid}
    double = client.post("/gradient-field", json=request)
    single = client.post("/gradient-field", json=request | {"precision": "float32"})
    assert double.status_code == single.status_code == 200, single.text
    a, b = double.json(), single.json()
    for key in ("axes", "coordinates", "values", "gradient"):
        # The float32 text reads back as the float32 nearest the float64 answer.
        expected = np.asarray(a[key], dtype=np.float64).astype(np.float32)
        np.testing.assert_array_equal(
            np.asarray(b[key], dtype=np.float64).astype(np.float32), expected
        )
    x0, x1 = np.array(b["coordinates"], dtype=np.float64)
    np.testing.assert_allclose(
        b["gradient"], [np.cos(x0) * x1, np.sin(x0) + 3 * x1**2 / 7], rtol=1e-6, atol=1e-6
    )
    assert len(single.content) < 0.65 * len(double.content)


def test_float32_precision_writes_values_beyond_its_range_as_null(client: TestClient) -> None:
    grid = [{"start": 85, "stop": 95, "num": 3}]
    r = client.post(
        "/gradient-field", json={"expression": "exp(x)", "grid": grid, "precision": "float32"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["values"][0] == pytest.approx(np.exp(85), rel=1e-6)  # 8.2e36 fits
    assert body["values"][1:] == [None, None]  # e^90 and e^95 exceed 3.4e38
    assert body["gradient"][0][1:] == [None, None]


def test_float32_precision_refuses_grid_points_beyond_its_range(client: TestClient) -> None:
    # Found by schemathesis: an axis value of -3.4028235677973366e+38 overflows float32, and
    # the schema promises numbers for axes and coordinates.
    grid = [{"start": -3.4028235677973366e38, "stop": 0.0, "num": 3}]
    request = {"expression": "sum(x**2)", "grid": grid, "precision": "float32"}
    body = assert_error(client.post("/gradient-field", json=request), 422, "float32", "grid[0]")
    assert body["field"] == "precision"
    r = client.post("/gradient-field", json=request | {"precision": "float64"})
    assert r.status_code == 200, r.text


def test_precision_must_be_float64_or_float32(client: TestClient) -> None:
    grid = [{"start": 0, "stop": 1, "num": 3}]
    r = client.post("/gradient-field", json={"expression": "x", "grid": grid, "precision": "half"})
    body = assert_error(r, 422, "precision")
    assert body["field"] == "precision"


def test_a_million_point_field_works_with_default_limits(client: TestClient) -> None:
    axis = {"start": -2, "stop": 2, "num": 1000}
    r = client.post("/gradient-field", json={"expression": "x0**2 + x1**2", "grid": [axis, axis]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shape"] == [1000, 1000]
    assert len(body["values"]) == 1_000_000
    assert len(body["gradient"][1]) == 1_000_000


# ---------------------------------------------------------------- strict JSON bodies


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b'{"expression": "x", "points": [NaN]}', "NaN", id="nan"),
        pytest.param(b'{"expression": "x", "points": [Infinity]}', "Infinity", id="infinity"),
        pytest.param(
            b'{"expression": "x", "points": [-Infinity]}', "-Infinity", id="minus-infinity"
        ),
        pytest.param(
            b'{"expression": "x", "expression": "y", "points": [1]}',
            "`expression` appears twice",
            id="duplicate-key",
        ),
        pytest.param(b'{"expression": "x\xff", "points": [1]}', "UTF-8", id="invalid-utf8"),
        pytest.param(
            b'{"expression": "x\\ud800", "points": [1]}', "surrogate", id="lone-surrogate"
        ),
        pytest.param(
            b'{"expression": "x", "points": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "nested too deeply",
            id="deep-nesting",
        ),
        pytest.param(b'{"expression": "x", "points": [1]', "not valid JSON", id="truncated"),
        pytest.param(b"", "empty", id="empty-body"),
    ],
)
def test_a_body_that_is_not_strict_json_is_refused(
    client: TestClient, content: bytes, fragment: str
) -> None:
    assert_error(post_raw(client, "/derivative", content), 422, fragment)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b"1", id="number"),
        pytest.param(b'"x"', id="string"),
    ],
)
def test_a_body_that_is_not_an_object_is_refused(client: TestClient, content: bytes) -> None:
    assert_error(post_raw(client, "/derivative", content), 422, "object")


def test_a_number_that_overflows_to_infinity_is_refused(client: TestClient) -> None:
    r = post_raw(client, "/derivative", b'{"expression": "x", "points": [1, 1e400]}')
    body = assert_error(r, 422, "`points[1]`", "finite")
    assert body["field"] == "points[1]"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        pytest.param({"points": ["1"]}, "points[0]", id="string-point"),
        pytest.param({"points": [1], "step": "0.1"}, "step", id="string-step"),
        pytest.param({"range": {"start": "0", "stop": 1, "num": 3}}, "range", id="string-start"),
        pytest.param({"points": [True]}, "points[0]", id="boolean-point"),
        pytest.param({"points": [1], "step": True}, "step", id="boolean-step"),
    ],
)
def test_numbers_must_be_json_numbers(
    client: TestClient, request_fields: dict[str, Any], field: str
) -> None:
    r = client.post("/derivative", json={"expression": "x", **request_fields})
    body = assert_error(r, 422, f"`{field}")
    assert body["field"].startswith(field)


@pytest.mark.parametrize(
    "request_fields",
    [
        pytest.param({"order": True}, id="order"),
        pytest.param({"accuracy": True, "method": "forward"}, id="accuracy"),
    ],
)
def test_booleans_are_refused_for_integer_options(
    client: TestClient, request_fields: dict[str, Any]
) -> None:
    r = client.post("/derivative", json={"expression": "x", "points": [1], **request_fields})
    assert_error(r, 422, next(iter(request_fields)))


def test_an_unknown_field_is_refused(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "x", "pointz": [1]})
    body = assert_error(r, 422, "`pointz`")
    assert body["field"] == "pointz"


def test_a_body_that_is_not_json_is_unsupported(client: TestClient) -> None:
    r = post_raw(client, "/derivative", b'{"expression": "x", "points": [1]}', "text/plain")
    assert_error(r, 415, "application/json")


# ---------------------------------------------------------------- invalid options


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        pytest.param({"step": 0}, "step", id="step-zero"),
        pytest.param({"step": -1e-4}, "step", id="step-negative"),
        pytest.param({"accuracy": 3}, "accuracy", id="accuracy-3"),
        pytest.param({"accuracy": 1}, "accuracy", id="odd-accuracy-central"),
        pytest.param({"order": 7}, "order", id="order-7"),
        pytest.param({"method": "sideways"}, "method", id="unknown-method"),
    ],
)
def test_an_invalid_option_is_refused(
    client: TestClient, request_fields: dict[str, Any], field: str
) -> None:
    r = client.post("/derivative", json={"expression": "x**2", "points": [1], **request_fields})
    body = assert_error(r, 422, f"`{field}`")
    assert body["field"] == field


def test_odd_accuracy_with_central_names_the_methods_that_allow_it(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "x**2", "points": [1], "accuracy": 1})
    assert_error(r, 422, "central", "forward")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        pytest.param(
            {"start": 1, "stop": 0, "step": 0.1}, "`range` is empty", id="stop-below-start"
        ),
        pytest.param({"start": 0, "stop": 1, "step": 0}, "`range.step`", id="step-zero"),
        pytest.param({"start": 0, "stop": 1, "num": 0}, "`range", id="num-zero"),
    ],
)
def test_an_invalid_range_is_refused(
    client: TestClient, spec: dict[str, Any], fragment: str
) -> None:
    r = client.post("/derivative", json={"expression": "x", "range": spec})
    assert_error(r, 422, fragment)


def test_an_invalid_linspace_num_is_named(client: TestClient) -> None:
    r = client.post(
        "/derivative", json={"expression": "x", "range": {"start": 0, "stop": 1, "num": 0}}
    )
    assert_error(r, 422, "num")


def test_an_empty_points_list_is_refused_by_derivative(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "x", "points": []})
    assert_error(r, 422, "`points`")


def test_points_and_range_together_are_refused(client: TestClient) -> None:
    request = {"expression": "x", "points": [1], "range": {"start": 0, "stop": 1, "num": 2}}
    assert_error(client.post("/derivative", json=request), 422, "`points`", "`range`")


def test_an_invalid_expression_is_refused_with_its_column(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "x**2 +* 3", "points": [1]})
    body = assert_error(r, 422, "column 7")
    assert body["field"] == "expression"
    assert body["column"] == 7


def test_an_unknown_function_is_refused_with_its_column(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "2*foo(x)", "points": [1]})
    body = assert_error(r, 422, "`foo`")
    assert body["column"] == 3


# ---------------------------------------------------------------- limits (413)


def test_a_grid_of_a_billion_points_is_refused_before_allocating(client: TestClient) -> None:
    axis = {"start": 0, "stop": 1, "num": 40_000}
    r = client.post("/gradient-field", json={"expression": "x0 + x1", "grid": [axis, axis]})
    body = assert_error(r, 413, "1600000000")
    assert body["reason"] == "grid"


def test_a_grid_of_astronomically_many_points_is_refused_in_one_short_sentence(
    client: TestClient,
) -> None:
    # 32 axes of 10⁶ values: 10¹⁹² points, which the message once spelled out digit by digit.
    axis = {"start": 0, "stop": 1, "num": 1_000_000}
    expression = " + ".join(f"x{i}" for i in range(32))
    r = client.post("/gradient-field", json={"expression": expression, "grid": [axis] * 32})
    body = assert_error(r, 413, "= 1.00e192 points")
    assert body["reason"] == "grid"
    assert len(body["detail"]) < 200
    assert body["detail"].count(". ") == 0


def test_a_range_of_a_trillion_points_is_refused_before_allocating(client: TestClient) -> None:
    spec = {"start": 0, "stop": 1, "step": 1e-12}
    r = client.post("/derivative", json={"expression": "x", "range": spec})
    body = assert_error(r, 413, "`range`")
    assert body["reason"] == "points"


@pytest.mark.parametrize(
    ("path", "request_body"),
    [
        pytest.param("/derivative", {"expression": "x", "points": list(range(11))}, id="points"),
        pytest.param(
            "/derivative",
            {"expression": "x", "range": {"start": 0, "stop": 11, "step": 1}},
            id="range",
        ),
        pytest.param(
            "/gradient", {"expression": "x0 + x1", "points": [[0, 1]] * 11}, id="gradient-points"
        ),
    ],
)
def test_more_points_than_max_points_are_refused(path: str, request_body: dict[str, Any]) -> None:
    r = make_client(max_points=10).post(path, json=request_body)
    body = assert_error(r, 413, "11 points", "10")
    assert body["reason"] == "points"


def test_max_points_is_inclusive() -> None:
    r = make_client(max_points=10).post(
        "/derivative", json={"expression": "x", "points": list(range(10))}
    )
    assert r.status_code == 200, r.text


def test_a_body_over_max_body_bytes_is_refused_as_json() -> None:
    r = make_client(max_body_bytes=2048).post(
        "/derivative", json={"expression": "x", "points": list(range(3000))}
    )
    body = assert_error(r, 413, "2048 bytes")
    assert body["reason"] == "body"


def test_a_streamed_body_over_max_body_bytes_is_refused_as_json() -> None:
    content = json.dumps({"expression": "x", "points": list(range(3000))}).encode()
    chunks = (content[i : i + 512] for i in range(0, len(content), 512))
    r = make_client(max_body_bytes=2048).post(
        "/derivative", content=chunks, headers={"content-type": "application/json"}
    )
    body = assert_error(r, 413, "2048 bytes")
    assert body["reason"] == "body"


def test_a_request_over_the_work_budget_is_refused() -> None:
    r = make_client(max_work=1000).post(
        "/derivative", json={"expression": "exp(x)", "points": list(range(1000))}
    )
    body = assert_error(r, 413, "budget")
    assert body["reason"] == "work"


# ---------------------------------------------------------------- no echo of large input


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            json.dumps({"expression": "x+" * 50_000 + "x", "points": [1]}).encode(),
            id="100kB-expression",
        ),
        pytest.param(
            json.dumps({"expression": "x", "points": [1.0] * HUGE_LIST + ["bad"]}).encode(),
            id="string-in-200k-list",
        ),
        pytest.param(
            json.dumps({"expression": "x", "points": [1.0] * HUGE_LIST})[:-2].encode()
            + b", 1e400]}",
            id="overflow-in-200k-list",
        ),
        pytest.param(
            json.dumps({"expression": "x", "points": [1.0] * HUGE_LIST})[:-2].encode() + b", NaN]}",
            id="nan-in-200k-list",
        ),
        pytest.param(
            json.dumps({"expression": "x", "pointz": [1.0] * HUGE_LIST}).encode(),
            id="200k-unknown-field",
        ),
        pytest.param(
            json.dumps(
                {"expression": "x0 + x1", "points": [[1.0, 2.0]] * HUGE_LIST + [[1.0]]}
            ).encode(),
            id="ragged-200k-points",
        ),
    ],
)
def test_an_error_does_not_echo_a_large_input(client: TestClient, content: bytes) -> None:
    path = "/gradient" if b"x0 + x1" in content else "/derivative"
    r = post_raw(client, path, content)
    assert_error(r, 422)
    assert len(r.content) < SMALL_RESPONSE_BYTES


@pytest.mark.parametrize(
    ("path", "request_body", "status"),
    [
        pytest.param(
            "/derivative",
            {"expression": "x", "points": [1], "parameters": {"a" * 100_000: 1}},
            422,
            id="parameter-name",
        ),
        pytest.param(
            "/gradient",
            {"expression": "x0", "point": [1, 2], "variables": ["x0", "!" * 100_000]},
            422,
            id="variable-name",
        ),
        pytest.param(
            "/gradient",
            {"expression": "x0", "point": [1, 2], "variables": ["x0", *("b" * 50_000)]},
            413,  # over max_dimensions: refused before a name is validated
            id="variables-list",
        ),
    ],
)
def test_an_error_does_not_echo_a_large_name(
    client: TestClient, path: str, request_body: dict[str, Any], status: int
) -> None:
    r = client.post(path, json=request_body)
    assert_error(r, status)
    assert len(r.content) < SMALL_RESPONSE_BYTES


# ---------------------------------------------------------------- CORS, health, docs


def test_cors_is_off_by_default(client: TestClient) -> None:
    r = client.post("/derivative", json=NOTEBOOK, headers={"origin": "http://example.test"})
    assert r.status_code == 200, r.text
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_the_configured_origins() -> None:
    cors = make_client(cors_origins=["http://example.test"])
    r = cors.post("/derivative", json=NOTEBOOK, headers={"origin": "http://example.test"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "http://example.test"


def test_cors_preflight_allows_json_posts() -> None:
    cors = make_client(cors_origins=["http://example.test"])
    headers = {
        "origin": "http://example.test",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    r = cors.options("/gradient-field", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "http://example.test"
    assert "POST" in r.headers["access-control-allow-methods"]


def test_health_answers_ok(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}


def test_docs_are_served(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")


def test_openapi_lists_every_route(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert {"/health", "/derivative", "/gradient", "/gradient-field"} <= set(r.json()["paths"])


def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    assert_error(client.get("/nowhere"), 404, "there is no `/nowhere`", "/docs")


def test_a_wrong_http_method_is_a_json_405(client: TestClient) -> None:
    r = client.get("/derivative")
    assert_error(r, 405, "`GET /derivative` is not allowed; send `POST`")
    assert r.headers["allow"] == "POST"


def test_a_field_can_return_only_the_arrays_it_asks_for(client: TestClient) -> None:
    grid = [{"start": -1, "stop": 1, "num": 3}, {"start": 0, "stop": 1, "num": 2}]
    request = {"expression": "x0*x1", "grid": grid, "include": ["axes", "gradient"]}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"variables", "axes", "gradient"}
    x0, x1 = np.meshgrid([-1.0, 0.0, 1.0], [0.0, 1.0])
    np.testing.assert_allclose(body["gradient"], [x1.ravel(), x0.ravel()], atol=1e-9)


def test_include_refuses_unknown_array_names(client: TestClient) -> None:
    grid = [{"start": -1, "stop": 1, "num": 3}]
    request = {"expression": "x0", "grid": grid, "include": ["coordinates", "steps"]}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("include")


def test_a_field_with_error_estimates_returns_them_unless_include_leaves_them_out(
    client: TestClient,
) -> None:
    grid = [{"start": 0.5, "stop": 1.5, "num": 3}, {"start": -1, "stop": 1, "num": 2}]
    request = {"expression": "sin(x0)*x1", "grid": grid, "error_estimate": True}
    everything = client.post("/gradient-field", json=request).json()
    only_gradient = client.post("/gradient-field", json=request | {"include": ["gradient"]})
    only_errors = client.post("/gradient-field", json=request | {"include": ["errors"]})
    assert set(everything) == {
        "variables",
        "axes",
        "shape",
        "coordinates",
        "values",
        "gradient",
        "errors",
    }
    assert set(only_gradient.json()) == {"variables", "gradient"}
    assert set(only_errors.json()) == {"variables", "errors"}
    errors = np.asarray(only_errors.json()["errors"])
    assert errors.shape == (2, 6)
    # Each estimate bounds the actual error against the closed form ∇ = (cos(x0)·x1, sin(x0)).
    x0, x1 = np.meshgrid([0.5, 1.0, 1.5], [-1.0, 1.0])
    exact = np.array([(np.cos(x0) * x1).ravel(), np.sin(x0).ravel()])
    actual = np.abs(np.asarray(everything["gradient"]) - exact)
    assert np.all(actual <= errors + 1e-15)
    assert np.all(errors < 1e-6)


def test_a_field_in_float32_rounds_its_error_estimates_too(client: TestClient) -> None:
    grid = [{"start": 0.5, "stop": 1.5, "num": 3}]
    request = {"expression": "exp(x0)", "grid": grid, "error_estimate": True}
    double = client.post("/gradient-field", json=request).json()["errors"]
    single = client.post("/gradient-field", json=request | {"precision": "float32"}).json()
    # Written as the shortest text of the float32 (≤ 9 digits), not the double's 17.
    assert all(float(f"{v:.9g}") == v for v in single["errors"][0])
    assert not all(float(f"{v:.9g}") == v for v in double[0])
    np.testing.assert_array_equal(
        np.asarray(single["errors"]).astype(np.float32), np.asarray(double).astype(np.float32)
    )


# ---------------------------------------------------------------- the floating-point range

# sqrt(2/1.7976931348623157e308): below it 2/h², the central second derivative's largest
# weight over h², overflows (and h² itself is 0 below 1.6e-162).
SMALLEST_SECOND_DERIVATIVE_STEP = 1.0547686614863001e-154


def test_a_second_derivative_step_whose_square_underflows_is_refused_with_the_smallest_usable(
    client: TestClient,
) -> None:
    request = {"expression": "x**2", "points": [1.0], "step": 1e-200, "order": 2}
    r = client.post("/derivative", json=request)

    assert r.status_code == 422, r.text
    assert r.json() == {
        "detail": "`step` 1e-200 is too small for a second derivative: the stencil's weights "
        "divided by h² overflow, so no estimate would be a number; use a step of at least "
        "1.0547686614863001e-154.",
        "type": "invalid_request",
        "field": "step",
    }


def test_a_second_derivative_at_the_smallest_usable_step_is_the_closed_form(
    client: TestClient,
) -> None:
    # At 0 the points ±h are exact: d²(x² + x³)/dx² = 2 + 6x = 2.
    request = {"expression": "x**2 + x**3", "points": [0.0], "order": 2}
    r = client.post("/derivative", json=request | {"step": SMALLEST_SECOND_DERIVATIVE_STEP})

    assert r.status_code == 200, r.text
    assert r.json()["derivatives"] == [2.0]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/derivative", {"expression": "x", "points": [1.0]}, id="derivative"),
        pytest.param("/gradient", {"expression": "x0*x1", "point": [1.0, 2.0]}, id="gradient"),
        pytest.param(
            "/gradient-field",
            {"expression": "x0*x1", "grid": [{"start": 0, "stop": 1, "num": 2}] * 2},
            id="gradient-field",
        ),
        pytest.param("/hessian", {"expression": "x0*x1", "point": [1.0, 2.0]}, id="hessian"),
        pytest.param("/descent", {"expression": "x0**2", "init": [1.0]}, id="descent"),
    ],
)
@pytest.mark.parametrize("step", [5e-324, 1e-310], ids=["5e-324", "1e-310"])
def test_every_endpoint_refuses_a_fixed_step_too_small_to_give_a_number(
    client: TestClient, path: str, body: dict[str, Any], step: float
) -> None:
    body = assert_error(
        client.post(path, json=body | {"step": step}), 422, "use a step of at least"
    )
    assert body["field"] == "step"


def test_a_field_of_more_axes_than_numpy_broadcasts_is_refused_with_the_limit(
    client: TestClient,
) -> None:
    grid = [{"start": 0, "stop": 1, "num": 1}] * 40
    r = client.post("/gradient-field", json={"expression": "sum(x**2)", "grid": grid})

    assert r.status_code == 413, r.text
    assert r.json() == {
        "detail": "`grid` has 40 axes; the limit is 32 (NumPy broadcasts at most 32 "
        "dimensions, one per axis: send the points to /gradient).",
        "type": "too_large",
        "reason": "dimensions",
    }


def test_a_field_of_32_axes_is_the_closed_form_gradient(client: TestClient) -> None:
    grid = [{"start": 0.5, "stop": 1.5, "num": 2}, {"start": -1, "stop": 1, "num": 3}]
    grid += [{"start": 0.25, "stop": 1, "num": 1}] * 30
    r = client.post("/gradient-field", json={"expression": "sum(x**3)", "grid": grid})

    assert r.status_code == 200, r.text
    axes = [np.linspace(a["start"], a["stop"], a["num"]) for a in grid]
    points = np.asarray(meshgrid_flat(*axes))
    assert r.json()["shape"] == [3, 2] + [1] * 30
    # atol: at x = 0, where f' = 0, the central difference is h²·f'''/6 ~ 1e-10 off.
    np.testing.assert_allclose(r.json()["gradient"], 3 * points**2, rtol=1e-8, atol=1e-9)


def test_a_gradient_of_300_coordinates_is_the_closed_form(client: TestClient) -> None:
    point = np.linspace(-0.02, 0.02, 300)
    r = client.post("/gradient", json={"expression": "sum(x**2)", "point": point.tolist()})

    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["gradient"], 2 * point, rtol=1e-8, atol=1e-10)


def test_a_hessian_of_20_coordinates_is_the_closed_form(client: TestClient) -> None:
    point = np.linspace(0.5, 2.0, 20)
    r = client.post("/hessian", json={"expression": "sum(x**3)", "point": point.tolist()})

    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["hessian"], np.diag(6 * point), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- answers that cannot be trusted


def test_a_derivative_no_step_can_resolve_is_flagged_unreliable(client: TestClient) -> None:
    # 3x + sin(x) at 1e12: steps scaled to x sample sin every 6e6 radians; the answer, ≈ 3,
    # misses cos(1e12) ≈ 0.79 and says so. The point at 5 is fine.
    request = {"expression": "3*x + sin(x)", "points": [5, 1e12]}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert abs(body["derivatives"][1] - (3 + math.cos(1e12))) > 0.5
    assert body["unreliable"] == [1]


def test_the_notebooks_answers_carry_no_flag(client: TestClient) -> None:
    r = client.post("/derivative", json={"expression": "0.01*x**2 + 0.1*x", "points": [5, 10]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["derivatives"], [0.2, 0.3], rtol=1e-9)
    assert "unreliable" not in r.json()


def test_a_gradient_field_flags_the_grid_points_it_cannot_resolve(client: TestClient) -> None:
    # ∂/∂x of 1 + x**4 + y at x = 1e-3: 4e-9 against f ≈ 1, below what f's rounding lets a
    # step resolve; at x = 1 it is 4, exact to 1e-10.
    grid = [{"start": 1e-3, "stop": 1, "num": 2}, {"start": 0, "stop": 1, "num": 2}]
    request = {"expression": "1 + x**4 + y", "grid": grid, "variables": ["x", "y"]}
    r = client.post("/gradient-field", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    xs = body["coordinates"][0]
    assert body["unreliable"] == [i for i, x in enumerate(xs) if x < 0.5]


def test_a_hessian_under_a_large_offset_is_flagged(client: TestClient) -> None:
    # 1e6 + x0²·x1² at (1e-3, 1e-3): second derivatives of 2e-6 and 4e-6 under f ≈ 1e6,
    # whose rounding alone moves a second difference by about 0.015.
    request = {"expression": "1e6 + x0**2*x1**2", "points": [[1e-3, 1e-3]]}
    r = client.post("/hessian", json=request)
    assert r.status_code == 200, r.text
    assert r.json()["unreliable"] == [0]


def test_an_ordinary_hessian_carries_no_flag(client: TestClient) -> None:
    r = client.post("/hessian", json={"expression": "x0**2*x1 + sin(x1)", "point": [1, 2]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(
        r.json()["hessian"], [[4, 2], [2, -math.sin(2)]], rtol=1e-6, atol=1e-9
    )
    assert "unreliable" not in r.json()


# ---------------------------------------------------------------- tolerance


def test_a_tolerance_returns_converged_and_evaluations_per_point(client: TestClient) -> None:
    request = {"expression": "sin(x)", "points": [0.5, 1.0], "tolerance": {"rtol": 1e-12}}
    r = client.post("/derivative", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    np.testing.assert_allclose(body["derivatives"], np.cos([0.5, 1.0]), rtol=1e-12)
    assert body["converged"] == [True, True]
    # f, the checked central stencil, the check at two smaller steps (4 probes and 2 each),
    # 4 probes of f's rounding, one 8th-order stencil, and its confirmation at half its step
    # (4 points more)
    assert body["evaluations"] == [28, 28]


def test_a_gradient_to_a_tolerance(client: TestClient) -> None:
    request = {"expression": "x0**2*x1 + sin(x1)", "point": [1, 2], "tolerance": {"rtol": 1e-12}}
    r = client.post("/gradient", json=request)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["gradient"], [4, 1 + math.cos(2)], rtol=1e-12)
    assert r.json()["converged"] == [True]


def test_a_tolerance_of_nothing_is_refused(client: TestClient) -> None:
    request = {"expression": "sin(x)", "points": [1], "tolerance": {"rtol": 0}}
    assert_error(client.post("/derivative", json=request), 422, "`rtol` or `atol`")


def test_a_tolerance_with_a_fixed_step_is_refused(client: TestClient) -> None:
    request = {"expression": "sin(x)", "points": [1], "step": 1e-3, "tolerance": {"rtol": 1e-9}}
    body = assert_error(client.post("/derivative", json=request), 422, "automatic step")
    assert body["field"] == "tolerance"


# ---------------------------------------------------------------- /hessian options


def test_a_hessian_by_the_complex_step_with_its_error_bounds(client: TestClient) -> None:
    request = {
        "expression": "x0**2*x1 + sin(x1)",
        "point": [1, 2],
        "method": "complex",
        "accuracy": 4,
        "error_estimate": True,
    }
    r = client.post("/hessian", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    exact = np.array([[4, 2], [2, -math.sin(2)]])
    np.testing.assert_allclose(body["hessian"], exact, rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(np.array(body["hessian"]) - exact) <= np.array(body["errors"]))


def test_a_complex_step_hessian_of_a_non_analytic_expression_is_refused(
    client: TestClient,
) -> None:
    request = {"expression": "abs(x0)*x1", "point": [1, 2], "method": "complex"}
    body = assert_error(client.post("/hessian", json=request), 422, "`abs`")
    assert body["field"] == "method"


def test_a_higher_accuracy_hessian_has_more_digits(client: TestClient) -> None:
    request = {"expression": "exp(x0)*cos(x1)", "points": [[0.5, 0.3]]}
    exact = math.exp(0.5) * np.array(
        [[math.cos(0.3), -math.sin(0.3)], [-math.sin(0.3), -math.cos(0.3)]]
    )
    low = client.post("/hessian", json=request)
    high = client.post("/hessian", json=request | {"accuracy": 8})
    assert low.status_code == high.status_code == 200, (low.text, high.text)
    error_low = np.abs(np.array(low.json()["hessians"][0]) - exact).max()
    error_high = np.abs(np.array(high.json()["hessians"][0]) - exact).max()
    assert error_high < 1e-10 < error_low


def test_a_hessian_to_a_tolerance(client: TestClient) -> None:
    request = {"expression": "exp(x0)*cos(x1)", "point": [0.5, 0.3], "tolerance": {"rtol": 1e-10}}
    r = client.post("/hessian", json=request)
    assert r.status_code == 200, r.text
    exact = math.exp(0.5) * np.array(
        [[math.cos(0.3), -math.sin(0.3)], [-math.sin(0.3), -math.cos(0.3)]]
    )
    np.testing.assert_allclose(r.json()["hessian"], exact, rtol=1e-10)
    assert r.json()["converged"] == [True]
