"""/api/silences: operate creates and ends silences (audited), read lists them by status at an
injected clock; a bad silence is a 422 naming the field with nothing written."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.alerts.deps import get_clock
from app.core.timeutil import isoformat
from app.models import AuditEvent, Silence
from tests.support.factories import count_rows

# A Wednesday, 10:00 UTC.
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Clock:
    """The alerts routes' "now", moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    clock = Clock(NOW)
    app.dependency_overrides[get_clock] = lambda: clock
    yield clock
    app.dependency_overrides.pop(get_clock, None)


@pytest.fixture
def operator(
    client: TestClient, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    """A client holding an operate token (named test-operate)."""
    anon_client.headers.update(token_for("operate"))
    return anon_client


def _silence(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "rig-7-fans",
        "matchers": {"subject": "rig-7", "subjectType": "miner"},
        "endsAt": isoformat(NOW + HOUR),
        "comment": "Replacing fans",
    }
    body.update(fields)
    return body


def test_operate_creates_a_silence_active_now_and_it_is_audited(
    operator: TestClient, db_session: Session, clock: Clock
) -> None:
    response = operator.post("/api/silences", json=_silence(createdBy="someone else"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": "rig-7-fans",
        "matchers": {"subject": "rig-7", "subjectType": "miner"},
        "startsAt": "2026-12-02T10:00:00Z",
        "endsAt": "2026-12-02T11:00:00Z",
        "recurrence": None,
        "comment": "Replacing fans",
        "createdBy": "test-operate",
        "createdAt": "2026-12-02T10:00:00Z",
        "endedAt": None,
        "endedBy": None,
        "status": "active",
    }
    assert operator.get("/api/silences/rig-7-fans").json() == body
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "silence.create"))
    assert (audit.actor, audit.target_id) == ("test-operate", "rig-7-fans")


def test_a_silence_without_an_id_gets_one(operator: TestClient, clock: Clock) -> None:
    body = operator.post("/api/silences", json=_silence(id=None)).json()
    assert body["id"].startswith("silence-rig-7-")


def test_a_duplicate_id_is_409(operator: TestClient, clock: Clock) -> None:
    assert operator.post("/api/silences", json=_silence()).status_code == 201
    response = operator.post("/api/silences", json=_silence(comment="again"))
    assert response.status_code == 409
    assert response.json() == {"detail": "Silence rig-7-fans already exists"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"matchers": {}}, "matchers"),
        ({"matchers": {"rig": "rig-7"}}, "matchers.rig"),
        ({"matchers": {"subjectType": "rig"}}, "matchers.subjectType"),
        ({"matchers": {"subject": "a b"}}, "matchers.subject"),
        ({"matchers": None}, "matchers"),
        ({"endsAt": None}, "endsAt"),
        ({"endsAt": "soon"}, "endsAt"),
        ({"endsAt": isoformat(NOW - HOUR)}, "endsAt"),
        ({"startsAt": isoformat(NOW + 2 * HOUR)}, "endsAt"),  # ends before it starts
        ({"endsAt": isoformat(NOW + timedelta(days=5 * 366 + 1))}, "endsAt"),
        ({"recurrence": {"weekdays": [7], "start": "02:00", "end": "04:00"}}, "recurrence"),
        ({"recurrence": {"weekdays": [], "start": "02:00", "end": "04:00"}}, "recurrence"),
        ({"recurrence": {"weekdays": [1], "start": "24:00", "end": "04:00"}}, "recurrence"),
        ({"recurrence": {"weekdays": [1], "start": "2:00", "end": "04:00"}}, "recurrence"),
        ({"recurrence": {"weekdays": [1], "start": "02:00"}}, "recurrence"),
        ({"recurrence": {"weekdays": ["1"], "start": "02:00", "end": "04:00"}}, "recurrence"),
        ({"comment": "nul\u0000byte"}, "comment"),
        ({"id": ".."}, "id"),
    ],
)
def test_a_bad_silence_is_a_422_naming_the_field_and_nothing_is_written(
    operator: TestClient,
    db_session: Session,
    clock: Clock,
    change: dict[str, Any],
    field: str,
) -> None:
    response = operator.post("/api/silences", json=_silence(**change))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.startswith(f"{field}:"), detail
    else:
        places = [".".join(str(part) for part in error["loc"][1:]) for error in detail]
        assert all(place.startswith(field) for place in places), places
    assert count_rows(db_session, Silence) == 0
    assert count_rows(db_session, AuditEvent) == 0


def test_a_later_silence_is_upcoming_until_it_starts(operator: TestClient, clock: Clock) -> None:
    later = _silence(startsAt=isoformat(NOW + HOUR), endsAt=isoformat(NOW + 3 * HOUR))
    assert operator.post("/api/silences", json=later).json()["status"] == "upcoming"
    clock.now = NOW + 90 * timedelta(minutes=1)
    assert operator.get("/api/silences/rig-7-fans").json()["status"] == "active"
    clock.now = NOW + 3 * HOUR
    assert operator.get("/api/silences/rig-7-fans").json()["status"] == "ended"


