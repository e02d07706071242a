"""The events page as a log tool in Chromium: message search as you type, the agent filter
by id prefix or name, quick ranges, the total, agent names, and live rows highlighted."""

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.models import Agent
from tests.browser.conftest import LiveServer
from tests.support.waits import HTTP_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def post_event(server: LiveServer, agent_id: str, message: str) -> None:
    response = httpx.post(
        f"{server.base_url}/api/agents/{agent_id}/events",
        json={"kind": "warn", "message": message},
        headers=server.admin_headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 202, response.text


def agent_name(server: LiveServer, agent_id: str) -> str:
    with Session(server.engine) as session:
        agent = session.get(Agent, agent_id)
    assert agent is not None
    return agent.name


def test_searching_the_messages_as_you_type_counts_the_matches(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    token = uuid.uuid4().hex[:12]
    for index in range(3):
        post_event(live_server, "agent-2", f"disk {token.upper()} full #{index}")
    page.goto("/events")
    page.locator("#events-q").fill(token)  # lower case: the search ignores case
    rows = page.locator("#events-table tbody tr[data-id]")
    expect(rows).to_have_count(3)
    expect(page.locator("#events-total")).to_have_text("3")
    expect(page).to_have_url(re.compile(rf"q={token}"))
    # Agent names beside the ids.
    expect(rows.first.locator(".agent-name")).to_have_text(agent_name(live_server, "agent-2"))


def test_the_agent_filter_takes_a_prefix_or_a_name(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    name = agent_name(live_server, "agent-3")
    token = uuid.uuid4().hex[:12]
    post_event(live_server, "agent-3", f"prefix-test {token}")
    page.goto(f"/events?q={token}")
    agent = page.locator("#events-agent")
    agent.fill(name.lower())
    expect(page).to_have_url(re.compile(r"agent="))
    expect(page.locator("#events-table tbody tr[data-id]")).to_have_count(1)
    agent.fill("nobody-has-this-prefix")
    expect(page.locator("#events-table tbody tr[data-id]")).to_have_count(0)
    expect(page.locator("#events-total")).to_have_text("0")


def test_a_quick_range_keeps_the_other_filters(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    token = uuid.uuid4().hex[:12]
    post_event(live_server, "agent-1", f"range-test {token}")
    page.goto(f"/events?q={token}")
    page.get_by_role("navigation", name="Quick ranges").get_by_role("link", name="15m").click()
    expect(page).to_have_url(re.compile(rf"q={token}.*range=15m"))
    link = page.get_by_role("navigation", name="Quick ranges").get_by_role("link", name="15m")
    expect(link).to_have_attribute("aria-current", "true")
    expect(page.locator("#events-table tbody tr[data-id]")).to_have_count(1)


def test_live_rows_are_highlighted_named_counted_and_filtered_by_the_search(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    token = uuid.uuid4().hex[:12]
    post_event(live_server, "agent-1", f"live-test {token} first")
    page.goto(f"/events?q={token}")
    expect(page.locator("#tail-status")).to_have_text("Live")
    expect(page.locator("#events-total")).to_have_text("1")
    shown = page.locator("#events-table tbody tr[data-id]")
    expect(shown).to_have_count(1)
    assert "live-new" not in (shown.first.get_attribute("class") or "")

    # The stream keeps order: once "second" shows, the event before it was seen and skipped.
    post_event(live_server, "agent-2", "live-test not matching the search")
    post_event(live_server, "agent-2", f"live-test {token.upper()} second")
    arrived = page.locator("#events-table tbody tr.live-new")
    expect(arrived).to_have_count(1)
    expect(arrived).to_contain_text("second")
    expect(arrived.locator(".agent-name")).to_have_text(agent_name(live_server, "agent-2"))
    expect(arrived.locator("time")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    expect(page.locator("#events-total")).to_have_text("2")
    expect(shown).to_have_count(2)
