"""The agent list filters and sorts in place (htmx; plain links without JavaScript), worst
health first, and an agent opens with its memory chart."""

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing

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


STATUS_RANK = {"Offline": 0, "Degraded": 1, "Online": 2}


def _statuses(page: Page) -> list[int]:
    texts = page.locator("#agent-rows tbody tr td:nth-child(3) .badge").all_inner_texts()
    return [STATUS_RANK[text.strip()] for text in texts]


def test_worst_health_comes_first_and_every_header_sorts_in_place(signed_in_page: Page) -> None:
    page = signed_in_page
    page.goto("/agents")
    expect(page.locator("th:has(#sort-health)")).to_have_attribute("aria-sort", "ascending")
    page.evaluate("window.__marker = 'still-here'")

    status = page.locator("#sort-status")
    status.click()
    expect(page).to_have_url(re.compile(r"/agents\?sort=status$"))
    expect(page.locator("th:has(#sort-status)")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("th:has(#sort-health)")).not_to_have_attribute("aria-sort", re.compile("."))
    ascending = _statuses(page)
    assert ascending == sorted(ascending) and len(set(ascending)) > 1

    status.click()
    expect(page).to_have_url(re.compile(r"/agents\?sort=status&order=desc$"))
    expect(page.locator("th:has(#sort-status)")).to_have_attribute("aria-sort", "descending")
    assert _statuses(page) == sorted(ascending, reverse=True)
    assert page.evaluate("window.__marker") == "still-here"  # swapped in place, not reloaded


def test_sorting_works_through_plain_links_without_javascript(
    browsing: Browsing, admin_state: dict[str, Any]
) -> None:
    page = browsing.new_page(java_script_enabled=False, storage_state=admin_state)
    page.goto("/agents")
    page.locator("#sort-version").click()
    expect(page).to_have_url(re.compile(r"/agents\?sort=version$"))
    expect(page.locator("th:has(#sort-version)")).to_have_attribute("aria-sort", "ascending")
