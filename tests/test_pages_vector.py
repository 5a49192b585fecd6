"""The demo page's card for the curl and divergence of a 2-D field, in real Chromium
(fixtures and helpers of tests/test_pages.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from conftest import Server
from playwright.sync_api import BrowserContext
from test_pages import SPILLS, Tab, browser, by_name, needs_chromium, open_demo

__all__ = ["browser"]  # the fixture, found by pytest in this module's names

FLOW = "flow-plot"


@pytest.fixture
def flow(browser: BrowserContext, server: Server) -> Iterator[Tab]:
    """The demo page once every card, the flow card too, has drawn; one per test (they
    change it)."""
    tab = open_demo(browser, server)
    tab.page.wait_for_function(
        "id => document.getElementById(id).dataset.state === 'ready'", arg=FLOW, timeout=20_000
    )
    tab.screenshot("demo-flow.png", selector="#flow")
    yield tab
    tab.page.close()


@needs_chromium
@pytest.mark.slow
def test_flow_card_draws_the_curl_as_a_heatmap_under_the_field(flow: Tab) -> None:
    traces = flow.traces(FLOW)
    heat = by_name(traces, "curl")
    assert heat["type"] == "heatmap"
    # F = (−x1 + 0.3·x0, x0·cos(x1)): curl = cos(x1) + 1, the same along each row (one x1).
    for row, x1 in zip(heat["z"], heat["y"], strict=True):
        assert row == pytest.approx([math.cos(x1) + 1] * len(heat["x"]), rel=1e-7, abs=1e-9)
    assert len(heat["x"]) == len(heat["y"]) == 17  # arange(-2, 2.25, 0.25)
    arrows = by_name(traces, "F")
    # The first arrow starts at (−2, −2) and points along F = (2 − 0.6, −2·cos(−2)).
    (x0, x1), (y0, y1) = arrows["x"][:2], arrows["y"][:2]
    assert (x0, y0) == (-2, -2)
    assert math.atan2(y1 - y0, x1 - x0) == pytest.approx(
        math.atan2(-2 * math.cos(-2), 1.4), rel=1e-9
    )
    assert flow.page.get_attribute(f"#{FLOW}", "data-cells") == str(17 * 17)
    assert flow.errors == []
    assert flow.blocked == []


@needs_chromium
@pytest.mark.slow
def test_flow_card_switches_to_the_divergence(flow: Tab) -> None:
    page = flow.page
    page.select_option("#flow-operator", "divergence")
    page.click("#flow button")
    page.wait_for_function(
        "() => document.getElementById('flow-plot').data[0].name === 'divergence'"
    )
    heat = by_name(flow.traces(FLOW), "divergence")
    # div F = 0.3 − x0·sin(x1)
    for row, x1 in zip(heat["z"], heat["y"], strict=True):
        want = [0.3 - x0 * math.sin(x1) for x0 in heat["x"]]
        assert row == pytest.approx(want, rel=1e-7, abs=1e-9)
    assert flow.errors == []


@needs_chromium
@pytest.mark.slow
def test_flow_card_shows_a_bad_component_next_to_its_input(flow: Tab) -> None:
    page = flow.page
    page.fill("#flow-f1", "x0*cos(x1")
    page.click("#flow button")
    page.wait_for_function("() => document.getElementById('flow-plot').dataset.state === 'error'")
    assert page.text_content("#flow-f1-error")
    assert page.text_content("#flow-f0-error") == ""
    assert page.evaluate(SPILLS) == []
