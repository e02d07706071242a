"""The agent list page: table, search, filters, worst health first, every column sorts,
numbered pages, partial refresh in place, exports."""

import re
from datetime import timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.models import Agent
from tests.support.factories import add_rule, add_silence, add_state
from tests.web.conftest import HX

TABLE = {**HX, "HX-Target": "agents-table"}


def _arrange(db_session: Session) -> None:
    now = utcnow()
    db_session.add_all(
        [
            Agent(
                id="db-1",
                name="Postgres Watcher",
                domain="data",
                status="online",
                memory_used_mb=512.25,
                last_seen_at=now - timedelta(seconds=10),
                version="2.1.0",
            ),
            Agent(
                id="edge-7",
                name="Edge Router",
                domain="infrastructure",
                status="degraded",
                memory_used_mb=128,
                last_seen_at=now - timedelta(seconds=20),
                version="1.0.3",
            ),
            Agent(
                id="ledger",
                name="Ledger Sync",
                domain="finance",
                status="online",
                memory_used_mb=2048,
                # Reported online, silent for two hours: shown offline.
                last_seen_at=now - timedelta(hours=2),
            ),
            Agent(id="fresh", name="Archive", domain="data", status="online", memory_used_mb=64),
        ]
    )
    db_session.commit()


def _row_ids(html: str) -> list[str]:
    """Agent ids of the table rows, in order."""
    return re.findall(r'<span class="muted mono">([^<]+)</span>', html)


