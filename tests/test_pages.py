"""The pages for people: the demo at `/`, and `/docs` and `/redoc` working offline.

The browser tests drive Debian's Chromium (`/usr/bin/chromium`) with Playwright, with every
request to a host other than 127.0.0.1 aborted, and fail on any browser console error. They
are skipped only where that browser is missing (`make e2e` installs it). Screenshots go to
`test-artifacts/`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ROOT, Server
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

STATIC = ROOT / "app" / "static"
VENDOR = STATIC / "vendor"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes prescribe: without the background-networking flags Chromium keeps
# dialling Google's hosts, which a closed network refuses. Playwright adds `--headless`.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDORED = ["plotly", "swagger-ui", "redoc"]
PLOTS = ["tangents-plot", "steps-plot", "field-plot"]
API_PATHS = ["/derivative", "/gradient", "/gradient-field", "/hessian", "/descent", "/step-study"]

NO_CHROMIUM = (
    "Debian's Chromium is not installed at /usr/bin/chromium "
    "(`make e2e` installs it: apt-get install chromium)"
)
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


# ---------------------------------------------------------------- HTML, no browser


class References(HTMLParser):
    """Every `src` and `href` in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_page_references_only_assets_of_this_server(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    urls = references(response.text)
    assert urls, "the page references no assets at all"
    remote = [url for url in urls if urlsplit(url).scheme or url.startswith("//")]
    assert remote == [], f"{path} loads from elsewhere: {remote}"
    assets = [url for url in urls if url.startswith("/static/")]
    assert assets, f"{path} references no /static/ asset"
    missing = [url for url in assets if client.get(url).status_code != 200]
    assert missing == [], f"{path} references assets the app does not serve: {missing}"


def test_demo_page_loads_plotly_then_its_own_script(client: TestClient) -> None:
    scripts = re.findall(r'<script src="([^"]+)"', client.get("/").text)
    assert scripts == ["/static/vendor/plotly/plotly.min.js", "/static/demo.js"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        pytest.param("vendor/plotly/plotly.min.js", "text/javascript", id="plotly"),
        pytest.param("vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript", id="swagger-js"),
        pytest.param("vendor/swagger-ui/swagger-ui.css", "text/css", id="swagger-css"),
        pytest.param("vendor/redoc/redoc.standalone.js", "text/javascript", id="redoc"),
        pytest.param("demo.js", "text/javascript", id="demo-js"),
        pytest.param("demo.css", "text/css", id="demo-css"),
    ],
)
def test_static_file_is_served_whole_with_its_content_type(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.get(f"/static/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in {
        content_type,
        content_type.replace("text/", "application/"),
    }
    assert response.content == (STATIC / path).read_bytes()


def test_versions_md_records_the_sha256_of_every_vendored_file() -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \| ([\d.]+) \| ([^|]+) \| `([^`]+)` \| `([0-9a-f]{64})` \|$",
        (VENDOR / "VERSIONS.md").read_text(),
        flags=re.MULTILINE,
    )
    recorded = {file: digest for _, _, _, file, digest in rows}
    on_disk = {
        str(path.relative_to(VENDOR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name != "VERSIONS.md"
    }
    assert recorded == on_disk, "run `make vendor` to re-vendor and rewrite VERSIONS.md"
    assert {file.split("/")[0] for file in on_disk} == set(VENDORED)
    assert [d for d in VENDORED if not (VENDOR / d / "LICENSE").is_file()] == []


# ---------------------------------------------------------------- the example script


# ---------------------------------------------------------------- in Chromium


@dataclass
class Tab:
    """A page whose console errors and blocked (non-loopback) requests are recorded."""

    page: Page
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def only_loopback(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def screenshot(self, name: str, *, selector: str | None = None, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        if selector is None:
            self.page.screenshot(path=ARTIFACTS / name, full_page=full_page)
        else:
            self.page.locator(selector).screenshot(path=ARTIFACTS / name)

    def traces(self, plot: str) -> list[dict[str, Any]]:
        """The Plotly traces drawn in `#plot`, as plain JSON."""
        script = "id => JSON.parse(JSON.stringify(document.getElementById(id).data))"
        traces: list[dict[str, Any]] = self.page.evaluate(script, plot)
        return traces


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def open_tab(browser: BrowserContext) -> Tab:
    tab = Tab(browser.new_page())
    tab.page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    tab.page.route("**/*", tab.only_loopback)
    return tab


def open_demo(browser: BrowserContext, server: Server) -> Tab:
    tab = open_tab(browser)
    tab.page.goto(f"{server.url}/")
    tab.page.wait_for_function(
        "ids => ids.every(id => document.getElementById(id).dataset.state === 'ready')",
        arg=PLOTS,
        timeout=20_000,
    )
    return tab


@pytest.fixture
def tab(browser: BrowserContext) -> Iterator[Tab]:
    tab = open_tab(browser)
    yield tab
    tab.page.close()


@pytest.fixture
def fresh_demo(browser: BrowserContext, server: Server) -> Iterator[Tab]:
    """The demo page, loaded for one test that changes it."""
    tab = open_demo(browser, server)
    yield tab
    tab.page.close()