def test_a_weekly_window_is_active_only_in_its_hours(operator: TestClient, clock: Clock) -> None:
    """Sundays and Wednesdays 22:00-02:00 (past midnight), for a month."""
    window = _silence(
        id="night-maintenance",
        matchers={"domain": "data"},
        endsAt=isoformat(NOW + timedelta(days=30)),
        recurrence={"weekdays": [6, 2, 2], "start": "22:00", "end": "02:00"},
    )
    body = operator.post("/api/silences", json=window).json()
    assert body["recurrence"] == {"weekdays": [2, 6], "start": "22:00", "end": "02:00"}
    assert body["status"] == "upcoming"  # Wednesday 10:00
    for moment, status in [
        (datetime(2026, 12, 2, 22, 0, tzinfo=UTC), "active"),  # Wednesday 22:00
        (datetime(2026, 12, 3, 1, 59, tzinfo=UTC), "active"),  # Thursday 01:59
        (datetime(2026, 12, 3, 2, 0, tzinfo=UTC), "upcoming"),  # Thursday 02:00
        (datetime(2026, 12, 5, 23, 0, tzinfo=UTC), "upcoming"),  # Saturday 23:00
        (datetime(2026, 12, 6, 23, 0, tzinfo=UTC), "active"),  # Sunday 23:00
    ]:
        clock.now = moment
        answer = operator.get("/api/silences/night-maintenance").json()
        assert answer["status"] == status, moment
        listed = operator.get("/api/silences", params={"status": status}).json()["items"]
        assert [item["id"] for item in listed] == ["night-maintenance"], moment


def test_ending_a_silence_early_keeps_it_as_ended(
    operator: TestClient, db_session: Session, clock: Clock
) -> None:
    operator.post("/api/silences", json=_silence())
    clock.now = NOW + 10 * timedelta(minutes=1)
    response = operator.delete("/api/silences/rig-7-fans")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ended"
    assert body["endsAt"] == body["endedAt"] == "2026-12-02T10:10:00Z"
    assert body["endedBy"] == "test-operate"
    assert operator.get("/api/silences/rig-7-fans").json() == body
    ended = operator.get("/api/silences", params={"status": "ended"}).json()["items"]
    assert [item["id"] for item in ended] == ["rig-7-fans"]
    assert operator.get("/api/silences", params={"status": "active"}).json()["items"] == []
    again = operator.delete("/api/silences/rig-7-fans")
    assert again.status_code == 409
    assert again.json() == {"detail": "Silence rig-7-fans has already ended"}
    audits = db_session.exec(select(AuditEvent).where(AuditEvent.action == "silence.end")).all()
    assert [audit.target_id for audit in audits] == ["rig-7-fans"]


def test_an_upcoming_silence_can_be_called_off(operator: TestClient, clock: Clock) -> None:
    later = _silence(startsAt=isoformat(NOW + HOUR), endsAt=isoformat(NOW + 2 * HOUR))
    operator.post("/api/silences", json=later)
    body = operator.delete("/api/silences/rig-7-fans").json()
    assert body["status"] == "ended"
    clock.now = NOW + 90 * timedelta(minutes=1)
    assert operator.get("/api/silences/rig-7-fans").json()["status"] == "ended"


def test_a_silence_that_ran_out_cannot_be_ended(operator: TestClient, clock: Clock) -> None:
    operator.post("/api/silences", json=_silence())
    clock.now = NOW + 2 * HOUR
    assert operator.delete("/api/silences/rig-7-fans").status_code == 409


def test_the_list_filters_by_status_and_pages_newest_first(
    operator: TestClient, clock: Clock
) -> None:
    for index in range(5):
        clock.now = NOW + index * timedelta(minutes=1)
        starts = clock.now + (HOUR if index % 2 else timedelta(0))
        body = _silence(
            id=f"s-{index}", startsAt=isoformat(starts), endsAt=isoformat(starts + HOUR)
        )
        assert operator.post("/api/silences", json=body).status_code == 201
    every = operator.get("/api/silences").json()["items"]
    assert [item["id"] for item in every] == ["s-4", "s-3", "s-2", "s-1", "s-0"]
    active = operator.get("/api/silences", params={"status": "active", "limit": 2}).json()
    assert [item["id"] for item in active["items"]] == ["s-4", "s-2"]
    rest = operator.get(
        "/api/silences", params={"status": "active", "limit": 2, "cursor": active["nextCursor"]}
    ).json()
    assert [item["id"] for item in rest["items"]] == ["s-0"]
    assert rest["nextCursor"] is None
    upcoming = operator.get("/api/silences", params={"status": "upcoming"}).json()["items"]
    assert [item["id"] for item in upcoming] == ["s-3", "s-1"]
    assert operator.get("/api/silences", params={"status": "soon"}).status_code == 422


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_an_unknown_silence_is_a_404(operator: TestClient, method: str) -> None:
    response = operator.request(method, "/api/silences/ghost")
    assert response.status_code == 404
    assert response.json() == {"detail": "Silence not found"}


def test_a_read_token_lists_silences_but_cannot_create_or_end_them(
    client: TestClient,
    anon_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Session,
    clock: Clock,
) -> None:
    assert client.post("/api/silences", json=_silence()).status_code == 201  # admin may too
    reader = token_for("read")
    assert anon_client.get("/api/silences", headers=reader).status_code == 200
    created = anon_client.post("/api/silences", json=_silence(id="other"), headers=reader)
    assert created.status_code == 403
    assert anon_client.delete("/api/silences/rig-7-fans", headers=reader).status_code == 403
    assert count_rows(db_session, Silence) == 1
    db_session.expire_all()
    stored = db_session.get(Silence, "rig-7-fans")
    assert stored is not None and stored.ended_at is None
