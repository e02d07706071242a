"""GET /api/runbooks/{id}/runs: newest first, every key, keyset pages."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Runbook, RunbookRun

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _arrange(session: Session, count: int, runbook_id: str = "rb") -> None:
    if session.get(Runbook, runbook_id) is None:
        session.add(Runbook(id=runbook_id, title=runbook_id))
    for n in range(count):
        at = T0 + timedelta(minutes=n // 2)  # pairs share a timestamp: the id breaks ties
        session.add(
            RunbookRun(
                id=f"{runbook_id}-run-{n:02d}", runbook_id=runbook_id, created_at=at, updated_at=at
            )
        )
    session.commit()


def test_runs_are_listed_newest_first_with_every_key(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/runbooks", json={"id": "rb", "title": "RB", "linkedWorkflow": "wf"})
    first = client.post(
        "/api/runbooks/rb/execute",
        json={"input": {"a": 1}, "idempotencyKey": "k1"},
        headers={"X-Request-ID": "req-1"},
    ).json()["runId"]
    second = client.post("/api/runbooks/rb/execute", json={}).json()["runId"]
    response = client.get("/api/runbooks/rb/runs")
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [second, first]
    assert body["nextCursor"] is None
    item = body["items"][1]
    assert set(item) == {
        "id",
        "runId",
        "runbookId",
        "status",
        "accepted",
        "input",
        "idempotencyKey",
        "workflowName",
        "gatewayRunId",
        "gatewayStatusCode",
        "error",
        "requestId",
        "requestedBy",
        "createdAt",
        "updatedAt",
    }
    assert item["runbookId"] == "rb"
    assert (item["status"], item["accepted"], item["input"]) == ("queued", True, {"a": 1})
    assert (item["idempotencyKey"], item["workflowName"]) == ("k1", "wf")
    assert (item["requestId"], item["requestedBy"]) == ("req-1", "PRISM_ADMIN_TOKEN")
    assert item["gatewayRunId"] is None and item["gatewayStatusCode"] is None
    assert item["createdAt"].endswith("Z")


def test_only_this_runbooks_runs_are_listed(client: TestClient, db_session: Session) -> None:
    _arrange(db_session, 2, "rb")
    _arrange(db_session, 3, "other")
    ids = [item["id"] for item in client.get("/api/runbooks/rb/runs").json()["items"]]
    assert ids == ["rb-run-01", "rb-run-00"]


def test_pages_cover_every_run_once_in_order(client: TestClient, db_session: Session) -> None:
    _arrange(db_session, 7)
    seen: list[str] = []
    url = "/api/runbooks/rb/runs?limit=2"
    while True:
        body = client.get(url).json()
        seen.extend(item["id"] for item in body["items"])
        if body["nextCursor"] is None:
            break
        url = f"/api/runbooks/rb/runs?limit=2&cursor={body['nextCursor']}"
    assert seen == [f"rb-run-{n:02d}" for n in reversed(range(7))]


def test_runs_inserted_after_a_page_do_not_shift_the_next_page(
    client: TestClient, db_session: Session
) -> None:
    _arrange(db_session, 4)
    first = client.get("/api/runbooks/rb/runs?limit=2").json()
    later = T0 + timedelta(hours=1)
    db_session.add(RunbookRun(id="new", runbook_id="rb", created_at=later, updated_at=later))
    db_session.commit()
    rest = client.get(f"/api/runbooks/rb/runs?limit=2&cursor={first['nextCursor']}").json()
    assert [item["id"] for item in rest["items"]] == ["rb-run-01", "rb-run-00"]


def test_the_default_page_is_100_runs(client: TestClient, db_session: Session) -> None:
    _arrange(db_session, 101)
    body = client.get("/api/runbooks/rb/runs").json()
    assert len(body["items"]) == 100
    assert body["nextCursor"] is not None


def test_a_bad_limit_or_cursor_is_422(client: TestClient, db_session: Session) -> None:
    _arrange(db_session, 1)
    assert client.get("/api/runbooks/rb/runs?limit=0").json()["detail"][0]["loc"] == [
        "query",
        "limit",
    ]
    response = client.get("/api/runbooks/rb/runs?limit=1&cursor=WyJ4Il0")  # ["x"]
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cursor:")


def test_runs_of_an_unknown_runbook_are_404(client: TestClient) -> None:
    response = client.get("/api/runbooks/nope/runs")
    assert response.status_code == 404
    assert response.json() == {"detail": "Runbook not found"}


def test_a_read_token_may_list_runs(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    _arrange(db_session, 1)
    assert anon_client.get("/api/runbooks/rb/runs", headers=token_for("read")).status_code == 200
    assert anon_client.get("/api/runbooks/rb/runs", headers=token_for("ingest")).status_code == 403
