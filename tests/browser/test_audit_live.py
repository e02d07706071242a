"""The Audit page follows new rows live, filters applied, without reloading."""

import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TIMEOUT_MS, LiveServer
from tests.support.waits import HTTP_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def change_setting(server: LiveServer, key: str) -> None:
    response = httpx.put(
        f"{server.base_url}/api/settings/{key}",
        json={"value": "from the browser test"},
        headers=server.admin_headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text


def test_a_new_action_appears_on_top_of_the_audit_page_live(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    page.goto("/audit")
    page.evaluate("window.__marker = 'no-reload'")
    # Only act once the stream is open, or the row could pass before the page listens.
    expect(page.locator("#audit-live-status")).to_have_text("Live", timeout=TIMEOUT_MS)

    key = f"browser-audit-{uuid.uuid4().hex[:12]}"
    change_setting(live_server, key)
    row = page.locator("#audit-table tbody tr", has_text=key)
    expect(row).to_have_count(1, timeout=TIMEOUT_MS)
    expect(row).to_contain_text("setting.set")
    # Newest first, and the page was updated in place.
    expect(page.locator("#audit-table tbody tr").first).to_contain_text(key)
    assert page.evaluate("window.__marker") == "no-reload"


def test_a_filtered_audit_page_shows_only_matching_new_rows(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    # Settings, not runbooks: the demo server is shared, and other tests count its runbooks.
    page = signed_in_page
    wanted = f"browser-audit-{uuid.uuid4().hex[:12]}"
    other = f"browser-audit-{uuid.uuid4().hex[:12]}"
    page.goto(f"/audit?targetId={wanted}")
    expect(page.locator("#audit-live-status")).to_have_text("Live", timeout=TIMEOUT_MS)

    change_setting(live_server, other)  # another target: the filter keeps it out
    change_setting(live_server, wanted)
    expect(page.locator("#audit-table tbody tr", has_text=wanted)).to_have_count(
        1, timeout=TIMEOUT_MS
    )
    # The other row came first; rows newer than the newest shown are fetched with the
    # filter applied, so once the wanted row is here the other was left out.
    expect(page.locator("#audit-table tbody tr", has_text=other)).to_have_count(0)
