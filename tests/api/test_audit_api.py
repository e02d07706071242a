"""Reading the audit log: GET /api/audit with each filter and keyset pages, the exports,
admin only, and no route that edits or deletes a row."""

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.audit.service import Actor, record

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ALICE = Actor(name="alice", actor_id="tok-a", scope="admin", ip="10.0.0.1")
BOB = Actor(name="bob", actor_id="tok-b", scope="operate", ip="10.0.0.2")
CLI = Actor(name="cli:root", actor_id=None, scope=None)


def _seed(session: Session) -> None:
    """Six rows an hour apart: T0 .. T0+5h."""
    rows = [
        (ALICE, "token.create", "token", "tok-b"),
        (BOB, "runbook.execute", "runbook", "rb"),
        (ALICE, "setting.set", "setting", "site.name"),
        (BOB, "runbook.execute", "runbook", "other"),
        (CLI, "token.revoke", "token", "tok-b"),
        (ALICE, "agent.delete", "agent", "a1"),
    ]
    for hour, (actor, action, target_type, target_id) in enumerate(rows):
        record(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            summary=f"{action} {target_id}",
            now=T0 + timedelta(hours=hour),
        )
    session.commit()


def _ids(client: TestClient, **params: str) -> list[int]:
    response = client.get("/api/audit", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_the_list_is_newest_first_with_every_field(client: TestClient, db_session: Session) -> None:
    _seed(db_session)
    body = client.get("/api/audit").json()
    assert [item["id"] for item in body["items"]] == [6, 5, 4, 3, 2, 1]
    assert body["nextCursor"] is None
    first = body["items"][-1]
    assert set(first) == {
        "id", "at", "actor", "actorId", "scope", "action", "targetType", "targetId",
        "summary", "detail", "ip", "requestId", "prevHash", "hash",
    }  # fmt: skip
    assert first["at"] == "2026-11-01T12:00:00Z"
    assert first["actorId"] == "tok-a"
    assert body["items"][-2]["prevHash"] == first["hash"]


def test_each_filter_narrows_the_list(client: TestClient, db_session: Session) -> None:
    _seed(db_session)
    assert _ids(client, actor="bob") == [4, 2]
    assert _ids(client, actorId="tok-a") == [6, 3, 1]
    assert _ids(client, actor="cli:root") == [5]
    assert _ids(client, action="runbook.execute") == [4, 2]
    assert _ids(client, action="token.*") == [5, 1]
    assert _ids(client, targetType="token") == [5, 1]
    assert _ids(client, targetType="runbook", targetId="rb") == [2]
    assert _ids(client, since=(T0 + timedelta(hours=4)).isoformat()) == [6, 5]
    assert _ids(client, until=(T0 + timedelta(hours=1)).isoformat()) == [1]
    assert _ids(client, actor="bob", since=(T0 + timedelta(hours=2)).isoformat()) == [4]
    assert _ids(client, action="token%") == []  # no LIKE wildcards from the caller


def test_keyset_pages_continue_after_the_last_row(client: TestClient, db_session: Session) -> None:
    _seed(db_session)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/audit", params=params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        # A row written meanwhile never shifts the next page.
        record(db_session, actor=ALICE, action="a.b", target_type=None, target_id=None, summary="")
        db_session.commit()
    assert seen == [6, 5, 4, 3, 2, 1]


def test_bad_filters_are_a_422_naming_the_field(client: TestClient) -> None:
    cases = [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ]
    for params, name in cases:
        response = client.get("/api/audit", params=params)
        assert response.status_code == 422, params
        assert name in json.dumps(response.json()), params


def test_only_admins_read_the_log(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    paths = ["/api/audit", "/api/export/audit.csv", "/api/export/audit.json"]
    for path in paths:
        assert anon_client.get(path).status_code == 401
        for scope in ("read", "ingest", "operate"):
            assert anon_client.get(path, headers=token_for(scope)).status_code == 403, scope
        assert anon_client.get(path, headers=token_for("admin")).status_code == 200


def test_no_route_edits_or_deletes_audit_rows(app: FastAPI) -> None:
    methods = {
        method
        for context in iter_route_contexts(app.routes)
        if context.path and "audit" in context.path and context.methods
        for method in context.methods
    }
    assert methods <= {"GET", "HEAD"}


def test_the_exports_have_the_lists_filters_and_order(
    client: TestClient, db_session: Session
) -> None:
    _seed(db_session)
    response = client.get("/api/export/audit.json", params={"action": "runbook.execute"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="audit.json"'
    rows = response.json()
    assert [row["id"] for row in rows] == [4, 2]
    assert rows[0] == client.get("/api/audit").json()["items"][2]
    response = client.get("/api/export/audit.csv", params={"actor": "alice"})
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in table] == ["6", "3", "1"]
    assert table[-1]["at"] == "2026-11-01T12:00:00Z"
    assert table[-1]["prevHash"] == "0" * 64


def test_the_csv_keeps_detail_as_json_and_defuses_formulas(
    client: TestClient, db_session: Session
) -> None:
    record(
        db_session,
        actor=Actor(name="=cmd|calc", actor_id=None, scope=None),
        action="setting.set",
        target_type="setting",
        target_id="k",
        summary="s",
        detail={"value": "v", "n": 1},
    )
    db_session.commit()
    [row] = list(csv.DictReader(io.StringIO(client.get("/api/export/audit.csv").text)))
    assert row["actor"] == "'=cmd|calc"
    assert json.loads(row["detail"]) == {"value": "v", "n": 1}