@pytest.fixture(scope="module")
def demo(browser: BrowserContext, server: Server) -> Iterator[Tab]:
    """The demo page as it first loads, shared by the tests that only read it."""
    tab = open_demo(browser, server)
    tab.screenshot("demo.png")
    yield tab
    tab.page.close()


def by_name(traces: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    matches = [t for t in traces if str(t.get("name", "")).startswith(prefix)]
    assert len(matches) == 1, [t.get("name") for t in traces]
    return matches[0]


@needs_chromium
@pytest.mark.slow
def test_demo_page_draws_three_views_from_the_api(demo: Tab) -> None:
    tab = demo
    drawn = {plot: int(tab.page.get_attribute(f"#{plot}", "data-points") or 0) for plot in PLOTS}
    # 200 samples of arange(0, 20, 0.1); 16 steps × 4 methods; 18×18 arrows but the one at
    # the minimum, where −∇f = 0.
    assert drawn == {"tangents-plot": 200, "steps-plot": 64, "field-plot": 18 * 18 - 1}
    assert tab.errors == []
    assert tab.blocked == []


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize(
    ("at", "slope", "value"),
    [pytest.param(5, 0.2, 0.75, id="at-5"), pytest.param(10, 0.3, 2.0, id="at-10")],
)
def test_tangent_line_has_the_derivative_as_slope(
    demo: Tab, at: float, slope: float, value: float
) -> None:
    tab = demo
    line = by_name(tab.traces("tangents-plot"), f"tangent at x = {at},")
    (x0, x1), (y0, y1) = line["x"], line["y"]
    assert (y1 - y0) / (x1 - x0) == pytest.approx(slope, rel=1e-8)
    assert y0 + (y1 - y0) / (x1 - x0) * (at - x0) == pytest.approx(value, rel=1e-8)
    assert tab.errors == []


@needs_chromium
@pytest.mark.slow
def test_step_study_plot_shows_the_v_on_log_axes(demo: Tab) -> None:
    tab = demo
    traces = tab.traces("steps-plot")
    assert [t["name"].split(" ")[0] for t in traces] == [
        "forward",
        "backward",
        "central",
        "complex",
    ]
    central = by_name(traces, "central")
    best = central["x"][central["y"].index(min(central["y"]))]
    assert best == pytest.approx(1e-5)
    complex_step = by_name(traces, "complex")
    assert min(complex_step["y"]) == 1e-17  # exact estimates, on the floor of the log axis
    assert "1e-17" in complex_step["name"]
    layout = tab.page.evaluate("document.getElementById('steps-plot').layout")
    assert (layout["xaxis"]["type"], layout["yaxis"]["type"]) == ("log", "log")
    assert tab.errors == []


@needs_chromium
@pytest.mark.slow
def test_field_arrows_point_downhill_and_descent_follows_them(demo: Tab) -> None:
    tab = demo
    traces = tab.traces("field-plot")
    arrows = by_name(traces, "−∇f")
    # The first arrow is −∇f at (−2, −2): (4, 4), towards the minimum; the longest arrow
    # (at (2.25, 2.25)) is 0.9 grid spacings, so this one is 0.9·0.25·2/2.25 = 0.2 long.
    (x0, x1), (y0, y1) = arrows["x"][:2], arrows["y"][:2]
    assert (x0, y0) == (-2, -2)
    assert math.hypot(x1 - x0, y1 - y0) == pytest.approx(0.2, rel=1e-6)
    assert x1 - x0 == pytest.approx(y1 - y0, rel=1e-6)
    path = by_name(traces, "descent")
    # x ← x − 0.1·2x = 0.8·x from (−1.8, 1.6).
    assert path["x"][:2] == pytest.approx([-1.8, -1.44], rel=1e-6)
    assert path["y"][:2] == pytest.approx([1.6, 1.28], rel=1e-6)
    assert len(path["x"]) == 51
    assert tab.errors == []


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_id", "bad", "error_id", "expected"),
    [
        pytest.param(
            "tangents-expression",
            "0.01*x**2 +* 0.1*x",
            "tangents-expression-error",
            None,
            id="expression",
        ),
        pytest.param("tangents-step", "0", "tangents-range-error", "“x step”", id="range"),
        pytest.param("field-rate", "-1", "field-rate-error", "“learning rate η”", id="rate"),
    ],
)
def test_api_error_appears_next_to_the_input_that_caused_it(
    fresh_demo: Tab, server: Server, input_id: str, bad: str, error_id: str, expected: str | None
) -> None:
    tab = fresh_demo
    tab.page.fill(f"#{input_id}", bad)
    tab.page.locator(f"#{input_id}").press("Enter")
    error = tab.page.locator(f"#{error_id}")
    error.wait_for(state="visible", timeout=10_000)
    if expected is None:  # the exact sentence the API answers with
        body = {"expression": bad, "points": [5, 10]}
        expected = httpx.post(f"{server.url}/derivative", json=body).json()["detail"]
    assert expected in error.inner_text()
    assert error.get_attribute("role") == "alert"
    assert tab.page.evaluate(
        "([i, e]) => document.getElementById(e).parentElement.contains(document.getElementById(i))",
        [input_id, error_id],
    ), "the error is not next to its input"
    assert tab.page.get_attribute(f"#{input_id}", "aria-invalid") == "true"
    others = tab.page.locator(".error:not(:empty)")
    assert others.count() == 1, others.all_inner_texts()
    assert tab.page.get_attribute(f"#{error_id.split('-')[0]}-plot", "data-state") == "error"
    tab.screenshot(f"demo-error-{input_id}.png", selector=f"section:has(#{input_id})")
    # Chromium logs each 4xx answer as "Failed to load resource"; those are the point here.
    assert [e for e in tab.errors if "status of 422" not in e] == []