def test_anonymous_visitors_are_sent_to_sign_in_and_back(anon_client: TestClient) -> None:
    response = anon_client.get("/agents?status=online", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/agents%3Fstatus%3Donline"


def test_the_table_shows_each_agent_with_its_shown_status(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    page = web_client.get("/agents").text
    row = page.split('<a href="/agents/db-1">Postgres Watcher</a>')[1].split("</tr>")[0]
    assert "<td>data</td>" in row
    assert '<span class="badge status-online">Online</span>' in row
    assert "512.2 MB" in row
    assert "2.1.0" in row
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z" title="[^"]+"[^>]*>\d+s ago</time>', row
    )
    silent = page.split('<a href="/agents/ledger">')[1].split("</tr>")[0]
    assert "status-offline" in silent
    never = page.split('<a href="/agents/fresh">')[1].split("</tr>")[0]
    assert "never" in never
    # Nothing judged yet: the agent that never reported (health unknown) comes first.
    assert _row_ids(page) == ["fresh", "db-1", "edge-7", "ledger"]
    assert "Showing 4 of 4 agents" in page


def test_search_matches_id_or_name_case_insensitively(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    assert _row_ids(web_client.get("/agents?q=ROUTER").text) == ["edge-7"]
    assert _row_ids(web_client.get("/agents?q=db-").text) == ["db-1"]
    empty = web_client.get("/agents?q=nothing-like-this").text
    assert _row_ids(empty) == []
    assert "No agent matches these filters." in empty


def test_the_status_filter_uses_the_shown_status(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    assert _row_ids(web_client.get("/agents?status=offline").text) == ["fresh", "ledger"]
    assert _row_ids(web_client.get("/agents?status=online").text) == ["db-1"]
    page = web_client.get("/agents?status=degraded").text
    assert '<option value="degraded" selected>' in page


def test_domain_options_come_from_the_data_and_filter_the_table(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    page = web_client.get("/agents?domain=data&q=").text
    options = re.findall(r'<option value="([^"]*)"', page.split('id="agents-domain"')[1])
    assert options == ["", "data", "finance", "infrastructure"]
    assert '<option value="data" selected>' in page
    assert _row_ids(page) == ["fresh", "db-1"]


def _judge(db_session: Session) -> None:
    """edge-7 critical for 5 min, ledger critical for an hour (offline), db-1 warning,
    fresh in maintenance."""
    now = utcnow()
    add_rule(db_session, "offline", name="Agent offline", kind="agent_offline", params={})
    add_rule(db_session, "memory", name="Memory high", kind="agent_offline", severity="warning")
    add_state(
        db_session, "offline", "edge-7", subject_type="agent", since=now - timedelta(minutes=5)
    )
    add_state(db_session, "offline", "ledger", subject_type="agent", since=now - timedelta(hours=1))
    add_state(db_session, "memory", "db-1", subject_type="agent")
    add_silence(db_session, "works", {"subjectType": "agent", "subject": "fresh"})


def test_the_default_order_is_worst_health_first_then_the_oldest_problem(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    _judge(db_session)
    page = web_client.get("/agents").text
    # critical (an hour, then 5 min), warning, maintenance.
    assert _row_ids(page) == ["ledger", "edge-7", "db-1", "fresh"]
    fresh = page.split('<tr id="agent-row-fresh"')[1].split("</tr>")[0]
    assert 'data-health="maintenance"' in fresh
    header = page.split('id="sort-health"')[0].rsplit("<th", 1)[1]
    assert 'aria-sort="ascending"' in header
    # Best first is one click away; the default needs no parameter in its URL.
    assert 'id="sort-health" href="/agents?order=desc"' in page
    best_first = web_client.get("/agents?order=desc").text
    assert _row_ids(best_first) == ["fresh", "db-1", "edge-7", "ledger"]
    assert 'id="sort-health" href="/agents"' in best_first


def test_every_column_sorts_including_status_and_health(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    _judge(db_session)
    expected = {
        ("status", "asc"): ["fresh", "ledger", "edge-7", "db-1"],  # offline, degraded, online
        ("status", "desc"): ["db-1", "edge-7", "fresh", "ledger"],
        ("domain", "asc"): ["db-1", "fresh", "ledger", "edge-7"],
        ("memoryUsedMB", "desc"): ["ledger", "db-1", "edge-7", "fresh"],
        ("memoryUsedMB", "asc"): ["fresh", "edge-7", "db-1", "ledger"],
        # No version last, in either direction; 2.1.0 after 1.0.3.
        ("version", "asc"): ["edge-7", "db-1", "fresh", "ledger"],
        ("version", "desc"): ["db-1", "edge-7", "fresh", "ledger"],
        # Never seen last, in either direction.
        ("lastSeenAt", "desc"): ["db-1", "edge-7", "ledger", "fresh"],
        ("lastSeenAt", "asc"): ["ledger", "edge-7", "db-1", "fresh"],
        ("name", "asc"): ["fresh", "edge-7", "ledger", "db-1"],
    }
    for (sort, order), ids in expected.items():
        response = web_client.get("/agents", params={"sort": sort, "order": order})
        assert response.status_code == 200, (sort, order)
        assert _row_ids(response.text) == ids, (sort, order)
    page = web_client.get("/agents?sort=status").text
    for key in (
        "id",
        "domain",
        "status",
        "health",
        "uptime",
        "memoryUsedMB",
        "version",
        "lastSeenAt",
    ):
        assert (
            f'id="sort-{key}" href="/agents?' in page or f'id="sort-{key}" href="/agents"' in page
        )
    assert 'aria-sort="ascending"' in page.split('id="sort-status"')[0].rsplit("<th", 1)[1]


def test_uptime_sorts_lowest_first(web_client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    response = web_client.get("/agents?sort=uptime")
    assert response.status_code == 200
    assert sorted(_row_ids(response.text)) == ["db-1", "edge-7", "fresh", "ledger"]
    assert 'aria-sort="ascending"' in response.text.split('id="sort-uptime"')[0].rsplit("<th", 1)[1]


def test_the_api_spelling_of_a_descending_sort_still_works(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    assert _row_ids(web_client.get("/agents?sort=-id").text) == [
        "ledger",
        "fresh",
        "edge-7",
        "db-1",
    ]


def test_column_headers_sort_and_toggle_the_direction(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    by_name = web_client.get("/agents?sort=name").text
    assert _row_ids(by_name) == ["fresh", "edge-7", "ledger", "db-1"]
    by_id = web_client.get("/agents?sort=id").text
    assert _row_ids(by_id) == ["db-1", "edge-7", "fresh", "ledger"]
    header = by_id.split('id="sort-id"')[0].rsplit("<th", 1)[1]
    assert 'aria-sort="ascending"' in header
    assert 'id="sort-id" href="/agents?sort=id&amp;order=desc"' in by_id
    descending = web_client.get("/agents?sort=id&order=desc").text
    assert _row_ids(descending) == ["ledger", "fresh", "edge-7", "db-1"]
    assert 'aria-sort="descending"' in descending.split('id="sort-id"')[0].rsplit("<th", 1)[1]
    assert 'id="sort-id" href="/agents?sort=id"' in descending
    # Memory and last seen start with the biggest and newest; health with the worst.
    assert 'id="sort-memoryUsedMB" href="/agents?sort=memoryUsedMB"' in descending
    assert 'id="sort-lastSeenAt" href="/agents?sort=lastSeenAt"' in descending
    assert 'id="sort-health" href="/agents"' in descending


def test_sort_links_keep_the_filters(web_client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    page = web_client.get("/agents?domain=data&q=a").text
    assert 'id="sort-id" href="/agents?q=a&amp;domain=data&amp;sort=id"' in page


def _link(html: str, link_id: str) -> str:
    return unescape(re.findall(rf'href="([^"]+)" rel="[a-z]+" id="{link_id}"', html)[0])


def test_numbered_pages_follow_the_next_link_until_the_last(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    _judge(db_session)
    first = web_client.get("/agents?limit=3").text
    assert _row_ids(first) == ["ledger", "edge-7", "db-1"]
    assert "Showing 3 of 4 agents, page 1 of 2" in first
    next_url = _link(first, "agents-next-page")
    assert next_url == "/agents?limit=3&page=2"
    assert "Previous page" not in first
    second = web_client.get(next_url).text
    assert _row_ids(second) == ["fresh"]
    assert "Next page" not in second
    assert _link(second, "agents-previous-page") == "/agents?limit=3"
    # The order and the filters travel with the pages.
    by_id = web_client.get("/agents?sort=id&order=desc&limit=3&domain=data").text
    assert "Next page" not in by_id
    by_id = web_client.get("/agents?sort=id&order=desc&limit=2").text
    assert _link(by_id, "agents-next-page") == "/agents?sort=id&order=desc&limit=2&page=2"
    assert _row_ids(web_client.get("/agents?sort=id&order=desc&limit=2&page=2").text) == [
        "edge-7",
        "db-1",
    ]


def test_a_page_beyond_the_last_or_not_a_number_is_named_on_the_page(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    beyond = web_client.get("/agents?page=3&limit=3")
    assert beyond.status_code == 422
    assert beyond.headers["content-type"].startswith("text/html")
    assert "page: a whole number from 1 to 2" in beyond.text
    assert _row_ids(beyond.text) == []
    for bad in ("0", "two", "-1", "99999999999999999999"):
        response = web_client.get("/agents", params={"page": bad})
        assert response.status_code == 422, bad
        assert "page: a whole number from 1" in response.text


def test_bad_filter_values_are_named_on_the_page(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    response = web_client.get("/agents?status=sleeping&sort=colour&order=up&limit=0")
    assert response.status_code == 422
    assert '<p class="field-error" id="status-error">status: must be one of' in response.text
    assert 'aria-invalid="true" aria-describedby="status-error"' in response.text
    assert "sort: must be one of health, id, name, domain, status, uptime" in response.text
    assert "order: asc or desc" in response.text
    assert "limit: a whole number from 1 to 1000" in response.text
    assert _row_ids(response.text) == []


def test_a_search_longer_than_the_api_allows_is_named_on_the_page(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    response = web_client.get("/agents?limit=ten&q=" + "x" * 201)
    assert response.status_code == 422
    assert '<p class="field-error" id="q-error">q: at most 200 characters' in response.text
    assert "limit: a whole number from 1 to 1000" in response.text


def test_htmx_targeting_the_table_gets_only_the_table(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    full = web_client.get("/agents?status=offline")
    assert full.text.startswith("<!doctype html>")
    assert 'id="agents-filters"' in full.text
    assert "HX-Request" in full.headers["Vary"]
    assert "HX-Target" in full.headers["Vary"]

    fragment = web_client.get("/agents?status=offline", headers=HX)
    assert fragment.text.startswith("<title>Agents · Prism Console</title>")
    assert "<html" not in fragment.text
    assert 'id="agents-filters"' in fragment.text

    table = web_client.get("/agents?status=offline", headers=TABLE)
    assert table.text.lstrip().startswith('<div id="agents-table"')
    assert "<title>" not in table.text
    assert 'id="agents-filters"' not in table.text
    assert _row_ids(table.text) == ["fresh", "ledger"]


def test_the_table_refreshes_itself_in_place_with_the_current_filters(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    table = web_client.get("/agents?status=offline&sort=name&page=1", headers=TABLE).text
    # Morphed, not replaced: rows keep their nodes (by id), so focus and scroll stay.
    assert (
        'hx-get="/agents?status=offline&amp;sort=name" hx-trigger="every 10s" '
        'hx-target="#agents-table" hx-swap="morph:outerHTML"'
    ) in table
    assert '<tr id="agent-row-ledger" data-agent="ledger">' in table
    # The order travels with the filter form, which lives outside the table.
    assert '<input type="hidden" name="sort" value="name" form="agents-filters">' in table
    assert '<input type="hidden" name="order" value="asc" form="agents-filters">' in table


def test_the_filter_form_works_without_javascript_and_filters_live_with_htmx(
    web_client: TestClient,
) -> None:
    page = web_client.get("/agents").text
    form = page.split('<form id="agents-filters"')[1].split(">")[0]
    assert 'method="get" action="/agents"' in form
    assert 'hx-get="/agents" hx-target="#agents-table" hx-swap="morph:outerHTML"' in form
    assert 'hx-push-url="true"' in form
    assert "input changed delay:300ms" in form
    for field in ("agents-q", "agents-status", "agents-domain"):
        assert f'<label for="{field}">' in page


def test_export_links_carry_the_filters(web_client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    page = web_client.get("/agents?status=online&domain=data&q=post&sort=name&order=desc").text
    query = "q=post&amp;status=online&amp;domain=data&amp;sort=-name"
    assert f'href="/api/export/agents.csv?{query}"' in page
    assert f'href="/api/export/agents.json?{query}"' in page
    # An order the API does not know (health) leaves the export in its own order.
    assert 'href="/api/export/agents.csv?domain=data"' in web_client.get("/agents?domain=data").text


def test_a_read_only_session_sees_the_list_without_write_controls(
    read_web_client: TestClient, db_session: Session
) -> None:
    _arrange(db_session)
    response = read_web_client.get("/agents")
    assert response.status_code == 200
    assert _row_ids(response.text) == ["fresh", "db-1", "edge-7", "ledger"]
    # The only form that posts is signing out.
    assert response.text.count('method="post"') == 1
