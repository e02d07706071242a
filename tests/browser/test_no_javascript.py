"""With JavaScript off, signing in and following links still reads as the same console."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()


def test_pages_work_through_plain_links_without_javascript(
    browsing: Browsing, live_server: LiveServer
) -> None:
    page = browsing.new_page(java_script_enabled=False)
    sign_in(page, live_server.base_url, live_server.admin_token)
    expect(page).to_have_url(f"{live_server.base_url}/")
    expect(page.locator("h1")).to_have_text("Overview")
    # Playwright may still evaluate; the page's own scripts did not run (see the test below).
    assert page.evaluate("typeof window.htmx") == "undefined"

    nav(page, "Agents")
    expect(page).to_have_url(re.compile(r"/agents$"))
    expect(page.locator("h1")).to_have_text("Agents")
    expect(page.locator("#agent-rows tbody tr")).to_have_count(8)

    page.get_by_role("link", name="Ops Agent 1", exact=True).click()
    expect(page).to_have_url(re.compile(r"/agents/agent-1$"))
    expect(page.locator("h1")).to_contain_text("Ops Agent 1")
    expect(page.locator("#agent-facts")).to_contain_text("agent-1")
    # The chart's fallback text summarises the data instead of an empty box.
    expect(page.locator("#memory-chart")).to_contain_text(re.compile(r"Latest .* MB"))
    expect(page.locator("#memory-chart canvas")).to_have_count(0)

    nav(page, "Events")
    expect(page).to_have_url(re.compile(r"/events$"))
    expect(page.locator("h1")).to_have_text("Events")
    assert page.locator("#events-table tbody tr").count() > 0
    expect(page.locator("#tail-controls")).to_be_hidden()  # live controls need JavaScript

    nav(page, "Runbooks")
    expect(page).to_have_url(re.compile(r"/runbooks$"))
    expect(page.locator("h1")).to_have_text("Runbooks")
    expect(page.locator("#runbooks-list .runbook-card")).to_have_count(6)
    page.get_by_role("link", name="Operational Task 1", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runbooks/runbook-1$"))
    expect(page.locator("h1")).to_have_text("Operational Task 1")
    form = page.locator("#execute-form")
    expect(form).to_be_visible()
    expect(page.locator("#run-result")).to_have_count(0)

    # The form posts as a plain form: the answer is a confirmation page, then a whole page
    # reporting the recorded run.
    form.get_by_label(re.compile(r"^Service")).fill("billing-api")
    with page.expect_navigation():
        form.get_by_role("button", name=re.compile(r"^Execute")).click()
    expect(page.locator("#execute-confirm-input")).to_contain_text("billing-api")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(r"^Confirm")).click()
    result = page.locator("#run-result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id
    expect(result).to_contain_text(run_id)


def test_the_page_scripts_run_only_when_javascript_is_on(
    browsing: Browsing, live_server: LiveServer
) -> None:
    """The same agent page both ways: the checks above see JavaScript off, not a changed page."""
    for enabled, htmx, canvases in ((True, "object", 1), (False, "undefined", 0)):
        page = browsing.new_page(java_script_enabled=enabled)
        sign_in(page, live_server.base_url, live_server.admin_token)
        page.goto("/agents/agent-1")
        chart = page.locator("#memory-chart")
        expect(chart).to_be_attached()
        if enabled:
            expect(chart).to_have_attribute("data-chart-state", "ready")
        expect(chart.locator("canvas")).to_have_count(canvases)
        assert page.evaluate("typeof window.htmx") == htmx, f"JavaScript enabled: {enabled}"
