"""One agent's page: facts, status history, infinite-scroll events, memory chart, runbooks, 404."""

import re
from datetime import timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Agent, AgentEvent, AgentMemorySample, AgentStatusChange, Runbook
from app.timeutil import utcnow
from tests.web.conftest import HX

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
    assert second.text.lstrip().startswith("<li>")
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
    assert "<h1>Events of Postgres Watcher</h1>" in page.text
    assert _messages(page.text) == [f"event number {index:03}" for index in range(20, 25)]
    assert 'href="/agents/db-1">Back to the agent</a>' in page.text
    assert "HX-Request" in page.headers["Vary"]


def test_events_of_other_agents_stay_out(web_client: TestClient, db_session: Session) -> None:
    _agent(db_session)
    _agent(db_session, id="other", name="Other")
    _events(db_session, "other", 3)
    page = web_client.get("/agents/db-1").text
    assert _messages(page) == []
    assert "No events recorded." in page


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
