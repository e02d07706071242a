"""Pages that hold still: a live refresh morphs the region in place, so the scroll position,
the focused row link and an opened <details> survive it; a slow htmx request shows the
progress bar.

The refreshes are the pollers' own requests (their hx-get, hx-target and hx-swap), started
by the test with htmx.ajax and counted by their htmx:afterSettle events: no waiting for the
10 s timers. The slow request is held by the test (Playwright's routing) until it has seen
the bar, then let through: nothing depends on how long anything takes.

These tests run their own server: a longer fleet than the demo (so the pages scroll) with
the default rules judged once, so the Overview has agents down and a miner critical.
"""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect
from sqlmodel import Session

from app.alerts.evaluator import evaluate_once
from app.auth import tokens
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.miners.ingest import record_samples
from app.ops.seed import seed_demo
from tests.browser.conftest import ADMIN_TOKEN, Browsing, LiveServer
from tests.support.browser import require_browser_prerequisites
from tests.support.db import migrated_engine
from tests.support.factories import make_agent
from tests.support.servers import running_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

EXTRA_AGENTS = 40
# Short enough that both pages scroll.
VIEWPORT = {"width": 1280, "height": 600}


def _arrange(session: Session) -> None:
    now = utcnow()
    seed_demo(session=session, now=now)
    session.add_all(
        make_agent(
            f"still-{index:02}",
            name=f"Still Agent {index:02}",
            domain="still",
            status="online",
            # A third of them silent for an hour: offline, so critical once judged.
            last_seen_at=now - (timedelta(hours=1) if index % 3 == 0 else timedelta(seconds=5)),
        )
        for index in range(EXTRA_AGENTS)
    )
    session.commit()
    record_samples(
        session=session,
        rows=[{"miner_id": "rig-still-hot", "recorded_at": now, "temperature_c": 97.0}],
    )


# A module's own `live_server`: the conftest's fixtures (browsing, pages) use this one here.
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_browser_prerequisites()
    path: Path = tmp_path_factory.mktemp("browser-hold-still") / "console.db"
    url = f"sqlite:///{path}"
    settings = Settings(
        api_db_url=url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        # The test judges once before serving; a cycle under a test would change the rows.
        alert_interval_seconds=0,
        _env_file=None,
    )
    with migrated_engine(url, slow_query_ms=60_000) as engine:
        with Session(engine, expire_on_commit=False) as session:
            _arrange(session)
            _, read_token = tokens.create_token(session=session, name="browser-read", scope="read")
        evaluate_once(engine, settings, now=utcnow())
        with running_server(create_app(settings)) as base_url:
            yield LiveServer(base_url, ADMIN_TOKEN, read_token, engine)


# Counts the settled swaps of a region, and starts its poller's own request.
_COUNT_SETTLES = """(regionId) => {
  window.__settles = 0;
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target && event.detail.target.id === regionId) { window.__settles += 1; }
  });
}"""
_POLL = """(pollerId) => {
  const poller = document.getElementById(pollerId);
  htmx.ajax("GET", poller.getAttribute("hx-get"), { source: poller });
}"""


def _refresh_twice(page: Page, poller_id: str) -> None:
    for count in (1, 2):
        page.evaluate(_POLL, poller_id)
        page.wait_for_function("(count) => window.__settles >= count", arg=count)


def _signed_in(browsing: Browsing, path: str) -> Page:
    page = browsing.signed_in(viewport=VIEWPORT)
    page.goto(path)
    page.wait_for_function("() => Boolean(window.htmx && window.Idiomorph)")
    return page


