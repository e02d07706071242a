"""One agent's page: facts, status history, infinite-scroll events, memory chart, runbooks, 404."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.models import Agent, AgentEvent, AgentMemorySample, AgentStatusChange, Runbook
from tests.support.maindb_fixtures import HIDDEN, T0, main_database, make_table_slow
from tests.web.conftest import HX
from tests.web.cross_support import open_main, opened_main, serving

MORE = {**HX, "HX-Target": "events-more"}


def _agent(db_session: Session, **fields: object) -> Agent:
    values: dict[str, object] = {
        "id": "db-1",
        "name": "Postgres Watcher",
        "domain": "data",
        "status": "degraded",
        "memory_used_mb": 512.0,
        "last_seen_at": utcnow(),
        "version": "2.1.0",
        **fields,
    }
    agent = Agent.model_validate(values)
    db_session.add(agent)
    db_session.commit()
    return agent


def _events(db_session: Session, agent_id: str, count: int) -> None:
    now = utcnow()
    db_session.add_all(
        AgentEvent(
            id=f"{agent_id}-e{index:03}",
            agent_id=agent_id,
            kind="heartbeat",
            at=now - timedelta(minutes=index),
            message=f"event number {index:03}",
        )
        for index in range(count)
    )
    db_session.commit()


def _messages(html: str) -> list[str]:
    return re.findall(r"<span>(event number \d+)</span>", html)


def _load_more_url(html: str) -> str | None:
    found = re.search(r'<li id="events-more" class="load-more" hx-get="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    for path in ("/agents/db-1", "/agents/db-1/events", "/agents/db-1/history"):
        response = anon_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/agents/db-1")


def test_facts_show_the_shown_and_the_reported_status(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session, last_seen_at=utcnow() - timedelta(hours=3))
    page = web_client.get("/agents/db-1").text
    facts = page.split('id="agent-facts"')[1].split("</dl>")[0]
    assert "<dd>Postgres Watcher</dd>" in facts
    assert '<a href="/agents?domain=data">data</a>' in facts
    assert '<dt>Status</dt><dd><span class="badge status-offline">Offline</span>' in facts
    assert "<dt>Reported status</dt>" in facts
    assert "status-degraded" in facts
    assert "512.0 MB" in facts
    assert "2.1.0" in facts
    assert "3h ago</time>" in facts


def test_a_live_agent_shows_no_separate_reported_status(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    page = web_client.get("/agents/db-1").text
    assert "Reported status" not in page
    assert "status-degraded" in page.split('id="agent-facts"')[1]


def test_status_history_is_newest_first_with_a_link_to_more(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    now = utcnow()
    statuses = ["online", "degraded"]
    db_session.add_all(
        AgentStatusChange(
            agent_id="db-1",
            from_status=statuses[(index + 1) % 2],
            to_status=statuses[index % 2],
            at=now - timedelta(hours=index),
        )
        for index in range(12)
    )
    db_session.commit()
    page = web_client.get("/agents/db-1").text
    table = page.split('id="status-history"')[1].split("</table>")[0]
    shown = re.findall(r'<td><time datetime="([^"]+)"', table)
    assert len(shown) == 10
    assert shown == sorted(shown, reverse=True)
    assert "status-online" in table.split("</tr>")[1]  # the newest change (index 0) is first
    more = unescape(re.findall(r'id="history-more" href="([^"]+)"', page)[0])
    assert more.startswith("/agents/db-1/history?cursor=")
    rest = web_client.get(more)
    assert rest.status_code == 200
    older = re.findall(r">(\d+h ago)</time>", rest.text)
    assert older == ["10h ago", "11h ago"]


def test_the_timeline_shows_twenty_events_and_a_load_more_row(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    _events(db_session, "db-1", 45)
    page = web_client.get("/agents/db-1").text
    assert _messages(page) == [f"event number {index:03}" for index in range(20)]
    url = _load_more_url(page)
    assert url is not None and url.startswith("/agents/db-1/events?cursor=")
    row = page.split('<li id="events-more"')[1].split("</li>")[0]
    assert 'hx-trigger="revealed"' in row
    assert 'hx-swap="outerHTML"' in row
    # Without JavaScript the same row is a plain link to that page.
    assert f'<a href="{url}">' in unescape(row)


def test_the_load_more_partial_returns_the_next_events_and_the_next_cursor(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    _events(db_session, "db-1", 45)
    second_url = _load_more_url(web_client.get("/agents/db-1").text)
    assert second_url is not None
    second = web_client.get(second_url, headers=MORE)
    assert second.status_code == 200
    assert second.text.lstrip().startswith('<li class="timeline-event"')
    assert "<title>" not in second.text and "<html" not in second.text
    assert _messages(second.text) == [f"event number {index:03}" for index in range(20, 40)]
    third_url = _load_more_url(second.text)
    assert third_url is not None and third_url != second_url
    third = web_client.get(third_url, headers=MORE)
    assert _messages(third.text) == [f"event number {index:03}" for index in range(40, 45)]
    assert _load_more_url(third.text) is None
    assert "events-more" not in third.text


def test_the_load_more_link_without_javascript_is_a_full_page(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    _events(db_session, "db-1", 25)
    url = _load_more_url(web_client.get("/agents/db-1").text)
    assert url is not None
    page = web_client.get(url)
    assert page.text.startswith("<!doctype html>")
    assert "<h1>Timeline of Postgres Watcher</h1>" in page.text
    assert _messages(page.text) == [f"event number {index:03}" for index in range(20, 25)]
    assert 'href="/agents/db-1">Back to the agent</a>' in page.text
    assert "HX-Request" in page.headers["Vary"]


def test_events_of_other_agents_stay_out(web_client: TestClient, db_session: Session) -> None:
    _agent(db_session)
    _agent(db_session, id="other", name="Other")
    _events(db_session, "other", 3)
    page = web_client.get("/agents/db-1").text
    assert _messages(page) == []
    assert "Nothing recorded yet." in page


def test_a_broken_events_cursor_gets_an_html_error(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    response = web_client.get("/agents/db-1/events?cursor=broken")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "cursor:" in response.text


def test_the_memory_chart_reads_the_api_and_summarises_without_javascript(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    now = utcnow()
    db_session.add_all(
        [
            AgentMemorySample(
                agent_id="db-1", recorded_at=now - timedelta(hours=30), memory_used_mb=9999
            ),
            AgentMemorySample(
                agent_id="db-1", recorded_at=now - timedelta(hours=3), memory_used_mb=300
            ),
            AgentMemorySample(
                agent_id="db-1", recorded_at=now - timedelta(hours=2), memory_used_mb=700
            ),
            AgentMemorySample(
                agent_id="db-1", recorded_at=now - timedelta(hours=1), memory_used_mb=450
            ),
        ]
    )
    db_session.commit()
    page = web_client.get("/agents/db-1").text
    chart = page.split('id="memory-chart"')[1].split("</div>")[0]
    url = unescape(re.findall(r'data-chart-url="([^"]+)"', chart)[0])
    assert url.startswith("/api/agents/db-1/memory?since=")
    assert '"key": "memoryUsedMB"' in unescape(chart)
    assert 'role="img"' in chart
    text = " ".join(chart.split())
    assert "Latest 450.0 MB, minimum 300.0 MB, maximum 700.0 MB" in text
    assert "(3 reports)" in text
    api = web_client.get(url)
    assert api.status_code == 200
    assert api.json()["series"]["memoryUsedMB"]["max"] == [300.0, 700.0, 450.0]


def test_runbooks_tagged_with_the_domain_or_the_id_apply(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    db_session.add_all(
        [
            Runbook(id="rb-data", title="Vacuum the warehouse", tags=["data", "weekly"]),
            Runbook(id="rb-self", title="Restart db-1", tags=["db-1"]),
            Runbook(id="rb-ops", title="Generic restart", tags=["ops"]),
            Runbook(id="rb-near", title="Database tuning", tags=["database"]),
        ]
    )
    db_session.commit()
    section = web_client.get("/agents/db-1").text.split('id="agent-runbooks"')[1].split("</ul>")[0]
    assert re.findall(r'<a href="/runbooks/([^"]+)">', section) == ["rb-self", "rb-data"]


def test_without_a_matching_runbook_the_general_ops_ones_apply(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    db_session.add_all(
        [
            Runbook(id="rb-ops", title="Generic restart", tags=["ops", "standard"]),
            Runbook(id="rb-fin", title="Close the books", tags=["finance"]),
        ]
    )
    db_session.commit()
    page = web_client.get("/agents/db-1").text
    section = page.split('id="agent-runbooks"')[1].split("</ul>")[0]
    assert re.findall(r'<a href="/runbooks/([^"]+)">', section) == ["rb-ops"]
    assert "the general runbooks (tag <code>ops</code>) apply" in page


def test_an_unknown_agent_gets_a_404_page_in_the_layout(web_client: TestClient) -> None:
    for path in ("/agents/ghost", "/agents/ghost/events", "/agents/ghost/history"):
        response = web_client.get(path)
        assert response.status_code == 404
        assert response.text.startswith("<!doctype html>")
        assert '<h1 id="not-found-title">Agent not found</h1>' in response.text
        assert "<code>ghost</code>" in response.text
        assert 'aria-label="Main"' in response.text  # the navigation of the layout


def test_an_unknown_agent_as_a_fragment_is_still_a_404(web_client: TestClient) -> None:
    response = web_client.get("/agents/ghost", headers=HX)
    assert response.status_code == 404
    assert response.text.startswith("<title>Agent not found · Prism Console</title>")


def test_ids_with_url_characters_are_linked_escaped(
    web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session, id="odd#1?x", name="Odd")
    listing = web_client.get("/agents").text
    assert 'href="/agents/odd%231%3Fx"' in listing
    page = web_client.get("/agents/odd%231%3Fx")
    assert page.status_code == 200
    assert "<h1>Odd" in page.text
    assert "/api/agents/odd%231%3Fx/memory?since=" in page.text


def test_a_read_only_session_sees_the_agent_page(
    read_web_client: TestClient, db_session: Session
) -> None:
    _agent(db_session)
    _events(db_session, "db-1", 2)
    response = read_web_client.get("/agents/db-1")
    assert response.status_code == 200
    assert _messages(response.text) == ["event number 000", "event number 001"]
    assert response.text.count('method="post"') == 1  # signing out only


# The seeded main database has agent slug "agent-1" with five agent_logs at T0 + 1..5 min
# ("boot", "working", "slow disk", "crash", "recovered") and two logs of another agent.


@contextmanager
def _main_serving(app: FastAPI, directory: Path, **variant: Any) -> Iterator[None]:
    with opened_main(directory, **variant) as (_, main_db), serving(app, main_db):
        yield


def _rows(html: str) -> list[tuple[str, str]]:
    """(source, text) of each timeline row, in page order; text without tags or spaces."""
    rows = re.findall(r'<li class="timeline-(\w+)" data-source="\w+">(.*?)</li>', html, re.S)
    return [(source, " ".join(re.sub(r"<[^>]+>", " ", body).split())) for source, body in rows]


def _agent_one(db_session: Session) -> None:
    """Console agent-1 with two events and a status change around the main logs' times."""
    _agent(db_session, id="agent-1", name="Ops Agent 1")
    db_session.add_all(
        [
            AgentEvent(
                id="late",
                agent_id="agent-1",
                kind="warn",
                at=T0 + timedelta(minutes=4.5),
                message="console late",
            ),
            AgentEvent(
                id="early",
                agent_id="agent-1",
                kind="started",
                at=T0 + timedelta(minutes=0.5),
                message="console early",
            ),
            AgentStatusChange(
                agent_id="agent-1",
                from_status="online",
                to_status="degraded",
                at=T0 + timedelta(minutes=2.5),
            ),
        ]
    )
    db_session.commit()


