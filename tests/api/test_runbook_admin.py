"""Runbook create, update, delete: admin only, 422 naming the field, nothing half-written."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models import Runbook, RunbookRun

SCHEMA = {
    "type": "object",
    "required": ["service"],
    "properties": {"service": {"type": "string"}, "window": {"type": "string"}},
}
NEW = {
    "id": "restart-gateway",
    "title": "Restart gateway",
    "description": "Rolling restart",
    "tags": ["ops", "gateway"],
    "inputsSchema": SCHEMA,
    "linkedWorkflow": "ops.restart",
}


def _count(session: Session, model: type[Runbook] | type[RunbookRun]) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def test_create_answers_201_with_the_runbook_and_stores_it(
    client: TestClient, db_session: Session
) -> None:
    response = client.post("/api/runbooks", json=NEW)
    assert response.status_code == 201
    assert response.json() == {"runbook": NEW}
    stored = db_session.get(Runbook, "restart-gateway")
    assert stored is not None
    assert stored.inputs_schema == SCHEMA
    assert stored.tags == ["ops", "gateway"]
    assert client.get("/api/runbooks/restart-gateway").json() == {"runbook": NEW}


def test_create_fills_optional_fields_and_cleans_tags(client: TestClient) -> None:
    response = client.post("/api/runbooks", json={"id": "a", "title": "A", "tags": [" x", "x"]})
    assert response.status_code == 201
    assert response.json()["runbook"] == {
        "id": "a",
        "title": "A",
        "description": "",
        "tags": ["x"],
        "inputsSchema": {},
        "linkedWorkflow": "",
    }


def test_a_duplicate_id_is_409_and_keeps_the_first(client: TestClient, db_session: Session) -> None:
    assert client.post("/api/runbooks", json=NEW).status_code == 201
    response = client.post("/api/runbooks", json={**NEW, "title": "Other"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Runbook restart-gateway already exists"}
    db_session.expire_all()
    stored = db_session.get(Runbook, "restart-gateway")
    assert stored is not None and stored.title == "Restart gateway"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "has space"}, "id"),
        ({"id": ""}, "id"),
        ({"id": "a/b"}, "id"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"tags": "ops"}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"inputsSchema": []}, "inputsSchema"),
        ({"linkedWorkflow": "w" * 201}, "linkedWorkflow"),
    ],
)
def test_invalid_fields_are_422_naming_the_field_and_write_nothing(
    client: TestClient, db_session: Session, change: dict[str, object], field: str
) -> None:
    response = client.post("/api/runbooks", json={**NEW, **change})
    assert response.status_code == 422
    assert field in response.json()["detail"][0]["loc"]
    assert _count(db_session, Runbook) == 0


def test_an_invalid_json_schema_is_422_naming_inputs_schema(
    client: TestClient, db_session: Session
) -> None:
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": {"type": "banana"}})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inputsSchema"]
    assert error["msg"].startswith("inputsSchema: ")
    assert "banana" in error["msg"]
    assert _count(db_session, Runbook) == 0


def test_patch_changes_only_the_fields_sent(client: TestClient) -> None:
    client.post("/api/runbooks", json=NEW)
    response = client.patch(
        "/api/runbooks/restart-gateway", json={"title": "Restart edge", "tags": ["edge"]}
    )
    assert response.status_code == 200
    assert response.json() == {"runbook": {**NEW, "title": "Restart edge", "tags": ["edge"]}}
    assert client.get("/api/runbooks/restart-gateway").json()["runbook"]["title"] == (
        "Restart edge"
    )


def test_patch_with_null_or_bad_schema_is_422_and_changes_nothing(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/runbooks", json=NEW)
    nulled = client.patch("/api/runbooks/restart-gateway", json={"title": None})
    assert nulled.status_code == 422
    assert nulled.json()["detail"][0]["loc"] == ["body", "title"]
    bad = client.patch(
        "/api/runbooks/restart-gateway",
        json={"title": "Changed", "inputsSchema": {"required": "service"}},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "inputsSchema"]
    db_session.expire_all()
    stored = db_session.get(Runbook, "restart-gateway")
    assert stored is not None
    assert (stored.title, stored.inputs_schema) == ("Restart gateway", SCHEMA)


def test_patch_of_an_unknown_runbook_is_404(client: TestClient) -> None:
    response = client.patch("/api/runbooks/nope", json={"title": "X"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Runbook not found"}


def test_delete_removes_the_runbook_and_its_runs(client: TestClient, db_session: Session) -> None:
    client.post("/api/runbooks", json=NEW)
    client.post("/api/runbooks", json={**NEW, "id": "keep"})
    now = datetime(2026, 1, 5, tzinfo=UTC)
    for runbook_id in ("restart-gateway", "keep"):
        db_session.add(
            RunbookRun(
                id=f"run-{runbook_id}", runbook_id=runbook_id, created_at=now, updated_at=now
            )
        )
    db_session.commit()
    response = client.delete("/api/runbooks/restart-gateway")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/runbooks/restart-gateway").status_code == 404
    db_session.expire_all()
    remaining = db_session.exec(select(RunbookRun.id)).all()
    assert remaining == ["run-keep"]


def test_delete_of_an_unknown_runbook_is_404(client: TestClient) -> None:
    response = client.delete("/api/runbooks/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Runbook not found"}


def test_writes_need_a_token(anon_client: TestClient) -> None:
    assert anon_client.post("/api/runbooks", json=NEW).status_code == 401
    assert anon_client.patch("/api/runbooks/x", json={"title": "X"}).status_code == 401
    assert anon_client.delete("/api/runbooks/x").status_code == 401


def test_a_read_token_cannot_write(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("read")
    db_session.add(Runbook(id="x", title="X"))
    db_session.commit()
    responses = [
        anon_client.post("/api/runbooks", json=NEW, headers=headers),
        anon_client.patch("/api/runbooks/x", json={"title": "Y"}, headers=headers),
        anon_client.delete("/api/runbooks/x", headers=headers),
    ]
    assert [response.status_code for response in responses] == [403, 403, 403]
    assert responses[0].json() == {
        "detail": "This token's scope (read) does not allow admin access"
    }
    assert _count(db_session, Runbook) == 1
