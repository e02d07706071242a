"""GET /api/runbooks and /api/runbooks/{id}: the compatible shapes, order, filters, pages."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.models import Runbook

SCHEMA = {
    "type": "object",
    "required": ["service"],
    "properties": {"service": {"type": "string"}, "window": {"type": "string"}},
}


def _add(session: Session, runbook_id: str, title: str, **fields: object) -> None:
    session.add(Runbook(id=runbook_id, title=title, **fields))  # type: ignore[arg-type]
    session.commit()


def test_the_list_has_exactly_the_compatible_keys(client: TestClient, db_session: Session) -> None:
    _add(
        db_session,
        "runbook-1",
        "Operational Task 1",
        description="Restart things",
        tags=["ops", "standard"],
        inputs_schema=SCHEMA,
        linked_workflow="roadglitch.workflow.1",
    )
    response = client.get("/api/runbooks")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": "runbook-1",
                "title": "Operational Task 1",
                "description": "Restart things",
                "tags": ["ops", "standard"],
                "inputsSchema": SCHEMA,
                "linkedWorkflow": "roadglitch.workflow.1",
            }
        ],
        "nextCursor": None,
    }


def test_the_list_is_sorted_by_title_then_id(client: TestClient, db_session: Session) -> None:
    _add(db_session, "b", "Bravo")
    _add(db_session, "z", "Alpha")
    _add(db_session, "a", "Alpha")
    ids = [item["id"] for item in client.get("/api/runbooks").json()["items"]]
    assert ids == ["a", "z", "b"]


def test_without_limit_every_runbook_is_returned(client: TestClient, db_session: Session) -> None:
    db_session.add_all(Runbook(id=f"rb-{n:04d}", title=f"Task {n:04d}") for n in range(1203))
    db_session.commit()
    body = client.get("/api/runbooks").json()
    assert len(body["items"]) == 1203
    assert body["nextCursor"] is None


def test_limit_pages_through_every_runbook_once(client: TestClient, db_session: Session) -> None:
    for n in range(7):
        _add(db_session, f"rb-{n}", f"Task {n % 3}")  # equal titles: the id breaks ties
    seen: list[str] = []
    url = "/api/runbooks?limit=3"
    while True:
        body = client.get(url).json()
        assert len(body["items"]) <= 3
        seen.extend(item["id"] for item in body["items"])
        if body["nextCursor"] is None:
            break
        url = f"/api/runbooks?limit=3&cursor={body['nextCursor']}"
    assert seen == ["rb-0", "rb-3", "rb-6", "rb-1", "rb-4", "rb-2", "rb-5"]


def test_a_page_ending_exactly_at_the_last_row_has_no_cursor(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "a", "A")
    _add(db_session, "b", "B")
    body = client.get("/api/runbooks?limit=2").json()
    assert [item["id"] for item in body["items"]] == ["a", "b"]
    assert body["nextCursor"] is None


def test_a_forged_cursor_is_422_naming_the_cursor(client: TestClient) -> None:
    response = client.get("/api/runbooks?limit=2&cursor=bm9wZQ")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cursor:")


def test_q_searches_title_and_description_case_insensitively(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "a", "Restart Gateway")
    _add(db_session, "b", "Rotate keys", description="after a GATEWAY incident")
    _add(db_session, "c", "Vacuum database")
    _add(db_session, "d", "100% disk", description="literal percent")
    ids = [item["id"] for item in client.get("/api/runbooks?q=gateway").json()["items"]]
    assert ids == ["a", "b"]
    percent = client.get("/api/runbooks", params={"q": "0%"}).json()["items"]
    assert [item["id"] for item in percent] == ["d"]


def test_tag_filter_matches_whole_tags_only(client: TestClient, db_session: Session) -> None:
    _add(db_session, "a", "A", tags=["ops", "standard"])
    _add(db_session, "b", "B", tags=["devops"])
    _add(db_session, "c", "C", tags=["security"])
    ids = [item["id"] for item in client.get("/api/runbooks?tag=ops").json()["items"]]
    assert ids == ["a"]


def test_tag_filter_finds_tags_with_accents_and_quotes(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "a", "A", tags=["café", 'say "hi"'])
    _add(db_session, "b", "B", tags=["cafe"])
    for tag in ("café", 'say "hi"'):
        ids = [
            item["id"] for item in client.get("/api/runbooks", params={"tag": tag}).json()["items"]
        ]
        assert ids == ["a"]


def test_tag_filter_pages_past_rows_that_only_look_alike(
    client: TestClient, db_session: Session
) -> None:
    for n in range(6):
        _add(db_session, f"rb-{n}", f"Task {n}", tags=["ops" if n % 2 else "devops"])
    first = client.get("/api/runbooks?tag=ops&limit=2").json()
    assert [item["id"] for item in first["items"]] == ["rb-1", "rb-3"]
    rest = client.get(f"/api/runbooks?tag=ops&limit=2&cursor={first['nextCursor']}").json()
    assert [item["id"] for item in rest["items"]] == ["rb-5"]
    assert rest["nextCursor"] is None


def test_comma_separated_tags_of_adopted_rows_read_as_a_list(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "old", "Old")
    db_session.execute(text("UPDATE runbook SET tags = 'ops, standard' WHERE id = 'old'"))
    db_session.commit()
    assert client.get("/api/runbooks/old").json()["runbook"]["tags"] == ["ops", "standard"]
    assert [i["id"] for i in client.get("/api/runbooks?tag=standard").json()["items"]] == ["old"]


def test_one_runbook_is_wrapped_in_runbook(client: TestClient, db_session: Session) -> None:
    _add(db_session, "runbook-2", "Operational Task 2", inputs_schema=SCHEMA)
    response = client.get("/api/runbooks/runbook-2")
    assert response.status_code == 200
    assert response.json()["runbook"]["id"] == "runbook-2"
    assert response.json()["runbook"]["inputsSchema"] == SCHEMA
    assert set(response.json()) == {"runbook"}


def test_an_unknown_runbook_is_404_with_the_earlier_detail(client: TestClient) -> None:
    response = client.get("/api/runbooks/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Runbook not found"}


def test_reading_needs_a_token(anon_client: TestClient) -> None:
    for path in ("/api/runbooks", "/api/runbooks/x", "/api/runbooks/x/runs"):
        response = anon_client.get(path)
        assert response.status_code == 401
        assert response.json() == {"detail": "Missing token"}


def test_a_read_token_can_read_the_catalog(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    _add(db_session, "a", "A")
    headers = token_for("read")
    assert anon_client.get("/api/runbooks", headers=headers).status_code == 200
    assert anon_client.get("/api/runbooks/a", headers=headers).status_code == 200


def test_an_ingest_token_cannot_read_the_catalog(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    response = anon_client.get("/api/runbooks", headers=token_for("ingest"))
    assert response.status_code == 403
