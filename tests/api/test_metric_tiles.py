"""/api/metrics: dashboard tile CRUD, ordering, validation, scopes and live announcements."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.live.deps import get_broadcaster
from app.models import Metric

UPTIME = {
    "id": "uptime",
    "title": "Platform Uptime",
    "value": "99.95%",
    "caption": "Last 24h",
    "icon": "activity",
    "status": "good",
}
LATENCY = {
    "id": "latency",
    "title": "Gateway P99 Latency",
    "value": "420ms",
    "caption": "Last 5m",
    "icon": "zap",
    "status": "warning",
}


class RecordingBroadcaster:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, message: dict[str, Any]) -> None:
        # The audit log announces each change too (tests/api/test_audit_live.py).
        if message.get("type") != "audit":
            self.messages.append(message)


@pytest.fixture
def published(make_client: Callable[..., TestClient]) -> tuple[TestClient, list[dict[str, Any]]]:
    """A client whose app records what it publishes to the live stream."""
    client = make_client()
    recorder = RecordingBroadcaster()
    client.app.dependency_overrides[get_broadcaster] = lambda: recorder  # type: ignore[attr-defined]
    return client, recorder.messages


def _count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Metric)).one()


def test_create_answers_201_with_the_tile(client: TestClient, db_session: Session) -> None:
    response = client.post("/api/metrics", json=UPTIME)
    assert response.status_code == 201
    assert response.json() == {"metric": UPTIME}
    stored = db_session.exec(select(Metric)).one()
    assert (stored.metric_id, stored.value, stored.status) == ("uptime", "99.95%", "good")


def test_metric_id_is_accepted_as_an_alias_of_id(client: TestClient) -> None:
    body = {**UPTIME}
    body["metricId"] = body.pop("id")
    assert client.post("/api/metrics", json=body).json()["metric"]["id"] == "uptime"


def test_the_list_is_sorted_by_title(client: TestClient) -> None:
    client.post("/api/metrics", json=UPTIME)
    client.post("/api/metrics", json=LATENCY)
    response = client.get("/api/metrics")
    assert response.status_code == 200
    assert response.json() == {"items": [LATENCY, UPTIME], "nextCursor": None}


def test_the_list_pages_with_a_cursor(client: TestClient) -> None:
    for n in range(5):
        client.post("/api/metrics", json={"id": f"m{n}", "title": f"Tile {n % 2}"})
    first = client.get("/api/metrics?limit=3").json()
    assert [item["id"] for item in first["items"]] == ["m0", "m2", "m4"]
    rest = client.get(f"/api/metrics?limit=3&cursor={first['nextCursor']}").json()
    assert [item["id"] for item in rest["items"]] == ["m1", "m3"]
    assert rest["nextCursor"] is None


def test_one_tile_by_its_metric_id(client: TestClient) -> None:
    client.post("/api/metrics", json=LATENCY)
    response = client.get("/api/metrics/latency")
    assert response.status_code == 200
    assert response.json() == {"metric": LATENCY}


def test_an_unknown_tile_is_404(client: TestClient) -> None:
    for response in (
        client.get("/api/metrics/nope"),
        client.patch("/api/metrics/nope", json={"value": "1"}),
        client.delete("/api/metrics/nope"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Metric not found"}


def test_a_duplicate_metric_id_is_409_and_keeps_the_first(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/metrics", json=UPTIME)
    response = client.post("/api/metrics", json={**UPTIME, "title": "Other"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Metric uptime already exists"}
    assert db_session.exec(select(Metric.title)).all() == ["Platform Uptime"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "great"}, "status"),
        ({"title": ""}, "title"),
        ({"id": "has space"}, "id"),
        ({"icon": "i" * 65}, "icon"),
        ({"value": 5}, "value"),
    ],
)
def test_invalid_fields_are_422_naming_the_field_and_write_nothing(
    client: TestClient, db_session: Session, change: dict[str, object], field: str
) -> None:
    response = client.post("/api/metrics", json={**UPTIME, **change})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert _count(db_session) == 0


def test_patch_changes_only_the_fields_sent(client: TestClient) -> None:
    client.post("/api/metrics", json=UPTIME)
    response = client.patch("/api/metrics/uptime", json={"value": "98.1%", "status": "critical"})
    assert response.status_code == 200
    assert response.json() == {"metric": {**UPTIME, "value": "98.1%", "status": "critical"}}
    assert client.get("/api/metrics/uptime").json()["metric"]["value"] == "98.1%"


def test_a_bad_patch_is_422_and_changes_nothing(client: TestClient) -> None:
    client.post("/api/metrics", json=UPTIME)
    for body, field in (({"status": "meh"}, "status"), ({"title": None}, "title")):
        response = client.patch("/api/metrics/uptime", json={"value": "1%", **body})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
    assert client.get("/api/metrics/uptime").json() == {"metric": UPTIME}


def test_delete_answers_204_and_removes_the_tile(client: TestClient, db_session: Session) -> None:
    client.post("/api/metrics", json=UPTIME)
    client.post("/api/metrics", json=LATENCY)
    response = client.delete("/api/metrics/uptime")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/metrics/uptime").status_code == 404
    assert _count(db_session) == 1


def test_every_change_is_announced_on_the_live_stream(
    published: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, messages = published
    client.post("/api/metrics", json=UPTIME)
    client.patch("/api/metrics/uptime", json={"value": "97%"})
    client.delete("/api/metrics/uptime")
    assert messages == [{"type": "metric_update", "data": {"metricId": "uptime"}}] * 3


def test_a_failed_write_announces_nothing(
    published: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, messages = published
    client.post("/api/metrics", json={**UPTIME, "status": "bad"})
    client.patch("/api/metrics/nope", json={"value": "1"})
    assert messages == []


def test_the_tiles_need_a_token(anon_client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/metrics"),
        ("GET", "/api/metrics/uptime"),
        ("POST", "/api/metrics"),
        ("PATCH", "/api/metrics/uptime"),
        ("DELETE", "/api/metrics/uptime"),
    ):
        assert anon_client.request(method, path, json=UPTIME).status_code == 401


def test_a_read_token_reads_but_cannot_write(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    db_session.add(Metric(metric_id="uptime", title="Platform Uptime"))
    db_session.commit()
    headers = token_for("read")
    assert anon_client.get("/api/metrics", headers=headers).status_code == 200
    assert anon_client.get("/api/metrics/uptime", headers=headers).status_code == 200
    for method, path in (
        ("POST", "/api/metrics"),
        ("PATCH", "/api/metrics/uptime"),
        ("DELETE", "/api/metrics/uptime"),
    ):
        response = anon_client.request(method, path, json=LATENCY, headers=headers)
        assert response.status_code == 403
    db_session.expire_all()
    assert db_session.exec(select(Metric.metric_id)).all() == ["uptime"]
