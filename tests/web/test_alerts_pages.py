"""The Alerts page (firing, then pending, then silenced; its live region), the nav's firing
count on every page, and problems named first on the Overview, Agents and Miners pages."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.models import Silence
from tests.web.alerts_support import (
    add_agent,
    add_rule,
    at,
    attribute_values,
    clock,
    evaluate,
    hot_miner,
    nav_count,
    operate_client,
    table_rows,
    temperature_rule,
)
from tests.web.conftest import HX


def _silence(engine: Engine, silence_id: str, matchers: dict[str, str]) -> None:
    with Session(engine) as session:
        session.add(
            Silence(
                id=silence_id,
                matchers=matchers,
                starts_at=at(hours=-1),
                ends_at=at(hours=1),
                created_by="test",
                created_at=at(hours=-1),
            )
        )
        session.commit()


@pytest.fixture
def judged(web_client: TestClient, engine: Engine) -> Engine:
    """rig-1 fires hot-now and is pending on hot-slow; rig-2 does both under a silence."""
    temperature_rule(engine, "hot-now", name="Rig too hot")
    temperature_rule(
        engine, "hot-slow", name="Rig warm for an hour", severity="warning",
        params={"aboveC": 80}, for_seconds=3600,
    )  # fmt: skip
    hot_miner(engine, "rig-1", 95, at(minutes=-1))
    hot_miner(engine, "rig-2", 96, at(minutes=-1))
    _silence(engine, "rig-2-work", {"subjectType": "miner", "subject": "rig-2"})
    evaluate(engine, at())
    return engine


def _pairs(rows: list[str]) -> list[tuple[str, str]]:
    return [
        (attribute_values(row, "data-rule-id")[0], attribute_values(row, "data-subject")[0])
        for row in rows
    ]


def test_alerts_are_grouped_firing_then_pending_then_silenced(
    app: FastAPI, web_client: TestClient, judged: Engine
) -> None:
    with clock(app, at(minutes=1)):
        page = web_client.get("/alerts")
    assert page.status_code == 200
    html = page.text
    assert html.index('id="alerts-firing"') < html.index('id="alerts-pending"')
    assert html.index('id="alerts-pending"') < html.index('id="alerts-silenced"')
    assert _pairs(table_rows(html, "alerts-firing")) == [("hot-now", "rig-1")]
    assert _pairs(table_rows(html, "alerts-pending")) == [("hot-slow", "rig-1")]
    # Worst severity first within a group.
    assert _pairs(table_rows(html, "alerts-silenced")) == [
        ("hot-now", "rig-2"),
        ("hot-slow", "rig-2"),
    ]
    firing = table_rows(html, "alerts-firing")[0]
    assert "Rig too hot" in firing and 'href="/miners/rig-1"' in firing
    assert 'href="/incidents/' in firing  # a firing state links its incident


def test_filters_narrow_the_groups_and_a_bad_value_is_named(
    app: FastAPI, web_client: TestClient, judged: Engine
) -> None:
    with clock(app, at(minutes=1)):
        warning = web_client.get("/alerts?severity=warning").text
        refused = web_client.get("/alerts?severity=urgent")
    assert 'id="alerts-firing"' not in warning  # nothing warning is firing unsilenced
    assert _pairs(table_rows(warning, "alerts-pending")) == [("hot-slow", "rig-1")]
    assert refused.status_code == 422
    assert 'id="severity-error"' in refused.text
    assert "Choose one of info, warning, critical" in refused.text


def test_the_live_region_alone_brings_the_nav_count_out_of_band(
    app: FastAPI, web_client: TestClient, judged: Engine
) -> None:
    with clock(app, at(minutes=1)):
        region = web_client.get("/alerts", headers={**HX, "HX-Target": "alerts-live"})
    assert region.text.lstrip().startswith('<div id="alerts-live" data-live-url="/alerts"')
    assert "<title>" not in region.text and 'aria-label="Main"' not in region.text
    assert 'id="nav-count-alerts" data-count="1" hx-swap-oob="true"' in region.text


def test_the_nav_shows_the_firing_count_on_every_page(
    app: FastAPI, web_client: TestClient, judged: Engine
) -> None:
    # rig-1 fires unsilenced; rig-2's firing state is silenced, so not counted.
    for path in ("/", "/agents", "/runbooks", "/settings", "/incidents"):
        page = web_client.get(path).text
        assert nav_count(page) == 1, path
        assert '1<span class="visually-hidden"> firing</span>' in page
    # htmx navigation keeps the frame: the count follows out of band, once.
    content = web_client.get("/agents", headers=HX).text
    assert content.count('id="nav-count-alerts"') == 1
    assert 'id="nav-count-alerts" data-count="1" hx-swap-oob="true"' in content


def test_with_nothing_firing_the_nav_count_is_hidden(web_client: TestClient) -> None:
    page = web_client.get("/agents").text
    assert nav_count(page) == 0
    assert 'id="nav-count-alerts" data-count="0" hidden' in page
    assert "Nothing is firing" in web_client.get("/alerts").text


def test_every_scope_that_signs_in_sees_the_alerts_but_no_actions_there(
    app: FastAPI,
    read_web_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    judged: Engine,
) -> None:
    for browser in (read_web_client, operate_client(app, token_for)):
        with clock(app, at(minutes=1)):
            page = browser.get("/alerts")
        assert page.status_code == 200
        assert _pairs(table_rows(page.text, "alerts-firing")) == [("hot-now", "rig-1")]
        assert 'method="post"' not in page.text.split('id="main"', 1)[1]
    signed_out = TestClient(app).get("/alerts", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login?next=/alerts"


# --- problems first: Overview, Agents, Miners ----------------------------------------------


@pytest.fixture
def fleet_problems(web_client: TestClient, engine: Engine) -> Engine:
    """An agent offline since 10 min ago (critical), one never seen (unknown), one fine; a
    hot miner (critical since 2 min ago, and warm: two firing states), one in warning, one
    fine. Four firing states in all."""
    add_agent(engine, "edge-down", seen=at(minutes=-10))
    add_agent(engine, "edge-new", seen=None)
    add_agent(engine, "edge-ok", seen=at(seconds=-5))
    add_rule(engine, "agent-offline", "agent_offline", name="Agent offline")
    temperature_rule(engine, "rig-hot", name="Rig too hot")
    temperature_rule(engine, "rig-warm", name="Rig warm", severity="warning", params={"aboveC": 80})
    hot_miner(engine, "rig-hot-1", 95, at(minutes=-2))
    hot_miner(engine, "rig-warm-1", 85, at(minutes=-3))
    hot_miner(engine, "rig-cool", 60, at(minutes=-1))
    evaluate(engine, at())
    return engine


def test_the_overview_names_the_problems_worst_first_then_oldest(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    page = web_client.get("/").text
    rows = table_rows(page, "problems-table")
    assert [attribute_values(row, "data-subject")[0] for row in rows] == [
        "edge-down",  # critical since 10 min ago (went offline at lastSeenAt + afterSeconds)
        "rig-hot-1",  # critical, newer
        "rig-warm-1",  # warning
        "edge-new",  # unknown: never reported
    ]
    assert [attribute_values(row, "data-health")[0] for row in rows] == [
        "critical", "critical", "warning", "unknown",
    ]  # fmt: skip
    assert "Agent offline" in rows[0] and 'href="/agents/edge-down"' in rows[0]
    assert "Rig too hot" in rows[1] and 'href="/miners/rig-hot-1"' in rows[1]
    assert "Rig warm" in rows[2]
    assert "never reported" in rows[3]
    assert 'id="problems-count">(4)' in page
    # The counts stay, below the names.
    assert page.index('id="overview-problems"') < page.index('id="fleet-counts"')


def test_the_overview_says_so_when_nothing_is_wrong(web_client: TestClient) -> None:
    page = web_client.get("/").text
    assert 'id="no-problems"' in page
    assert "every agent and miner is healthy" in page


def test_the_overview_refresh_carries_the_problems_and_the_nav_count(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    region = web_client.get("/", headers={**HX, "HX-Target": "overview-live"}).text
    assert region.lstrip().startswith('<div id="overview-live">')
    assert len(table_rows(region, "problems-table")) == 4
    assert 'id="nav-count-alerts" data-count="4" hx-swap-oob="true"' in region


def test_the_agents_list_puts_its_problems_first_and_shows_each_health(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    page = web_client.get("/agents").text
    problems = table_rows(page, "agent-problems-table")
    assert [attribute_values(row, "data-subject")[0] for row in problems] == [
        "edge-down",
        "edge-new",
    ]
    table_start = page.index('<caption class="visually-hidden">Agents;')
    assert page.index('id="agent-problems"') < table_start
    table = page[table_start:]
    for agent_id, health in (("edge-down", "critical"), ("edge-new", "unknown"), ("edge-ok", "ok")):
        row = next(row for row in table.split("<tr>") if f">{agent_id}</span>" in row)
        assert f'data-health="{health}"' in row, agent_id


def test_the_miners_list_puts_its_problems_first_and_each_row_shows_its_health(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    page = web_client.get("/miners").text
    problems = table_rows(page, "miner-problems-table")
    assert [attribute_values(row, "data-subject")[0] for row in problems] == [
        "rig-hot-1",
        "rig-warm-1",
    ]
    assert page.index('id="miner-problems"') < page.index('id="miners-table"')
    for miner_id, health in (
        ("rig-hot-1", "critical"),
        ("rig-warm-1", "warning"),
        ("rig-cool", "ok"),
    ):
        row = page.split(f'<tr id="miner-row-{miner_id}" data-miner-id="{miner_id}"', 1)[1].split(
            "</tr>", 1
        )[0]
        assert f'data-health="{health}"' in row, miner_id


def test_agent_and_miner_pages_show_health_reasons_and_incidents(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    agent = web_client.get("/agents/edge-down").text
    panel = agent.split('id="subject-alerts"', 1)[1]
    assert 'data-health="critical"' in panel
    assert "Agent offline" in table_rows(agent, "subject-states")[0]
    assert "Agent offline</a> <strong>open</strong>" in agent.split('id="subject-incidents"')[1]
    miner = web_client.get("/miners/rig-warm-1").text
    assert 'id="miner-state"' in miner
    assert 'data-health="warning"' in miner.split('id="miner-state"', 1)[1].split("</p>", 1)[0]
    assert "Rig warm" in table_rows(miner, "subject-states")[0]
    healthy = web_client.get("/miners/rig-cool").text
    assert 'id="subject-no-alerts"' in healthy


def test_maintenance_is_offered_to_operate_sessions_only(
    app: FastAPI,
    read_web_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    fleet_problems: Engine,
) -> None:
    operator = operate_client(app, token_for)
    for path in ("/agents/edge-down", "/miners/rig-hot-1"):
        offered = operator.get(path).text
        assert 'id="maintenance-form"' in offered, path
        assert "Maintenance…" in offered
        form = offered.split('id="maintenance-form"', 1)[1].split("</form>", 1)[0]
        assert f'name="returnTo" value="{path}"' in form
        read_only = read_web_client.get(path).text
        assert 'id="maintenance-form"' not in read_only, path
        assert "Maintenance…" not in read_only


def test_a_page_poll_of_the_lists_brings_the_nav_count_along(
    web_client: TestClient, fleet_problems: Engine
) -> None:
    for path, target in (("/agents", "agents-table"), ("/miners", "miners-fleet")):
        region = web_client.get(path, headers={**HX, "HX-Target": target}).text
        assert region.lstrip().startswith(f'<div id="{target}"'), path
        assert 'id="nav-count-alerts" data-count="4" hx-swap-oob="true"' in region, path


def test_problems_are_judged_at_the_alerts_clock_for_silences(
    app: FastAPI, web_client: TestClient, judged: Engine
) -> None:
    # Once rig-2's silence is over, its states count as notified again on the Alerts page.
    with clock(app, at(hours=2)):
        page = web_client.get("/alerts").text
    assert 'id="alerts-silenced"' not in page
    assert ("hot-now", "rig-2") in _pairs(table_rows(page, "alerts-firing"))
