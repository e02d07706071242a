"""GET /api/notifications, the delivery log: newest first in keyset pages, filtered by
channel, status and incident, with attempts and masked errors; read scope; any unknown or
bad parameter a 422 naming it."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.alerts.delivery import deliver_due
from app.core.config import Settings
from app.models.alerts import Notification
from tests.support.notify_rows import CLOCK, add_channel, add_rule, fire, later
from tests.support.receivers import receiver

PASSWORD = "Pl4nted-Log-Secr3t"


def _rows(db_session: Session, count: int, *, channel: str = "ops") -> list[Notification]:
    rule = add_rule(db_session, f"rule-{channel}", [channel])
    rows = []
    for index in range(count):
        rows.extend(fire(db_session, rule, [f"rig-{channel}-{index}"], now=later(index)))
    return rows


def test_it_lists_newest_first_with_every_field(client: TestClient, db_session: Session) -> None:
    add_channel(db_session, "ops", "json://127.0.0.1:9/hook")
    first, second = _rows(db_session, 2)

    response = client.get("/api/notifications")

    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [second.id, first.id]
    assert body["nextCursor"] is None
    assert body["items"][0] == {
        "id": second.id,
        "channelId": "ops",
        "ruleId": "rule-ops",
        "incidentIds": second.incident_ids,
        "event": "firing",
        "status": "pending",
        "attempts": 0,
        "nextAttemptAt": "2100-01-04T12:00:01Z",
        "lastError": None,
        "createdAt": "2100-01-04T12:00:01Z",
        "sentAt": None,
    }


def test_pages_follow_the_cursor_without_repeats(client: TestClient, db_session: Session) -> None:
    add_channel(db_session, "ops", "json://127.0.0.1:9/hook")
    rows = _rows(db_session, 5)

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/notifications", params=params).json()
        seen.extend(item["id"] for item in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert seen == [row.id for row in reversed(rows)]


def test_filters_by_channel_status_and_incident(
    client: TestClient, db_session: Session, engine: Engine, app_settings: Settings
) -> None:
    with receiver() as hook:
        add_channel(db_session, "ops", hook.url())
        add_channel(db_session, "mail", "json://127.0.0.1:9/other")
        (sent,) = _rows(db_session, 1, channel="ops")
        (waiting,) = _rows(db_session, 1, channel="mail")
        # Only the ops row is due: the other one waits in its group window.
        waiting.next_attempt_at = later(3600)
        db_session.add(waiting)
        db_session.commit()
        assert deliver_due(engine, app_settings, now=later(5)).sent == 1

    def ids(**params: str | int) -> list[str]:
        response = client.get("/api/notifications", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(channel="ops") == [sent.id]
    assert ids(channel="mail") == [waiting.id]
    assert ids(status="sent") == [sent.id]
    assert ids(status="pending") == [waiting.id]
    assert ids(status="failed") == []
    assert ids(incident=waiting.incident_ids[0]) == [waiting.id]
    assert ids(incident=sent.incident_ids[0], status="sent") == [sent.id]
    assert ids(incident=999_999) == []


def test_an_incident_filter_finds_it_in_a_grouped_row(
    client: TestClient, db_session: Session
) -> None:
    add_channel(db_session, "ops", "json://127.0.0.1:9/hook")
    rule = add_rule(db_session, "silent", ["ops"])
    for index in range(3):
        (row,) = fire(db_session, rule, [f"rig-{index}"], now=later(index), group_seconds=30)

    for incident_id in row.incident_ids:
        body = client.get("/api/notifications", params={"incident": incident_id}).json()
        assert [item["id"] for item in body["items"]] == [row.id]


def test_attempts_and_errors_show_without_the_channel_secret(
    client: TestClient, db_session: Session, engine: Engine, app_settings: Settings
) -> None:
    settings = app_settings.model_copy(update={"notify_max_attempts": 2})
    with receiver() as hook:
        add_channel(db_session, "ops", f"json://ops:{PASSWORD}@127.0.0.1:{hook.port}/hook")
        (row,) = _rows(db_session, 1)
        hook.fail_next(5)
        deliver_due(engine, settings, now=CLOCK)
        deliver_due(engine, settings, now=later(60))

    response = client.get("/api/notifications")

    assert PASSWORD not in response.text
    (item,) = response.json()["items"]
    assert (item["id"], item["status"], item["attempts"]) == (row.id, "failed", 2)
    assert "500" in item["lastError"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"incident": "abc"}, "incident"),
        ({"incident": 0}, "incident"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"channel": "bad id!"}, "channel"),
        ({"bogus": "1"}, "bogus"),
        ({"channelId": "ops"}, "channelId"),
    ],
)
def test_a_bad_or_unknown_parameter_is_a_422_naming_it(
    client: TestClient, params: dict[str, str | int], field: str
) -> None:
    response = client.get("/api/notifications", params=params)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_a_forged_cursor_is_a_422(client: TestClient) -> None:
    response = client.get("/api/notifications", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert response.status_code == 422
    assert "cursor" in response.text


def test_it_needs_a_token_and_read_scope_suffices(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    assert anon_client.get("/api/notifications").status_code == 401
    read = anon_client.get("/api/notifications", headers=token_for("read"))
    assert read.status_code == 200