def test_the_overview_refresh_keeps_scroll_focus_and_an_open_details(
    browsing: Browsing,
) -> None:
    page = _signed_in(browsing, "/")
    down = page.locator("#down-list > li")
    expect(down.first).to_be_visible()
    page.evaluate(_COUNT_SETTLES, "overview-live")
    updated = page.locator("#overview-live .live-indicator time").get_attribute("datetime")

    # A row far enough down that the page had to scroll to it.
    item = page.locator("#down-list > li").nth(8)
    item.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    item.locator("details > summary").click()
    expect(item.locator("details")).to_have_attribute("open", "")
    link = item.locator("a").first
    link.focus()
    page.evaluate(
        """() => {
      window.__focused = document.activeElement;
      window.__details = document.querySelector("#down-list > li:nth-child(9) details");
    }"""
    )

    _refresh_twice(page, "overview-poll")

    # The region was re-rendered (a new "updated" time) and morphed onto the same nodes.
    assert page.locator("#overview-live .live-indicator time").get_attribute("datetime") != updated
    assert page.evaluate("window.scrollY") == scrolled
    assert page.evaluate(
        "document.activeElement === window.__focused && window.__focused.isConnected"
    )
    assert page.evaluate("window.__details.isConnected && window.__details.open")
    expect(link).to_be_focused()


def test_the_agents_refresh_keeps_scroll_and_the_focused_row_link(browsing: Browsing) -> None:
    page = _signed_in(browsing, "/agents")
    expect(page.locator("#agent-rows tbody tr")).to_have_count(48)
    page.evaluate(_COUNT_SETTLES, "agents-table")
    updated = page.locator("#agents-count time").get_attribute("datetime")

    link = page.locator("#agent-row-still-31 a")
    link.scroll_into_view_if_needed()
    link.focus()
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    page.evaluate("window.__focused = document.activeElement")

    _refresh_twice(page, "agents-poll")

    assert page.locator("#agents-count time").get_attribute("datetime") != updated
    assert page.evaluate("window.scrollY") == scrolled
    assert page.evaluate(
        "document.activeElement === window.__focused && window.__focused.isConnected"
    )
    expect(link).to_be_focused()


def test_times_shown_in_local_time_stay_local_through_a_refresh(browsing: Browsing) -> None:
    page = browsing.signed_in(viewport=VIEWPORT, timezone_id="Asia/Kolkata")
    page.goto("/agents")
    page.locator("[data-pref-time-zone=local]").click()
    updated = page.locator("#agents-count time")
    expect(updated).not_to_contain_text("UTC")
    page.evaluate(_COUNT_SETTLES, "agents-table")
    before = updated.get_attribute("datetime")

    _refresh_twice(page, "agents-poll")

    # The server sends UTC; the refreshed time is shown in the chosen zone again.
    assert updated.get_attribute("datetime") != before
    expect(updated).not_to_contain_text("UTC")
    expect(updated).to_contain_text(":")


def test_sorting_by_a_header_keeps_the_focus_on_it(browsing: Browsing) -> None:
    page = _signed_in(browsing, "/agents")
    header = page.locator("#sort-lastSeenAt")
    header.focus()
    page.keyboard.press("Enter")
    expect(page.locator("th:has(#sort-lastSeenAt)")).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(f"{browsing.server.base_url}/agents?sort=lastSeenAt")
    expect(header).to_be_focused()


def test_a_request_slower_than_300_ms_shows_the_progress_bar(browsing: Browsing) -> None:
    page = _signed_in(browsing, "/agents")
    bar = page.locator("#htmx-progress")
    opacity = "(bar) => getComputedStyle(bar).opacity"
    assert bar.evaluate(opacity) == "0"
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # answered below, once the bar has been seen

    page.route(lambda url: url.endswith("/agents?sort=id"), hold)

    page.locator("#sort-id").click()
    page.wait_for_function(
        "() => getComputedStyle(document.getElementById('htmx-progress')).opacity === '1'"
    )
    assert len(held) == 1
    held[0].continue_()

    expect(page.locator("th:has(#sort-id)")).to_have_attribute("aria-sort", "ascending")
    page.wait_for_function(
        "() => getComputedStyle(document.getElementById('htmx-progress')).opacity === '0'"
    )
