"""Derived status changes: an agent that goes silent went offline at lastSeenAt +
PRISM_AGENT_OFFLINE_AFTER, and came back at its next report; the status history (as
GET /api/agents/{id}/status-history and the agent page show it) has each once, next to what
heartbeats record."""

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.agents.service import record_heartbeat
from app.alerts.evaluator import evaluate_once
from app.core.timeutil import isoformat
from app.models.agent import Heartbeat
from tests.conftest import ADMIN_TOKEN
from tests.services.alert_fixtures import OFFLINE_AFTER, SETTINGS, add_agent, at
from tests.support.signin import post_login


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @property
    def has_audience(self) -> bool:
        return True

    def publish(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def heartbeat(engine: Engine, agent_id: str, when: datetime, **report: Any) -> None:
    with Session(engine) as session:
        record_heartbeat(
            session=session,
            agent_id=agent_id,
            report=Heartbeat(**report),
            offline_after=OFFLINE_AFTER,
            now=when,
        )


def history(client: TestClient, agent_id: str) -> list[tuple[str | None, str, str]]:
    """(from, to, at) oldest first, through the API."""
    response = client.get(f"/api/agents/{agent_id}/status-history")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return [(item["fromStatus"], item["toStatus"], item["at"]) for item in reversed(items)]


def test_going_silent_and_coming_back_are_recorded_at_their_own_times(
    client: TestClient, engine: Engine
) -> None:
    add_agent(engine, "a1", seen=at(-100), registered=at(hours=-1))
    recorder = Recorder()
    assert evaluate_once(engine, SETTINGS, now=at(), publisher=recorder).status_changes == 0
    # Noticed a whole hour late, still dated when the silence passed the threshold.
    report = evaluate_once(engine, SETTINGS, now=at(hours=1), publisher=recorder)
    assert report.status_changes == 1
    assert evaluate_once(engine, SETTINGS, now=at(hours=1, seconds=15)).status_changes == 0
    heartbeat(engine, "a1", at(hours=2))
    assert evaluate_once(engine, SETTINGS, now=at(hours=2, seconds=10)).status_changes == 1
    assert history(client, "a1") == [
        (None, "online", isoformat(at(hours=-1))),
        ("online", "offline", isoformat(at(-100 + OFFLINE_AFTER))),
        ("offline", "online", isoformat(at(hours=2))),
    ]
    assert {"type": "agent_status", "data": {"agentId": "a1", "status": "offline"}} in (
        recorder.messages
    )


def test_a_reported_change_after_a_silence_is_not_recorded_twice(
    client: TestClient, engine: Engine
) -> None:
    add_agent(engine, "a1", seen=at(-1000), registered=at(hours=-1))
    evaluate_once(engine, SETTINGS, now=at())
    # It comes back reporting degraded: the heartbeat records that change itself.
    heartbeat(engine, "a1", at(10), status="degraded")
    assert evaluate_once(engine, SETTINGS, now=at(20)).status_changes == 0
    assert [(old, new) for old, new, _ in history(client, "a1")] == [
        (None, "online"),
        ("online", "offline"),
        ("online", "degraded"),
    ]


def test_an_agent_reporting_offline_or_never_seen_gets_no_derived_row(
    client: TestClient, engine: Engine
) -> None:
    add_agent(engine, "reported", seen=at(-1000), status="offline", registered=at(hours=-1))
    add_agent(engine, "never", seen=None, registered=at(hours=-1))
    assert evaluate_once(engine, SETTINGS, now=at()).status_changes == 0
    assert len(history(client, "reported")) == 1
    assert len(history(client, "never")) == 1


def test_a_derived_row_is_never_dated_before_the_one_it_follows(
    client: TestClient, engine: Engine
) -> None:
    # An admin changed the status a minute ago of an agent silent for an hour.
    add_agent(engine, "a1", seen=at(hours=-1), status="degraded", registered=at(-60))
    evaluate_once(engine, SETTINGS, now=at())
    assert history(client, "a1")[-1] == ("degraded", "offline", isoformat(at(-60)))


def test_the_agent_page_shows_the_derived_change(
    client: TestClient, anon_client: TestClient, engine: Engine
) -> None:
    add_agent(engine, "a1", seen=at(-100), registered=at(hours=-1))
    evaluate_once(engine, SETTINGS, now=at(hours=1))
    assert post_login(anon_client, ADMIN_TOKEN).status_code == 303
    page = anon_client.get("/agents/a1")
    assert page.status_code == 200
    history_table = page.text.split('id="status-history"', 1)[1].split("</table>", 1)[0]
    assert f'datetime="{isoformat(at(-100 + OFFLINE_AFTER))}"' in history_table