def test_main_agent_logs_are_merged_into_the_timeline_by_source(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent_one(db_session)
    with _main_serving(app, tmp_path):
        page = web_client.get("/agents/agent-1")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert [source for source, _ in rows] == [
        "log",
        "event",
        "log",
        "log",
        "status",
        "log",
        "log",
        "event",
    ]
    texts = [text for _, text in rows]
    assert texts[0].endswith("Main log info recovered")
    assert "Event Warn console late" in texts[1]
    assert "Main log error crash" in texts[2] and '{"code": 500}' in unescape(texts[2])
    assert "Status Degraded changed from Online" in texts[4]
    assert "Main log info boot" in texts[6]
    assert "Event Started console early" in texts[7]
    assert "agent two" not in page.text  # the other main agent's logs stay out
    assert 'id="timeline-logs-note"' not in page.text
    for secret in HIDDEN:
        assert secret not in page.text


def test_the_merged_timeline_pages_neither_skip_nor_repeat(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent(db_session, id="agent-1", name="Ops Agent 1")
    # 25 console events every 20 s from T0: the five main logs fall between them.
    db_session.add_all(
        AgentEvent(
            id=f"e{index:02}",
            agent_id="agent-1",
            kind="heartbeat",
            at=T0 + timedelta(seconds=20 * index),
            message=f"event number {index:03}",
        )
        for index in range(25)
    )
    db_session.commit()
    with _main_serving(app, tmp_path):
        first = web_client.get("/agents/agent-1").text
        rows = _rows(first)
        url = _load_more_url(first)
        for _ in range(5):  # 30 entries are two pages; a cursor going round fails below
            if url is None:
                break
            fragment = web_client.get(url, headers=MORE).text
            rows += _rows(fragment)
            url = _load_more_url(fragment)
        assert url is None
    assert len(_rows(first)) == 20
    events = [text.rsplit(" ", 1)[-1] for source, text in rows if source == "event"]
    logs = [text for source, text in rows if source == "log"]
    assert events == [f"{index:03}" for index in reversed(range(25))]
    seeded = ["info recovered", "error crash", "warn slow disk", "info working", "info boot"]
    assert len(logs) == len(seeded)
    for text, wanted in zip(logs, seeded, strict=True):
        assert f"Main log {wanted}" in text
    assert len(rows) == 30
    # Newest first across both sources. The log at T0 + 5 min has event 15's time: on equal
    # times console events come first.
    flat = [text for _, text in rows]
    recovered = next(i for i, text in enumerate(flat) if text.endswith("recovered"))
    assert flat[recovered - 1].endswith("event number 015")
    assert flat[recovered + 1].endswith("event number 014")


def test_without_a_main_db_the_timeline_shows_console_entries_and_a_note(
    web_client: TestClient, db_session: Session, app: FastAPI
) -> None:
    _agent_one(db_session)
    with serving(app, None):
        page = web_client.get("/agents/agent-1").text
    assert [source for source, _ in _rows(page)] == ["event", "status", "event"]
    assert "<strong>Main API logs unavailable:</strong> PRISM_MAIN_DB_URL is not configured" in page


def test_a_main_db_without_agent_logs_is_a_note_on_the_timeline(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent_one(db_session)
    with _main_serving(app, tmp_path, omit=frozenset({"agent_logs"})):
        response = web_client.get("/agents/agent-1")
    assert response.status_code == 200
    assert [source for source, _ in _rows(response.text)] == ["event", "status", "event"]
    assert "table agent_logs not found in the main database" in response.text


def test_a_slow_main_db_costs_the_timeline_its_logs_only(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent_one(db_session)
    with main_database("sqlite", tmp_path) as target:
        make_table_slow(target, "agent_logs")
        # The short deadline is the slow read's only: the page reads the main database once
        # (the timeline's logs), and everything else comes from the console database, which
        # no main-database deadline bounds. Missing the deadline is certain (the slow view
        # runs far longer), and a busy machine can only make it come sooner.
        main_db = open_main(target.url, main_db_timeout_ms=300)
        try:
            with serving(app, main_db):
                response = web_client.get("/agents/agent-1")
        finally:
            main_db.dispose()
    assert response.status_code == 200
    assert [source for source, _ in _rows(response.text)] == ["event", "status", "event"]
    assert "did not answer within 300 ms" in response.text
    assert 'id="agent-facts"' in response.text  # the rest of the page is there


def test_an_agent_the_main_db_does_not_know_gets_console_entries_only(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent(db_session)
    _events(db_session, "db-1", 2)
    with _main_serving(app, tmp_path):
        page = web_client.get("/agents/db-1").text
    assert [source for source, _ in _rows(page)] == ["event", "event"]
    assert "No main API agent has this id or slug" in page


def test_a_scroll_page_notes_main_logs_that_became_unreachable(
    web_client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    _agent(db_session, id="agent-1", name="Ops Agent 1")
    _events(db_session, "agent-1", 30)
    with _main_serving(app, tmp_path):
        url = _load_more_url(web_client.get("/agents/agent-1").text)
    assert url is not None
    unreachable = open_main(f"sqlite:///{tmp_path / 'gone' / 'main.db'}")
    try:
        with serving(app, unreachable):
            fragment = web_client.get(url, headers=MORE).text
    finally:
        unreachable.dispose()
    assert fragment.lstrip().startswith('<li class="empty"><strong>Main API logs unavailable')
    assert "cannot connect to the main database" in fragment
    assert _messages(fragment) == [f"event number {index:03}" for index in range(20, 30)]
