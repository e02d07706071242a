"""Cross-service pages read the main API database: what each view shows, filters and pages."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.pagination import encode_cursor
from app.core.timeutil import utcnow
from app.maindb import MainDatabase
from app.maindb.pages import users as cross_users
from tests.support.factories import add_agent
from tests.support.maindb_fixtures import BIG_BALANCE
from tests.web.conftest import HX
from tests.web.cross_support import opened_main, serving


@pytest.fixture(scope="module")
def seeded_main(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainDatabase]:
    with opened_main(tmp_path_factory.mktemp("main")) as (_, main_db):
        yield main_db


@pytest.fixture
def cross_client(
    web_client: TestClient, app: FastAPI, seeded_main: MainDatabase
) -> Iterator[TestClient]:
    """An admin browser session on an app reading the seeded main database."""
    with serving(app, seeded_main):
        yield web_client


def rows_of(html: str, table_id: str) -> str:
    """The <tbody> of one table, to assert on what a table holds and in what order."""
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</tbody>", start)]


COUNT_TILES = ("in-both", "console-only", "main-only", "disagreements")


def tile_value(html: str, tile_id: str) -> int:
    match = re.search(
        rf'id="{tile_id}">\s*<div class="tile-label">[^<]*</div>\s*'
        r'<div class="tile-value">(\d+)</div>',
        html,
    )
    assert match is not None, tile_id
    return int(match.group(1))


def test_anonymous_visitors_are_sent_to_login(anon_client: TestClient) -> None:
    for url in ("/cross", "/cross/users", "/cross/users/1", "/cross/roadchain"):
        response = anon_client.get(url, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/cross")


def test_the_landing_page_links_every_view_and_shows_the_connection(
    cross_client: TestClient,
) -> None:
    response = cross_client.get("/cross")
    assert response.status_code == 200
    for href in ("reconciliation", "users", "tasks", "timeline", "roadchain"):
        assert f'href="/cross/{href}"' in response.text
    assert "Connected" in response.text
    assert 'data-page-section="cross"' in response.text


def test_reconciliation_counts_and_splits_agents_by_category(
    cross_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1", status="online")  # main slug agent-1, "active"
    add_agent(db_session, "agent-2", status="online")  # main slug agent-2, "error": disagrees
    add_agent(db_session, "lonely", status="offline", last_seen_at=utcnow() - timedelta(days=1))
    html = cross_client.get("/cross/reconciliation").text
    counts = {name: tile_value(html, f"count-{name}") for name in COUNT_TILES}
    assert counts == {"in-both": 2, "console-only": 1, "main-only": 2, "disagreements": 1}
    disagreeing = rows_of(html, "recon-table-disagreeing")
    assert "agent-2" in disagreeing and "agent-1" not in disagreeing
    assert "lonely" in rows_of(html, "recon-table-console_only")
    main_only = rows_of(html, "recon-table-main_only")
    assert "main-only" in main_only and "seven" in main_only
    assert "eu-west" in html  # main location column


def test_reconciliation_filters_to_one_category_with_htmx(
    cross_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "lonely")
    response = cross_client.get(
        "/cross/reconciliation?category=main_only",
        headers={**HX, "HX-Target": "recon-results"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="recon-results">')
    table = rows_of(response.text, "recon-table")
    assert "seven" in table and "lonely" not in table


def test_users_search_role_and_active_filters(cross_client: TestClient) -> None:
    everyone = rows_of(cross_client.get("/cross/users").text, "users-table")
    # Newest first: Carol (created a day ago) before Bob before Alice.
    assert everyone.index("carol@") < everyone.index("bob@") < everyone.index("alice@")
    assert 'href="/cross/users/1"' in everyone
    found = rows_of(cross_client.get("/cross/users?q=BOB").text, "users-table")
    assert "bob@example.com" in found and "alice@" not in found
    admins = rows_of(cross_client.get("/cross/users?role=admin").text, "users-table")
    assert "alice@" in admins and "bob@" not in admins
    inactive = rows_of(cross_client.get("/cross/users?active=false").text, "users-table")
    assert "carol@" in inactive and "alice@" not in inactive
    assert "Inactive" in inactive


def test_users_filter_with_htmx_returns_the_table_only(cross_client: TestClient) -> None:
    response = cross_client.get("/cross/users?q=alice", headers={**HX, "HX-Target": "users-table"})
    assert response.text.lstrip().startswith('<div id="users-table">')
    assert "alice@example.com" in response.text
    assert "<form" not in response.text


def test_users_paginate_with_next_page_links(
    cross_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cross_users, "PAGE_SIZE", 2)
    first = cross_client.get("/cross/users?active=true").text
    assert "bob@" in first and "alice@" in first
    assert "carol@" not in first
    monkeypatch.setattr(cross_users, "PAGE_SIZE", 1)
    page = cross_client.get("/cross/users?active=true").text
    assert "bob@" in page and "alice@" not in rows_of(page, "users-table")
    next_url = re.search(r'<a class="button" href="([^"]+)">Next page</a>', page)
    assert next_url is not None
    url = next_url.group(1).replace("&amp;", "&")
    assert "active=true" in url and "cursor=" in url
    second = cross_client.get(url).text
    assert "alice@" in rows_of(second, "users-table")
    assert "bob@" not in rows_of(second, "users-table")
    assert "First page" in second


def test_a_user_shows_wallets_with_exact_balances_and_transactions(
    cross_client: TestClient,
) -> None:
    html = cross_client.get("/cross/users/1").text
    wallets = rows_of(html, "wallets-table")
    assert f"{BIG_BALANCE:,}" == "9,007,199,254,740,993"
    assert "9,007,199,254,740,993" in wallets
    assert "150,000" in wallets
    assert "1,000,000,000" not in wallets  # the system wallet is not Alice's
    total = re.search(r'id="total-balance"><strong>([^<]+)</strong>', html)
    assert total is not None and total.group(1) == f"{BIG_BALANCE + 150_000:,}"
    assert "9007199254740992" not in html and "e+" not in html  # no float on the way
    transactions = rows_of(html, "transactions-table")
    assert transactions.index("alice moves money") < transactions.index("grant")
    assert "100,000" in transactions


def test_a_users_transactions_filter_by_direction(cross_client: TestClient) -> None:
    response = cross_client.get(
        "/cross/users/1?direction=out", headers={**HX, "HX-Target": "transactions-panel"}
    )
    assert response.text.lstrip().startswith('<section class="section" id="transactions-panel"')
    table = rows_of(response.text, "transactions-table")
    assert "alice pays bob" in table
    assert "bob pays alice" not in table and "alice moves money" not in table


def test_an_unknown_user_is_a_404_page(cross_client: TestClient) -> None:
    response = cross_client.get("/cross/users/999")
    assert response.status_code == 404
    assert "User not found" in response.text
    assert "<html" in response.text


def test_tasks_show_counts_by_status_and_the_list(cross_client: TestClient) -> None:
    html = cross_client.get("/cross/tasks").text
    assert re.search(r'tile-label">All tasks</div>\s*<div class="tile-value">5<', html)
    assert re.search(r'tile-label">Todo</div>\s*<div class="tile-value">2<', html)
    assert "Ship release" in html and "2026-02-01" in html
    done = cross_client.get("/cross/tasks?status=done", headers={**HX, "HX-Target": "tasks-table"})
    assert done.text.lstrip().startswith('<div id="tasks-table">')
    assert "Close sprint" in done.text and "Write docs" not in done.text


def test_tasks_of_the_project_schema_render_too(
    web_client: TestClient, app: FastAPI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with (
        opened_main(tmp_path_factory.mktemp("project"), tasks="project") as (_, main_db),
        serving(app, main_db),
    ):
        html = web_client.get("/cross/tasks").text
    assert "Design schema" in html
    assert re.search(r'tile-label">Pending</div>\s*<div class="tile-value">2<', html)
    assert "Project" in html and "tasks by project" in html


def test_the_timeline_merges_events_and_commits_newest_first(cross_client: TestClient) -> None:
    page = cross_client.get("/cross/timeline").text
    html = page[page.index('id="timeline-list"') :]
    order = ["Add roadchain", "agent.error", "Console views", "task.done", "Initial import"]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    commits = cross_client.get("/cross/timeline?source=commit").text
    assert "Initial import" in commits and ">task.done<" not in commits
    events = cross_client.get("/cross/timeline?type=user.created").text
    assert ">user.created<" in events and "Add roadchain" not in events


def test_the_timeline_loads_older_entries_as_a_fragment(
    cross_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.maindb.pages import cross

    monkeypatch.setattr(cross, "TIMELINE_PAGE", 2)
    page = cross_client.get("/cross/timeline").text
    link = re.search(r'id="timeline-more">\s*<a class="button" href="([^"]+)"', page)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    more = cross_client.get(url, headers={**HX, "HX-Target": "timeline-more"})
    assert more.text.lstrip().startswith('<li class="timeline-')
    assert "Console views" in more.text and "Add roadchain" not in more.text
    assert "<ol" not in more.text
    without_js = cross_client.get(url)  # the same link is a full page without htmx
    assert "<html" in without_js.text and "Console views" in without_js.text


def test_a_bad_time_filter_is_a_field_error(cross_client: TestClient) -> None:
    response = cross_client.get("/cross/timeline?since=yesterday-ish")
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert '<p class="field-error" id="since-error">' in response.text
    backwards = cross_client.get("/cross/roadchain?since=2026-01-06&until=2026-01-05")
    assert backwards.status_code == 422
    assert '<p class="field-error" id="until-error">' in backwards.text
    assert "Daily merkle roots" in backwards.text  # the other panels still render


def test_roadchain_shows_counts_receipts_roots_and_webhooks(cross_client: TestClient) -> None:
    html = cross_client.get("/cross/roadchain").text
    assert re.search(r'tile-label">All receipts</div>\s*<div class="tile-value">4<', html)
    assert re.search(r'tile-label">Confirmed</div>\s*<div class="tile-value">2<', html)
    receipts = rows_of(html, "receipts-table")
    assert receipts.index("#4") < receipts.index("#1")
    assert "4,000" in receipts
    assert 'href="https://explorer.example/tx/1"' in receipts
    roots = rows_of(html, "roots-table")
    assert roots.index("2026-01-05") < roots.index("2026-01-03")
    assert "0xroot5" in roots and ">50<" in roots  # leaf count
    hooks = rows_of(html, "hooks-table")
    assert "alchemy" in hooks and "charge.succeeded" in hooks


def test_roadchain_receipts_filter_with_htmx(cross_client: TestClient) -> None:
    response = cross_client.get(
        "/cross/roadchain?status=failed", headers={**HX, "HX-Target": "receipts-panel"}
    )
    assert response.text.lstrip().startswith('<section class="section" id="receipts-panel"')
    table = rows_of(response.text, "receipts-table")
    assert "#3" in table and "#1" not in table
    mine = rows_of(cross_client.get("/cross/roadchain?user_id=1").text, "receipts-table")
    assert "#1" in mine and "#2" in mine and "#3" not in mine


def test_a_stale_page_link_is_a_note_not_an_error(cross_client: TestClient) -> None:
    response = cross_client.get("/cross/users?cursor=not-a-cursor")
    assert response.status_code == 200
    assert "not a cursor" in response.text
    foreign = encode_cursor(["a", "b"])  # a cursor of another list
    roadchain = cross_client.get(f"/cross/roadchain?roots_cursor={foreign}")
    assert roadchain.status_code == 200
    assert "Merkle roots unavailable" in roadchain.text
    assert "alchemy" in roadchain.text
