"""A read-scope session sees the pages and no control that would change anything."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_read_session_sees_no_write_controls(read_page: Page, browsing: Browsing) -> None:
    # The controls as an admin sees them, so the absences below are not a renamed label.
    admin = browsing.signed_in()
    admin.goto("/settings")
    expect(admin.get_by_role("link", name="Edit ops.oncall")).to_have_count(1)
    admin.goto("/runbooks/runbook-1")
    expect(admin.locator("#execute-form")).to_be_visible()

    page = read_page
    expect(page.locator(".badge-scope").first).to_have_text("read")

    page.goto("/settings")
    expect(page.locator("h1")).to_have_text("Settings")
    expect(page.locator('[id="setting-row-ops.oncall"]')).to_be_visible()
    expect(page.get_by_role("link", name="Edit ops.oncall")).to_have_count(0)
    expect(page.locator(".readonly-note").first).to_be_visible()

    page.goto("/runbooks/runbook-1")
    expect(page.locator("h1")).to_have_text("Operational Task 1")
    expect(page.locator("#execute-form")).to_have_count(0)
    expect(page.locator("#runbook-execute .readonly-note")).to_be_visible()
