"""The events page tails new events live over the stream, and Pause holds them back."""

import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TIMEOUT_MS, LiveServer
from tests.support.waits import HTTP_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LIVE_TIMEOUT_MS = TIMEOUT_MS


def post_event(server: LiveServer, message: str) -> None:
    response = httpx.post(
        f"{server.base_url}/api/agents/agent-1/events",
        json={"kind": "warn", "message": message},
        headers=server.admin_headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 202, response.text


def test_new_events_appear_live_and_pause_holds_them_until_resume(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    page.goto("/events")
    page.evaluate("window.__marker = 'no-reload'")
    status = page.locator("#tail-status")
    # Only post once the stream is open, or the event could pass before the page listens.
    expect(status).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)

    first = f"browser-test-{uuid.uuid4()}"
    post_event(live_server, first)
    row = page.locator("#events-table tbody tr", has_text=first)
    expect(row).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("agent-1")

    pause = page.locator("#tail-pause")
    pause.click()
    expect(pause).to_have_text("Resume")
    expect(pause).to_have_attribute("aria-pressed", "true")
    second = f"browser-test-{uuid.uuid4()}"
    post_event(live_server, second)
    # The page says it received the event while paused, and holds it back.
    expect(page.locator("#tail-pending")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#tail-pending")).to_contain_text("resume to show")
    expect(page.locator("#events-table tbody tr", has_text=second)).to_have_count(0)

    pause.click()
    expect(pause).to_have_text("Pause")
    expect(page.locator("#events-table tbody tr", has_text=second)).to_have_count(1)
    # Newest first: the event posted last is above the first one.
    rows = page.locator("#events-table tbody tr").all_inner_texts()
    position = {
        text: index
        for index, row_text in enumerate(rows)
        for text in (first, second)
        if text in row_text
    }
    assert position[second] < position[first], rows
    assert page.evaluate("window.__marker") == "no-reload"


def test_live_tail_also_starts_after_in_app_navigation(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page  # on the overview; the nav link is swapped in by htmx, no full load
    page.evaluate("window.__marker = 'no-reload'")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    expect(page.locator("h1")).to_have_text("Events")
    assert page.evaluate("window.__marker") == "no-reload"
    expect(page.locator("#tail-status")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)

    message = f"browser-test-{uuid.uuid4()}"
    post_event(live_server, message)
    row = page.locator("#events-table tbody tr", has_text=message)
    expect(row).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