# Every element inside a card, wider than its card by more than half a pixel.
SPILLS = """() => [...document.querySelectorAll("section")].flatMap((card) => {
  const box = card.getBoundingClientRect();
  return [...card.querySelectorAll("*")]
    .filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5);
    })
    .map((e) => `${card.id}: ${e.tagName.toLowerCase()}#${e.id}`);
})"""

OVERLAP = """(id) => {
  const plot = document.getElementById(id);
  const bar = plot.querySelector(".modebar").getBoundingClientRect();
  const legend = plot.querySelector(".legend").getBoundingClientRect();
  return bar.width > 0 && !(bar.right <= legend.left || legend.right <= bar.left ||
    bar.bottom <= legend.top || legend.bottom <= bar.top);
}"""


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("width", [360, 390, 1280, 1440])
def test_demo_page_fits_its_cards_and_the_toolbar_leaves_the_legend_readable(
    browser: BrowserContext, server: Server, width: int
) -> None:
    tab = open_tab(browser)
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.page.goto(f"{server.url}/")
    tab.page.wait_for_function(
        "ids => ids.every(id => document.getElementById(id).dataset.state === 'ready')",
        arg=PLOTS,
        timeout=20_000,
    )
    assert tab.page.evaluate(SPILLS) == []
    assert tab.page.evaluate("() => document.documentElement.scrollWidth") <= width
    for plot in PLOTS:
        tab.page.hover(f"#{plot} .nsewdrag")  # Plotly shows its toolbar on hover
        assert tab.page.evaluate(OVERLAP, plot) is False, plot
    tab.screenshot(f"demo-{width}.png")
    assert tab.errors == []
    tab.page.close()


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_id", "bad", "error_id", "expected", "absent"),
    [
        pytest.param(
            "tangents-step",
            "1e-8",
            "tangents-range-error",
            "“x step” 1e-8 makes 2,000,000,000 points from 0 to 20; this page draws at most "
            "20,000: use a step of at least 0.001.",
            "`range`",
            id="tiny-step",
        ),
        pytest.param(
            "tangents-expression",
            "x*y",
            "tangents-expression-error",
            "f(x) must be a function of x alone: write every other name as a number.",
            "`variable`",
            id="two-variables",
        ),
        pytest.param(
            "field-expression",
            "x0**2 + x1**2 + a",
            "field-expression-error",
            "f(x0, x1) must be a function of two variables",
            "`parameters`",
            id="three-variables",
        ),
    ],
)
def test_form_messages_speak_of_the_forms_own_inputs(
    fresh_demo: Tab, input_id: str, bad: str, error_id: str, expected: str, absent: str
) -> None:
    tab = fresh_demo
    tab.page.fill(f"#{input_id}", bad)
    tab.page.locator(f"#{input_id}").press("Enter")
    error = tab.page.locator(f"#{error_id}")
    error.wait_for(state="visible", timeout=10_000)
    assert expected in error.inner_text()
    assert absent not in error.inner_text()
    tab.screenshot(f"demo-message-{input_id}.png", selector=f"section:has(#{input_id})")


@needs_chromium
@pytest.mark.slow
def test_swagger_ui_lists_the_endpoints_without_network(
    tab: Tab, server: Server, client: TestClient
) -> None:
    tab.page.goto(f"{server.url}/docs")
    tab.page.locator(".opblock").first.wait_for(timeout=20_000)
    listed = tab.page.eval_on_selector_all(
        ".opblock-summary-path", "els => els.map(e => e.getAttribute('data-path'))"
    )
    assert set(API_PATHS) <= set(listed)
    assert set(listed) == set(client.get("/openapi.json").json()["paths"])
    tab.screenshot("docs.png")
    assert tab.errors == []
    assert tab.blocked == []


@needs_chromium
@pytest.mark.slow
def test_redoc_renders_the_reference_without_network(tab: Tab, server: Server) -> None:
    tab.page.goto(f"{server.url}/redoc")
    title = tab.page.locator("h1", has_text="Nabla")
    title.wait_for(timeout=20_000)
    assert title.inner_text().startswith("Nabla")
    summaries = tab.page.locator("h2", has_text="Gradient descent from a starting point")
    assert summaries.count() >= 1
    tab.screenshot("redoc.png", full_page=False)
    assert tab.errors == []
    assert tab.blocked == []
