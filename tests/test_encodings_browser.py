"""The demo page in a real Chromium gets its answers compressed with zstd or Brotli (what
Chromium accepts and Nabla prefers) and still draws them; the page itself keeps JSON.

Chromium as tests/test_pages.py drives it: Debian's `/usr/bin/chromium`, skipped where it
is missing (`make e2e` installs it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import Server
from playwright.sync_api import Response, sync_playwright
from test_pages import CHROMIUM, CHROMIUM_FLAGS, NO_CHROMIUM, PLOTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


@dataclass
class Seen:
    """One answer as the browser received it."""

    method: str
    path: str
    accept_encoding: str
    content_encoding: str
    content_type: str
    size: int  # bytes of the decoded body


@pytest.fixture(scope="module")
def demo_answers(server: Server) -> tuple[list[Seen], list[str], dict[str, int]]:
    """Every response of the demo page's first load, its console errors, and what it drew."""
    seen: list[Seen] = []
    errors: list[str] = []

    def record(response: Response) -> None:
        request = response.request
        seen.append(
            Seen(
                request.method,
                response.url.removeprefix(server.url),
                request.all_headers().get("accept-encoding", ""),
                response.headers.get("content-encoding", "identity"),
                response.headers.get("content-type", ""),
                len(response.body()),
            )
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page()
        page.on("response", record)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/")
        page.wait_for_function(
            "ids => ids.every(id => document.getElementById(id).dataset.state === 'ready')",
            arg=PLOTS,
            timeout=20_000,
        )
        drawn = {plot: int(page.get_attribute(f"#{plot}", "data-points") or 0) for plot in PLOTS}
        browser.close()
    return seen, errors, drawn


def test_chromium_offers_zstd_and_br_to_nabla(
    demo_answers: tuple[list[Seen], list[str], dict[str, int]],
) -> None:
    seen, _, _ = demo_answers
    offered = {s.path: {c.strip() for c in s.accept_encoding.split(",")} for s in seen}
    assert all({"zstd", "br"} <= codings for codings in offered.values()), offered


def test_the_demo_pages_json_answers_arrive_as_zstd_or_br(
    demo_answers: tuple[list[Seen], list[str], dict[str, int]],
) -> None:
    seen, _, _ = demo_answers
    answers = [s for s in seen if s.method == "POST"]
    big = [s for s in answers if s.size >= 1024]
    assert big, answers
    assert all(s.content_type == "application/json" for s in answers), answers
    assert {s.content_encoding for s in big} <= {"zstd", "br"}, big
    assert all(s.content_encoding == "identity" for s in answers if s.size < 1024), answers


def test_the_demo_page_still_draws_its_three_views_from_compressed_answers(
    demo_answers: tuple[list[Seen], list[str], dict[str, int]],
) -> None:
    _, errors, drawn = demo_answers
    assert drawn == {"tangents-plot": 200, "steps-plot": 64, "field-plot": 18 * 18 - 1}
    assert errors == []
