"""The events page: newest first, filters as a GET form, keyset pages, live-tail hooks."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.deps import get_clock
from app.models import AgentEvent
from tests.support.factories import add_agent, add_events
from tests.web.conftest import HX

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def add_event(session: Session, event_id: str, agent_id: str, kind: str, minutes: int) -> None:
    session.add(
        AgentEvent(
            id=event_id,
            agent_id=agent_id,
            kind=kind,
            at=T0 + timedelta(minutes=minutes),
            message=f"{kind} from {agent_id}",
        )
    )
    session.commit()


def arrange(session: Session) -> None:
    """Two agents, five events ten minutes apart from T0."""
    add_agent(session, "agent-1")
    add_agent(session, "agent-2")
    add_event(session, "e1", "agent-1", "started", 0)
    add_event(session, "e2", "agent-2", "heartbeat", 10)
    add_event(session, "e3", "agent-1", "warn", 20)
    add_event(session, "e4", "agent-2", "error", 30)
    add_event(session, "e5", "agent-1", "completed", 40)


def shown(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', html)


def table_tag(html: str) -> str:
    match = re.search(r'<table id="events-table"[^>]*>', html)
    assert match is not None, html
    return match.group(0)


def link(html: str, link_id: str) -> str:
    match = re.search(rf'id="{link_id}" href="([^"]+)"', html)
    assert match is not None, html
    return unescape(match.group(1))


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    response = anon_client.get("/events?kind=warn", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/events%3Fkind%3Dwarn"


def test_events_are_listed_newest_first(web_client: TestClient, db_session: Session) -> None:
    arrange(db_session)
    response = web_client.get("/events")
    assert response.status_code == 200
    assert shown(response.text) == ["e5", "e4", "e3", "e2", "e1"]
    assert 'aria-current="page">Events<' in response.text
    assert 'data-page-section="events"' in response.text


def test_a_row_has_its_time_agent_link_and_kind_in_words(
    web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    html = web_client.get("/events").text
    row = re.search(r'<tr data-id="e4".*?</tr>', html, re.S)
    assert row is not None
    assert 'data-at="2026-01-05T10:30:00Z"' in row.group(0)
    assert '<time datetime="2026-01-05T10:30:00Z"' in row.group(0)
    assert ">2026-01-05 10:30:00 UTC</time>" in row.group(0)
    assert '<a href="/agents/agent-2">agent-2</a>' in row.group(0)
    # The agent's name beside its id.
    assert '<span class="agent-name muted">Agent agent-2</span>' in row.group(0)
    # Warnings and errors carry a glyph class and their word, never colour alone.
    assert '<span class="badge status-error">error</span>' in row.group(0)
    assert "error from agent-2" in row.group(0)
    assert '<span class="badge status-warn">warn</span>' in html
    assert '<span class="badge kind-started">started</span>' in html


def test_messages_are_escaped(web_client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "agent-1")
    db_session.add(
        AgentEvent(id="x", agent_id="agent-1", kind="warn", at=T0, message="<script>x</script>")
    )
    db_session.commit()
    html = web_client.get("/events").text
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x" not in html


def test_filters_by_agent_and_kinds(web_client: TestClient, db_session: Session) -> None:
    arrange(db_session)
    html = web_client.get("/events?agent=agent-1&kind=warn&kind=completed").text
    assert shown(html) == ["e5", "e3"]
    assert 'name="agent" type="text" value="agent-1"' in html
    assert '<input type="checkbox" name="kind" value="warn" checked>' in html
    assert '<input type="checkbox" name="kind" value="error">' in html
    assert '<option value="agent-2" label="Agent agent-2">' in html  # the agent datalist


def test_kinds_may_also_come_as_a_comma_list(web_client: TestClient, db_session: Session) -> None:
    arrange(db_session)
    assert shown(web_client.get("/events?kind=warn,error").text) == ["e4", "e3"]


def test_the_time_range_is_utc_since_inclusive_until_exclusive(
    web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    html = web_client.get("/events?since=2026-01-05T10:10&until=2026-01-05T10:30").text
    assert shown(html) == ["e3", "e2"]
    assert 'name="since" type="datetime-local" step="1" value="2026-01-05T10:10"' in html
    assert "Since <span data-time-zone-label>(UTC)</span>" in html
    # An explicit offset is converted and shown in UTC.
    html = web_client.get("/events?since=2026-01-05T12:20%2B02:00").text
    assert shown(html) == ["e5", "e4", "e3"]
    assert 'value="2026-01-05T10:20"' in html


def test_export_links_keep_the_filters(web_client: TestClient, db_session: Session) -> None:
    arrange(db_session)
    html = web_client.get("/events?agent=agent-1&kind=warn&since=2026-01-05T10:10").text
    for fmt in ("csv", "json"):
        match = re.search(rf'href="(/api/export/events\.{fmt}\?[^"]+)"', html)
        assert match is not None
        query = parse_qsl(urlsplit(unescape(match.group(1))).query)
        assert query == [("agent", "agent-1"), ("kind", "warn"), ("since", "2026-01-05T10:10:00Z")]
        exported = web_client.get(unescape(match.group(1)))
        assert exported.status_code == 200
        assert "e3" in exported.text and "e5" not in exported.text


def test_unknown_kinds_are_a_field_error(web_client: TestClient, db_session: Session) -> None:
    arrange(db_session)
    response = web_client.get("/events?kind=bogus")
    assert response.status_code == 422
    assert 'id="events-kind-error">&#39;bogus&#39; is not one of started' in response.text
    assert shown(response.text) == []
    assert 'data-live-tail="off"' in response.text


def test_an_empty_range_is_an_error_on_until(web_client: TestClient) -> None:
    response = web_client.get("/events?since=2026-01-05T10:00&until=2026-01-05T09:00")
    assert response.status_code == 422
    assert 'id="events-until-error">must be later than since<' in response.text
    assert re.search(
        r'name="until"[^>]*aria-invalid="true" aria-describedby="events-until-error"', response.text
    )


def test_live_filtering_names_the_bad_filter_in_the_results(web_client: TestClient) -> None:
    response = web_client.get(
        "/events?since=2026-01-05T10:00&until=2026-01-05T09:00",
        headers={**HX, "HX-Target": "events-results"},
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<div id="events-results">')
    assert "<li>Until: must be later than since</li>" in response.text


def test_a_read_only_session_sees_the_events(
    read_web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    response = read_web_client.get("/events")
    assert response.status_code == 200
    assert shown(response.text) == ["e5", "e4", "e3", "e2", "e1"]


def test_an_unreadable_time_is_an_error_and_kept_as_typed(web_client: TestClient) -> None:
    response = web_client.get("/events?since=yesterday")
    assert response.status_code == 422
    assert 'id="events-since-error">must be a date and time' in response.text
    assert 'value="yesterday"' in response.text


def test_older_events_are_a_keyset_page_without_the_tail(
    web_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    add_events(db_session, "agent-1", 60, start=T0)
    first = web_client.get("/events?agent=agent-1")
    newest = [f"ev-agent-1-{n:05d}" for n in range(59, -1, -1)]
    assert shown(first.text) == newest[:50]
    assert 'data-live-tail="on"' in table_tag(first.text)
    assert 'data-has-older="true"' in table_tag(first.text)
    older_url = link(first.text, "events-older")
    assert dict(parse_qsl(urlsplit(older_url).query))["agent"] == "agent-1"

    # Events recorded meanwhile neither shift nor repeat the older page.
    add_events(db_session, "agent-1", 3, start=T0 + timedelta(hours=1), prefix="late")
    second = web_client.get(older_url)
    assert shown(second.text) == newest[50:]
    assert 'data-live-tail="off"' in table_tag(second.text)
    assert 'data-has-older="false"' in table_tag(second.text)
    assert 'id="events-older"' not in second.text
    assert link(second.text, "events-newest") == "/events?agent=agent-1"


def test_a_bad_cursor_says_so_and_links_to_the_newest(web_client: TestClient) -> None:
    response = web_client.get("/events?cursor=garbage")
    assert response.status_code == 422
    assert "This page link is not valid" in response.text
    assert "not a cursor returned by this API" in response.text


def test_the_table_carries_the_filters_for_the_live_tail(
    web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    tag = table_tag(
        web_client.get(
            "/events?agent=agent-1&kind=warn&kind=error&since=2026-01-05T10:00&until=2026-01-06"
        ).text
    )
    assert 'data-live-tail="on"' in tag
    assert 'data-agent="agent-1"' in tag
    assert 'data-kinds="warn,error"' in tag
    assert 'data-since="2026-01-05T10:00:00Z"' in tag
    assert 'data-until="2026-01-06T00:00:00Z"' in tag
    assert 'data-page-url="/events?agent=agent-1&amp;kind=warn&amp;kind=error' in tag


def test_the_tail_controls_exist_but_stay_hidden_without_javascript(
    web_client: TestClient,
) -> None:
    html = web_client.get("/events").text
    assert re.search(
        r'<button type="button" id="tail-pause"[^>]*aria-pressed="false" hidden>', html
    )
    assert '<div id="tail-controls" hidden>' in html
    assert '<span id="tail-status" class="live-indicator" data-state="offline"' in html
    assert '<script src="/static/js/live-tail.js" defer></script>' in html
    assert "No events recorded yet." in html


def test_the_live_tail_script_is_served(web_client: TestClient) -> None:
    response = web_client.get("/static/js/live-tail.js")
    assert response.status_code == 200
    assert "new EventSource(STREAM_URL)" in response.text
    assert "innerHTML" not in response.text


def test_filtering_with_htmx_gets_only_the_results(
    web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    page = web_client.get("/events?kind=warn")
    fragment = web_client.get("/events?kind=warn", headers=HX)
    partial = web_client.get("/events?kind=warn", headers={**HX, "HX-Target": "events-results"})
    assert page.text.startswith("<!doctype html>")
    assert fragment.text.startswith("<title>Events · Prism Console</title>")
    assert "<html" not in fragment.text
    assert 'hx-target="#events-results"' in fragment.text
    assert partial.text.lstrip().startswith('<div id="events-results">')
    assert "<form" not in partial.text
    assert shown(partial.text) == ["e3"]
    for response in (page, fragment, partial):
        assert "HX-Request" in response.headers["Vary"]


# --- the log tool: message search, agent match, quick ranges, total ----------------------


def add_message(session: Session, event_id: str, agent_id: str, message: str, minutes: int) -> None:
    session.add(
        AgentEvent(
            id=event_id,
            agent_id=agent_id,
            kind="warn",
            at=T0 + timedelta(minutes=minutes),
            message=message,
        )
    )
    session.commit()


def total(html: str) -> int:
    match = re.search(r'id="events-total" data-total="(\d+)"', html)
    assert match is not None, html
    return int(match.group(1))


def test_the_message_search_ignores_case_and_takes_like_characters_literally(
    web_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    add_message(db_session, "disk", "agent-1", "Disk FULL on /var", 0)
    add_message(db_session, "pct", "agent-1", "usage at 100% now", 1)
    add_message(db_session, "under", "agent-1", "queue_depth high", 2)
    add_message(db_session, "plain", "agent-1", "queue depth normal, 1000 jobs", 3)
    assert shown(web_client.get("/events?q=disk+full").text) == ["disk"]
    # % and _ are the characters typed, not LIKE wildcards, on both engines.
    assert shown(web_client.get("/events?q=100%25").text) == ["pct"]
    assert shown(web_client.get("/events?q=queue_depth").text) == ["under"]
    html = web_client.get("/events?q=QUEUE").text
    assert shown(html) == ["plain", "under"]
    assert total(html) == 2
    assert 'value="QUEUE"' in html
    assert 'data-q="queue"' in table_tag(html)  # the live tail matches the same text


def test_a_search_longer_than_the_limit_is_refused(web_client: TestClient) -> None:
    response = web_client.get("/events", params={"q": "x" * 201})
    assert response.status_code == 422
    assert "q" in response.text


def test_the_agent_filter_takes_an_id_prefix_or_a_part_of_the_name(
    web_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "edge-1", name="Billing worker")
    add_agent(db_session, "edge-10", name="Search indexer")
    add_agent(db_session, "core-7", name="Billing API")
    add_message(db_session, "a", "edge-1", "one", 0)
    add_message(db_session, "b", "edge-10", "two", 1)
    add_message(db_session, "c", "core-7", "three", 2)
    assert shown(web_client.get("/events?agent=edge").text) == ["b", "a"]
    assert shown(web_client.get("/events?agent=EDGE-").text) == ["b", "a"]
    html = web_client.get("/events?agent=billing").text
    assert shown(html) == ["c", "a"]
    tag = table_tag(html)
    assert 'data-agent=""' in tag and 'data-agent-match="billing"' in tag
    assert 'data-agent-named="core-7,edge-1"' in tag
    # An exact id is that agent only, not every id it prefixes.
    html = web_client.get("/events?agent=edge-1").text
    assert shown(html) == ["a"]
    assert 'data-agent="edge-1"' in table_tag(html)
    # Wildcards in the agent filter are literal too.
    assert shown(web_client.get("/events?agent=edge%25").text) == []


def test_searches_the_export_cannot_express_replace_the_export_links(
    web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)
    html = web_client.get("/events?q=warn").text
    assert "/api/export/events.csv" not in html
    assert "Export takes the agent's exact id" in html
    assert "/api/export/events.csv?agent=agent-1" in web_client.get("/events?agent=agent-1").text


def test_a_quick_range_is_a_since_that_follows_the_clock(
    app: FastAPI, web_client: TestClient, db_session: Session
) -> None:
    arrange(db_session)  # events at T0 + 0, 10, 20, 30 and 40 minutes
    app.dependency_overrides[get_clock] = lambda: lambda: T0 + timedelta(minutes=45)
    try:
        html = web_client.get("/events?range=15m").text
        assert shown(html) == ["e5", "e4"]
        assert total(html) == 2
        assert 'data-since="2026-01-05T10:30:00Z"' in table_tag(html)
        assert re.search(r'<a class="button" href="/events\?range=15m" aria-current="true">', html)
        assert '<input type="hidden" name="range" value="15m">' in html
        assert 'name="since" type="datetime-local" step="1" value=""' in html
        # Filters kept by the quick-range links; an explicit since wins over a range.
        assert 'href="/events?kind=warn&amp;range=1h"' in web_client.get("/events?kind=warn").text
        assert shown(web_client.get("/events?range=15m&since=2026-01-05T10:00").text) == [
            "e5", "e4", "e3", "e2", "e1"
        ]  # fmt: skip
    finally:
        app.dependency_overrides.pop(get_clock, None)


def test_an_unknown_quick_range_is_a_field_error(web_client: TestClient) -> None:
    response = web_client.get("/events?range=2w")
    assert response.status_code == 422
    assert "<li>Quick range: must be one of 15m, 1h, 24h, 7d</li>" in response.text


def test_the_total_counts_every_matching_event_not_only_the_page(
    web_client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    add_events(db_session, "agent-1", 60, start=T0)
    html = web_client.get("/events").text
    assert len(shown(html)) == 50
    assert total(html) == 60
    assert 'Matching events: <strong id="events-total" data-total="60">60</strong>' in html
