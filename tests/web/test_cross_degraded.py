"""Cross-service pages degrade panel by panel, and never show a secret of the main database."""

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.maindb import roadchain
from app.maindb.pages import cross
from app.maindb.pages import roadchain as cross_roadchain
from app.maindb.pages import users as cross_users
from tests.support.factories import add_agent
from tests.support.maindb_fixtures import (
    HIDDEN,
    SECRETS,
    MainTarget,
    main_database,
    make_table_slow,
    run_admin,
)
from tests.web.conftest import HX
from tests.web.cross_support import open_main, opened_main, serving

PAGES = [
    "/cross",
    "/cross/reconciliation",
    "/cross/reconciliation?category=in_both",
    "/cross/users",
    "/cross/users/1",
    "/cross/tasks",
    "/cross/timeline",
    "/cross/roadchain",
]


MainVariant = Callable[..., MainTarget]


@pytest.fixture
def main_variant(app: FastAPI, tmp_path: Path) -> Iterator[MainVariant]:
    """Serve a freshly built main database variant: `main_variant(omit=..., location=...)`."""
    with ExitStack() as stack:

        def use(**variant: Any) -> MainTarget:
            target, main_db = stack.enter_context(opened_main(tmp_path, **variant))
            stack.enter_context(serving(app, main_db))
            return target

        yield use


@pytest.mark.parametrize("url", PAGES)
def test_without_a_main_db_every_page_renders_with_a_note(
    web_client: TestClient, app: FastAPI, url: str
) -> None:
    with serving(app, None):
        response = web_client.get(url)
    assert response.status_code == 200, url
    assert "PRISM_MAIN_DB_URL is not configured" in response.text
    assert "<html" in response.text and 'data-page-section="cross"' in response.text


def test_without_a_main_db_each_roadchain_panel_says_so(
    web_client: TestClient, app: FastAPI
) -> None:
    with serving(app, None):
        html = web_client.get("/cross/roadchain").text
    for panel in ("Receipt counts", "Receipts", "Merkle roots", "Webhook log"):
        assert f"<strong>{panel} unavailable:</strong> PRISM_MAIN_DB_URL is not configured" in html


