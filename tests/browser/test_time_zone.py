"""Times read in UTC by default, or in the browser's zone once chosen in the footer, and the
choice is remembered (cookie prism_tz); relative times show the exact time on hover and
focus; pickers show and send the chosen zone; a manual light/dark theme beside the system's.

The browser runs in Asia/Kolkata (UTC+05:30, no daylight saving): every local time is the
UTC time plus 5 h 30 min, whatever the date.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.support.waits import HTTP_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ZONE = "Asia/Kolkata"
OFFSET = timedelta(hours=5, minutes=30)
AT = datetime(2026, 1, 5, 10, 0, 7, tzinfo=UTC)
UTC_TEXT = "2026-01-05 10:00:07 UTC"
LOCAL_WALL = "2026-01-05 15:30:07"


@pytest.fixture(scope="module")
def known_event(live_server: LiveServer) -> str:
    """An event of agent-1 at a known instant, with a message to find it by."""
    message = f"time-zone-test-{uuid.uuid4()}"
    response = httpx.post(
        f"{live_server.base_url}/api/agents/agent-1/events",
        json={"kind": "warn", "message": message, "at": AT.isoformat()},
        headers=live_server.admin_headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 202, response.text
    return message


def local_page(browsing: Browsing, admin_state: dict[str, Any]) -> Page:
    return browsing.new_page(timezone_id=ZONE, storage_state=admin_state)


def event_time(page: Page, message: str) -> Any:
    return page.locator("#events-table tr", has_text=message).locator("time")


def test_times_are_utc_by_default_whatever_the_browser_zone(
    browsing: Browsing, admin_state: dict[str, Any], known_event: str
) -> None:
    page = local_page(browsing, admin_state)
    page.goto(f"/events?q={known_event}")
    expect(event_time(page, known_event)).to_have_text(UTC_TEXT)
    assert page.evaluate("window.prismTime.zone") == "utc"
    expect(page.locator("[data-pref-time-zone=utc]")).to_have_attribute("aria-pressed", "true")
    # A relative time carries the exact time on hover and can take keyboard focus.
    page.goto("/agents/agent-1")
    relative = page.locator('time[data-time="relative"]').first
    expect(relative).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    expect(relative).to_have_attribute("tabindex", "0")
    relative.focus()
    expect(relative).to_be_focused()


def test_choosing_local_time_rewrites_times_and_is_remembered(
    browsing: Browsing, admin_state: dict[str, Any], known_event: str
) -> None:
    page = local_page(browsing, admin_state)
    page.goto(f"/events?q={known_event}")
    page.evaluate("window.__marker = 'no-reload'")
    page.locator("[data-pref-time-zone=local]").click()
    time = event_time(page, known_event)
    expect(time).to_have_text(re.compile("^" + re.escape(LOCAL_WALL) + r" \S+$"))
    assert not (time.text_content() or "").endswith("UTC")
    assert page.evaluate("window.__marker") == "no-reload"  # rewritten in place
    cookie = next(c for c in page.context.cookies() if c["name"] == "prism_tz")
    assert cookie["value"] == "local"
    assert cookie["path"] == "/"
    assert cookie["sameSite"] == "Lax"
    # The exposed API formats in the chosen zone, for the charts.
    api = page.evaluate(
        "() => [window.prismTime.zone, window.prismTime.format(new Date('2026-01-05T10:00:07Z'))]"
    )
    assert api[0] == "local" and api[1].startswith(LOCAL_WALL), api

    # Remembered: the next page load renders with it, htmx swaps and new pages too.
    page.reload()
    expect(event_time(page, known_event)).to_have_text(re.compile("^" + re.escape(LOCAL_WALL)))
    expect(page.locator("html")).to_have_attribute("data-time-zone", "local")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    relative = page.locator('time[data-time="relative"]').first
    expect(relative).not_to_have_attribute("title", re.compile("UTC$"))

    # And back to UTC, in place.
    page.locator("[data-pref-time-zone=utc]").click()
    expect(relative).to_have_attribute("title", re.compile("UTC$"))


def test_pickers_show_and_send_the_chosen_zone(
    browsing: Browsing, admin_state: dict[str, Any], known_event: str
) -> None:
    page = local_page(browsing, admin_state)
    page.context.add_cookies(
        [{"name": "prism_tz", "value": "local", "url": browsing.server.base_url}]
    )
    # The URL (and the server) speak UTC; the picker shows the browser's wall clock.
    page.goto(f"/events?q={known_event}&since=2026-01-05T10:00")
    since = page.locator("#events-since")
    expect(since).to_have_value("2026-01-05T15:30")
    expect(page.locator("label[for=events-since]")).to_contain_text("local time")
    expect(event_time(page, known_event)).to_have_count(1)

    # 15:30:08 local is 10:00:08 UTC: after the event, so it drops out.
    with page.expect_request(lambda request: "since=" in request.url) as sent:
        since.fill("2026-01-05T15:30:08")
    query = parse_qs(urlsplit(sent.value.url).query)
    assert query["since"] == ["2026-01-05T10:00:08Z"], query
    expect(event_time(page, known_event)).to_have_count(0)
    expect(since).to_have_value("2026-01-05T15:30:08")  # still the operator's wall clock


def test_the_theme_can_be_chosen_beside_the_system_default(
    browsing: Browsing, admin_state: dict[str, Any]
) -> None:
    page = browsing.new_page(color_scheme="light", storage_state=admin_state)
    page.goto("/")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    expect(page.locator("[data-pref-theme=system]")).to_have_attribute("aria-pressed", "true")
    page.locator("[data-pref-theme=dark]").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light
    cookie = next(c for c in page.context.cookies() if c["name"] == "prism_theme")
    assert (cookie["value"], cookie["path"], cookie["sameSite"]) == ("dark", "/", "Lax")
    page.reload()  # rendered by the server from the cookie: no flash of the other theme
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark
    # Light in a dark system, and back to following the system.
    page.emulate_media(color_scheme="dark")
    page.locator("[data-pref-theme=light]").click()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == light
    page.locator("[data-pref-theme=system]").click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark
