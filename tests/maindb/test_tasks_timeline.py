"""Main tasks (either schema) and the merged timeline of events and commits."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.pagination import decode_cursor
from app.maindb import MainDatabase
from app.maindb.agent_timeline import agent_timeline
from app.models import AgentEvent, AgentStatusChange
from tests.support.factories import make_agent
from tests.support.maindb_fixtures import T0, MainTarget


def _body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["available"] is True, body
    return body


def _timeline(client: TestClient, **params: Any) -> list[tuple[str, int]]:
    """(source, id) of every item, following nextCursor to the end."""
    seen: list[tuple[str, int]] = []
    cursor = None
    for _ in range(50):
        extra = {"cursor": cursor} if cursor else {}
        body = _body(client.get("/api/main/timeline", params={**params, **extra}))
        seen.extend((item["source"], item["id"]) for item in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination never ended")


def test_tasks_of_the_assignee_schema_are_counted_by_status_and_listed(api: TestClient) -> None:
    body = _body(api.get("/api/main/tasks"))
    assert body["variant"] == "assignee"
    assert body["counts"] == {"todo": 2, "in_progress": 1, "done": 2}
    assert body["total"] == 5
    assert [task["id"] for task in body["items"]] == [5, 4, 3, 2, 1]
    assert body["items"][4] == {
        "id": 1,
        "title": "Write docs",
        "status": "todo",
        "description": "About write docs",
        "priority": 1,
        "assigneeId": 1,
        "dueDate": "2026-02-01",
        "projectId": None,
        "userId": None,
        "createdAt": "2026-01-05T10:01:00Z",
        "updatedAt": "2026-01-05T10:01:00Z",
    }


def test_tasks_filter_by_status_and_title_and_page(api: TestClient) -> None:
    todo = _body(api.get("/api/main/tasks", params={"status": "todo"}))
    assert [task["id"] for task in todo["items"]] == [2, 1]
    assert todo["counts"]["done"] == 2  # counts cover the whole table
    assert [t["id"] for t in _body(api.get("/api/main/tasks", params={"q": "BUG"}))["items"]] == [2]
    first = _body(api.get("/api/main/tasks", params={"limit": 4}))
    rest = _body(api.get("/api/main/tasks", params={"limit": 4, "cursor": first["nextCursor"]}))
    assert [task["id"] for task in rest["items"]] == [1]


def test_tasks_of_the_project_schema_are_detected_and_shown(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(tasks="project")))
    body = _body(client.get("/api/main/tasks"))
    assert body["variant"] == "project"
    assert body["counts"] == {"pending": 2, "done": 1, "failed": 1}
    assert body["items"][0]["title"] == "Deploy"
    assert body["items"][0]["projectId"] == 10
    assert body["items"][0]["userId"] == 1
    assert body["items"][0]["assigneeId"] is None
    pending = _body(client.get("/api/main/tasks", params={"status": "pending"}))
    assert [task["id"] for task in pending["items"]] == [2, 1]


def test_the_timeline_merges_events_and_commits_newest_first(api: TestClient) -> None:
    body = _body(api.get("/api/main/timeline"))
    assert [(i["source"], i["id"]) for i in body["items"]] == [
        ("commit", 3),
        ("event", 3),
        ("commit", 2),
        ("event", 2),
        ("commit", 1),
        ("event", 1),
    ]
    assert body["sources"] == {"timeline_events": True, "commits": True}
    assert body["items"][0]["at"] == "2026-01-05T11:00:00Z"
    assert body["items"][0]["repo"] == "main-api"
    assert body["items"][0]["type"] == "commit"
    event = body["items"][5]
    assert event["type"] == "user.created"
    assert event["entityType"] == "user"
    assert event["data"] == {"email": "alice@example.com", "password": "[redacted]"}


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_timeline_pages_neither_skip_nor_repeat(api: TestClient, limit: int) -> None:
    assert _timeline(api, limit=limit) == _timeline(api)


def test_timeline_filters(api: TestClient) -> None:
    assert _timeline(api, repo="main-api") == [("commit", 3), ("commit", 1)]
    assert _timeline(api, entity_type="task") == [("event", 2)]
    assert _timeline(api, type="commit") == [("commit", 3), ("commit", 2), ("commit", 1)]
    assert _timeline(api, type="agent.error") == [("event", 3)]
    assert _timeline(api, source="event") == [("event", 3), ("event", 2), ("event", 1)]
    assert _timeline(api, repo="main-api", entity_type="task") == []  # no source fits both
    assert _timeline(api, since="2026-01-05T10:25:00Z", until="2026-01-05T10:50:00Z") == [
        ("commit", 2),
        ("event", 2),
    ]


def test_the_timeline_shows_one_source_when_the_other_table_is_missing(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(omit=frozenset({"commits"}))))
    body = _body(client.get("/api/main/timeline"))
    assert body["sources"] == {"timeline_events": True, "commits": False}
    assert body["notes"] == ["table commits not found in the main database"]
    assert [item["source"] for item in body["items"]] == ["event"] * 3


def test_the_timeline_is_unavailable_when_both_tables_are_missing(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(omit=frozenset({"commits", "timeline_events"}))))
    assert client.get("/api/main/timeline").json() == {
        "available": False,
        "reason": "table timeline_events not found in the main database; "
        "table commits not found in the main database",
    }


def test_an_agent_timeline_merges_console_rows_and_main_logs_page_by_page(
    api_for: Callable[[MainDatabase | None], TestClient],
    main_db: MainDatabase,
    console_session: Session,
) -> None:
    api_for(main_db)  # an empty console
    console_session.add(make_agent("agent-1", name="Ops Agent 1", domain="ops"))
    console_session.commit()
    console_session.add_all(
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
                agent_id="agent-1", to_status="degraded", at=T0 + timedelta(minutes=2.5)
            ),
        ]
    )
    console_session.commit()
    seen: list[tuple[str, str | None]] = []
    cursor = None
    for _ in range(5):
        page = agent_timeline(
            session=console_session, main_db=main_db, agent_id="agent-1", limit=3, cursor=cursor
        )
        assert (page.logs_unavailable, page.in_main) == (None, True)
        seen += [(entry.source, entry.message or entry.label) for entry in page.entries]
        if page.next_cursor is None:
            break
        cursor = decode_cursor(page.next_cursor)
    assert seen == [
        ("log", "recovered"),
        ("event", "console late"),
        ("log", "crash"),
        ("log", "slow disk"),
        ("status", "degraded"),
        ("log", "working"),
        ("log", "boot"),
        ("event", "console early"),
    ]
