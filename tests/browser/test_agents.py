"""The agent list filters in place (htmx), and an agent opens with its memory chart."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

AGENT_ROWS = "#agent-rows tbody tr"


def test_filtering_agents_updates_the_table_in_place_and_the_url(signed_in_page: Page) -> None:
    page = signed_in_page
    page.goto("/agents")
    expect(page.locator(AGENT_ROWS)).to_have_count(8)
    # A full reload would lose this; htmx swaps only the table.
    page.evaluate("window.__marker = 'still-here'")

    page.select_option("#agents-status", "degraded")
    expect(page).to_have_url(re.compile(r"/agents\?.*status=degraded"))
    expect(page.locator(AGENT_ROWS)).to_have_count(1)
    expect(page.locator(AGENT_ROWS).first).to_contain_text("agent-5")

    page.select_option("#agents-status", "")
    page.fill("#agents-q", "agent-8")
    expect(page).to_have_url(re.compile(r"/agents\?.*q=agent-8"))
    expect(page.locator(AGENT_ROWS)).to_have_count(1)
    expect(page.locator(AGENT_ROWS).first).to_contain_text("Ops Agent 8")

    assert page.evaluate("window.__marker") == "still-here"
    # The filtered URL is a page of its own: loading it shows the same rows.
    page.reload()
    expect(page.locator("#agents-q")).to_have_value("agent-8")
    expect(page.locator(AGENT_ROWS)).to_have_count(1)


def test_opening_an_agent_shows_its_detail_and_memory_chart(signed_in_page: Page) -> None:
    page = signed_in_page
    page.goto("/agents")
    page.get_by_role("link", name="Ops Agent 1", exact=True).click()
    expect(page).to_have_url(re.compile(r"/agents/agent-1$"))
    expect(page.locator("h1")).to_contain_text("Ops Agent 1")
    expect(page.locator("#agent-facts")).to_contain_text("agent-1")
    chart = page.locator("#memory-chart.chart")
    expect(chart.locator("canvas").first).to_be_attached()
    expect(chart).to_have_attribute("data-chart-state", "ready")