def test_an_unreachable_main_db_is_a_note_not_an_error(
    web_client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    main_db = open_main(f"sqlite:///{tmp_path / 'missing' / 'main.db'}")
    try:
        with serving(app, main_db):
            for url in PAGES:
                response = web_client.get(url)
                assert response.status_code == 200, url
                assert "unavailable" in response.text.lower() or "Unreachable" in response.text
            users = web_client.get("/cross/users").text
    finally:
        main_db.dispose()
    assert "cannot connect to the main database" in users


def test_a_slow_table_times_out_in_its_panel_only(
    web_client: TestClient, app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with main_database("sqlite", tmp_path) as target:
        make_table_slow(target, "roadchain_webhook_log")
        main_db = open_main(target.url)
        # The webhook log's panel reads with a short deadline, which its slow table always
        # misses; the other panels keep a generous one, so a busy machine cannot make them
        # late too (the page reads its panels at the same time).
        impatient = open_main(target.url, main_db_timeout_ms=300)
        webhooks = roadchain.webhooks
        monkeypatch.setattr(
            roadchain, "webhooks", lambda **kwargs: webhooks(**{**kwargs, "main_db": impatient})
        )
        try:
            with serving(app, main_db):
                response = web_client.get("/cross/roadchain")
        finally:
            main_db.dispose()
            impatient.dispose()
    assert response.status_code == 200
    assert "<strong>Webhook log unavailable:</strong>" in response.text
    assert "did not answer within 300 ms" in response.text
    assert 'id="receipts-table"' in response.text and "0xroot5" in response.text


def test_a_missing_table_hides_only_its_panel(
    main_variant: MainVariant, web_client: TestClient
) -> None:
    main_variant(omit=frozenset({"roadchain_webhook_log", "wallets", "commits"}))
    roadchain = web_client.get("/cross/roadchain")
    assert roadchain.status_code == 200
    assert "table roadchain_webhook_log not found in the main database" in roadchain.text
    assert 'id="receipts-table"' in roadchain.text and 'id="roots-table"' in roadchain.text
    user = web_client.get("/cross/users/1")
    assert user.status_code == 200
    assert "Wallets unavailable:" in user.text and "table wallets not found" in user.text
    assert "alice@example.com" in user.text  # the user's facts still show
    timeline = web_client.get("/cross/timeline").text
    assert "table commits not found" in timeline
    assert "task.done" in timeline  # the events still show
    landing = web_client.get("/cross").text
    assert "<code>wallets</code>" in landing and "not found" in landing


def test_a_missing_table_of_a_whole_view_is_a_note(
    main_variant: MainVariant, web_client: TestClient
) -> None:
    main_variant(omit=frozenset({"agents", "agent_logs", "tasks"}))
    recon = web_client.get("/cross/reconciliation")
    assert recon.status_code == 200
    assert "Fleet reconciliation unavailable:" in recon.text
    assert "table agents not found" in recon.text
    tasks = web_client.get("/cross/tasks")
    assert tasks.status_code == 200 and "table tasks not found" in tasks.text


def test_a_main_db_without_the_location_column_drops_that_column(
    main_variant: MainVariant, web_client: TestClient, db_session: Session
) -> None:
    main_variant(location=False)
    add_agent(db_session, "agent-1")
    html = web_client.get("/cross/reconciliation").text
    assert "agent-1" in html and ">Location<" not in html


def test_only_http_links_from_the_main_db_become_links(
    main_variant: MainVariant, web_client: TestClient
) -> None:
    target = main_variant()
    run_admin(
        target,
        "UPDATE roadchain_receipts SET explorer_url = 'javascript:alert(1)' WHERE id = 1",
    )
    html = web_client.get("/cross/roadchain").text
    assert "javascript:" not in html
    assert 'href="https://explorer.example/tx/2"' in html


def test_read_sessions_see_the_cross_pages(
    read_web_client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    with opened_main(tmp_path) as (_, main_db), serving(app, main_db):
        for url in PAGES:
            assert read_web_client.get(url).status_code == 200, url


def _crawl(client: TestClient, url: str, headers: dict[str, str] | None = None) -> list[str]:
    """The page, then every page its Next / Older links lead to."""
    pages = []
    seen = set()
    queue = [url]
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        response = client.get(current, headers=headers or {})
        assert response.status_code in (200, 404), current
        pages.append(response.text)
        for link in re.findall(r'href="(/cross/[^"]*cursor=[^"]*)"', response.text):
            queue.append(link.replace("&amp;", "&"))
    return pages


def test_no_secret_of_the_main_db_appears_on_any_cross_page(
    web_client: TestClient,
    app: FastAPI,
    tmp_path: Path,
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One row per page, so every row of every list is rendered on some page.
    for module, name in (
        (cross, "PAGE_SIZE"),
        (cross, "TIMELINE_PAGE"),
        (cross_users, "PAGE_SIZE"),
        (cross_users, "RECENT_TRANSACTIONS"),
        (cross_roadchain, "RECEIPTS_PAGE"),
        (cross_roadchain, "ROOTS_PAGE"),
        (cross_roadchain, "HOOKS_PAGE"),
    ):
        monkeypatch.setattr(module, name, 1)
    add_agent(db_session, "agent-1")
    urls = [
        *PAGES,
        "/cross/users/2",
        "/cross/users/3",
        "/cross/users?q=a",
        "/cross/users/1?direction=in",
        "/cross/roadchain?user_id=1",
        "/cross/timeline?source=event",
    ]
    with opened_main(tmp_path) as (_, main_db), serving(app, main_db):
        pages: list[str] = []
        for url in urls:
            pages += _crawl(web_client, url)
            pages += _crawl(web_client, url, headers=HX)
    assert len(pages) > 2 * len(urls)  # the crawl followed page links
    text = "\n".join(pages)
    assert "alice@example.com" in text and "0xref4" in text  # the data is there
    assert "[redacted]" in text  # secrets inside JSON documents were met, and hidden
    for secret in (*SECRETS, *HIDDEN):
        assert secret not in text, secret
    assert "password_hash" not in text and "sig_value" not in text and "siwe_nonce" not in text
