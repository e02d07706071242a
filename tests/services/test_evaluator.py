"""The evaluator's transitions, step by step with an injected clock: pending, firing after
forSeconds, cleared, resolved, silenced, rules disabled or deleted, subjects deleted; the
incidents, timelines, outbox rows and live messages they leave; on SQLite and PostgreSQL."""

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from app.alerts import evaluator
from app.alerts.evaluator import evaluate_once
from app.live.broadcaster import Message
from app.models import Agent, AlertRule, Channel, Miner, Notification, Silence
from tests.services.alert_fixtures import (
    OFFLINE_AFTER,
    SETTINGS,
    add_agent,
    add_rule,
    add_samples,
    at,
    emptied,
    incidents,
    states,
    timeline,
)


@pytest.fixture
def empty(engine: Engine) -> Engine:
    return emptied(engine)


class Recorder:
    """A Publisher that keeps what it is given (someone is always listening)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    @property
    def has_audience(self) -> bool:
        return True

    def publish(self, message: Message) -> None:
        self.messages.append(message)

    def alerts(self) -> list[tuple[str, str, str]]:
        return [
            (m["data"]["ruleId"], m["data"]["subject"], m["data"]["state"])
            for m in self.messages
            if m["type"] == "alert"
        ]


def evaluate(engine: Engine, now: datetime, publisher: Recorder | None = None) -> Any:
    return evaluate_once(engine, SETTINGS, now=now, publisher=publisher)


def add_channel(engine: Engine, channel_id: str = "ops") -> None:
    with Session(engine) as session:
        session.add(
            Channel(
                id=channel_id,
                name=channel_id,
                url="json://127.0.0.1:9/hook",
                created_at=at(),
                updated_at=at(),
            )
        )
        session.commit()


def notifications(engine: Engine) -> list[tuple[str, list[int]]]:
    with Session(engine) as session:
        rows = session.exec(select(Notification).order_by(col(Notification.created_at))).all()
        return [(row.event, sorted(row.incident_ids)) for row in rows]


def see(engine: Engine, agent_id: str, when: datetime) -> None:
    """The agent reports again at `when`."""
    with Session(engine) as session:
        session.execute(update(Agent).where(col(Agent.id) == agent_id).values(last_seen_at=when))
        session.commit()


def silent_since(seconds_before_t0: float) -> datetime:
    """The last report of an agent that went offline that long before T0."""
    return at(-seconds_before_t0 - OFFLINE_AFTER)


# --- pending and firing ----------------------------------------------------------------------


def test_for_seconds_zero_fires_in_the_same_cycle_at_the_conditions_own_time(
    empty: Engine,
) -> None:
    add_rule(empty, "offline", "agent_offline")
    add_agent(empty, "a1", seen=silent_since(3600))  # offline for an hour before T0
    recorder = Recorder()
    report = evaluate(empty, at(), recorder)
    assert (report.pending, report.fired) == (0, 1)
    state = states(empty)["a1"]
    assert state.state == "firing"
    assert state.since == state.fired_at == at(-3600)
    [incident] = incidents(empty)
    # The incident started when the agent went offline, not when the evaluator noticed.
    assert incident.started_at == at(-3600)
    assert (incident.rule_id, incident.subject_type, incident.subject) == ("offline", "agent", "a1")
    assert (incident.severity, incident.kind, incident.resolved_at) == (
        "critical",
        "agent_offline",
        None,
    )
    assert state.incident_id == incident.id
    assert timeline(empty, incident.id) == [("fired", at(-3600))]
    assert recorder.alerts() == [("offline", "a1", "firing")]


def test_a_state_is_pending_until_it_held_for_seconds(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline", for_seconds=60)
    add_agent(empty, "a1", seen=silent_since(10))  # offline since T0 - 10 s
    recorder = Recorder()
    assert evaluate(empty, at(), recorder).pending == 1
    assert states(empty)["a1"].state == "pending"
    assert states(empty)["a1"].since == at(-10)
    assert evaluate(empty, at(49), recorder).fired == 0
    assert states(empty)["a1"].state == "pending"
    assert incidents(empty) == []
    assert evaluate(empty, at(50), recorder).fired == 1
    state = states(empty)["a1"]
    assert (state.state, state.since, state.fired_at) == ("firing", at(-10), at(50))
    [incident] = incidents(empty)
    assert incident.started_at == at(50)
    assert recorder.alerts() == [("offline", "a1", "pending"), ("offline", "a1", "firing")]


def test_a_late_cycle_still_fires_at_since_plus_for_seconds(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline", for_seconds=60)
    add_agent(empty, "a1", seen=silent_since(10))
    evaluate(empty, at())
    evaluate(empty, at(hours=2))  # the evaluator was off in between
    assert incidents(empty)[0].started_at == at(50)


def test_a_pending_state_that_clears_never_becomes_an_incident(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline", for_seconds=60)
    add_agent(empty, "a1", seen=silent_since(10))
    recorder = Recorder()
    evaluate(empty, at(), recorder)
    see(empty, "a1", at(20))
    report = evaluate(empty, at(30), recorder)
    assert (report.cleared, report.resolved, report.fired) == (1, 0, 0)
    assert states(empty) == {}
    assert incidents(empty) == []
    assert recorder.alerts() == [("offline", "a1", "pending"), ("offline", "a1", "ok")]


# --- firing, resolved ------------------------------------------------------------------------


def test_a_firing_state_resolves_when_the_condition_clears(empty: Engine) -> None:
    add_channel(empty)
    add_rule(empty, "offline", "agent_offline", channels=["ops"])
    add_agent(empty, "a1", seen=silent_since(100))
    recorder = Recorder()
    evaluate(empty, at(), recorder)
    see(empty, "a1", at(5))
    report = evaluate(empty, at(15), recorder)
    assert report.resolved == 1
    assert states(empty) == {}
    [incident] = incidents(empty)
    assert incident.resolved_at == at(15)
    assert timeline(empty, incident.id) == [("fired", at(-100)), ("resolved", at(15))]
    assert notifications(empty) == [("firing", [incident.id]), ("resolved", [incident.id])]
    assert recorder.alerts() == [("offline", "a1", "firing"), ("offline", "a1", "ok")]


def test_the_value_is_kept_current_while_firing(empty: Engine) -> None:
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80})
    add_samples(empty, "rig", (at(-10), {"temperature_c": 81.0}))
    evaluate(empty, at())
    add_samples(empty, "rig", (at(5), {"temperature_c": 90.0}))
    report = evaluate(empty, at(15))
    assert (report.fired, report.resolved) == (0, 0)
    assert states(empty)["rig"].value == 90.0
    [incident] = incidents(empty)
    assert (incident.value, incident.last_value) == (81.0, 90.0)
    assert incident.started_at == at(-10)


def test_one_cycle_judges_every_rule_and_subject(empty: Engine) -> None:
    add_channel(empty)
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 85}, channels=["ops"])
    add_rule(empty, "warm", "miner_temperature", params={"aboveC": 80}, severity="warning")
    for index, temperature in enumerate((70.0, 82.0, 86.0, 90.0)):
        add_samples(empty, f"rig-{index}", (at(-10), {"temperature_c": temperature}))
    report = evaluate(empty, at())
    assert (report.rules, report.fired) == (2, 5)
    assert set(states(empty, "hot")) == {"rig-2", "rig-3"}
    assert set(states(empty, "warm")) == {"rig-1", "rig-2", "rig-3"}
    # One message for the two incidents of the rule with a channel, none for the other.
    hot_ids = sorted(i.id for i in incidents(empty) if i.rule_id == "hot")
    assert notifications(empty) == [("firing", hot_ids)]


def test_a_deleted_subject_resolves(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline")
    add_agent(empty, "a1", seen=silent_since(100))
    evaluate(empty, at())
    with Session(empty) as session:
        session.execute(delete(Agent).where(col(Agent.id) == "a1"))
        session.commit()
    assert evaluate(empty, at(15)).resolved == 1
    assert incidents(empty)[0].resolved_at == at(15)


def test_a_subject_leaving_the_target_resolves(empty: Engine) -> None:
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80})
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    evaluate(empty, at())
    with Session(empty) as session:
        session.execute(
            update(AlertRule).where(col(AlertRule.id) == "hot").values(target={"miners": ["x"]})
        )
        session.commit()
    assert evaluate(empty, at(15)).resolved == 1


# --- silences --------------------------------------------------------------------------------


def add_silence(engine: Engine, matchers: dict[str, Any], until: datetime) -> None:
    with Session(engine) as session:
        session.add(
            Silence(
                id="maintenance",
                matchers=matchers,
                starts_at=at(hours=-1),
                ends_at=until,
                created_by="test",
                created_at=at(hours=-1),
            )
        )
        session.commit()


def test_a_silenced_subject_records_its_incident_but_sends_nothing(empty: Engine) -> None:
    add_channel(empty)
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80}, channels=["ops"])
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    add_samples(empty, "other", (at(-10), {"temperature_c": 90.0}))
    add_silence(empty, {"subject": "rig"}, until=at(hours=1))
    evaluate(empty, at())
    assert states(empty)["rig"].silenced is True
    assert states(empty)["other"].silenced is False
    by_subject = {incident.subject: incident for incident in incidents(empty)}
    assert by_subject["rig"].silenced is True
    assert timeline(empty, by_subject["rig"].id) == [("fired", at(-10)), ("silenced", at(-10))]
    assert notifications(empty) == [("firing", [by_subject["other"].id])]
    # Resolved while silenced: nothing is sent either.
    add_samples(empty, "rig", (at(5), {"temperature_c": 60.0}))
    assert evaluate(empty, at(15)).resolved == 1
    assert notifications(empty) == [("firing", [by_subject["other"].id])]


def test_a_silence_ending_while_it_fires_sends_the_held_back_message(empty: Engine) -> None:
    add_channel(empty)
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80}, channels=["ops"])
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    add_silence(empty, {"subject": "rig"}, until=at(60))
    evaluate(empty, at())
    assert notifications(empty) == []
    evaluate(empty, at(60))
    [incident] = incidents(empty)
    assert (incident.silenced, states(empty)["rig"].silenced) == (False, False)
    assert notifications(empty) == [("firing", [incident.id])]


def test_a_silence_starting_while_it_fires_marks_it_silenced(empty: Engine) -> None:
    add_channel(empty)
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80}, channels=["ops"])
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    evaluate(empty, at())
    add_silence(empty, {"ruleId": "hot"}, until=at(hours=1))
    evaluate(empty, at(15))
    [incident] = incidents(empty)
    assert incident.silenced is True
    assert [kind for kind, _ in timeline(empty, incident.id)] == ["fired", "silenced"]
    add_samples(empty, "rig", (at(20), {"temperature_c": 60.0}))
    evaluate(empty, at(30))
    assert notifications(empty) == [("firing", [incident.id])]  # no "resolved"


def test_a_silence_on_a_domain_covers_its_agents(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline")
    add_agent(empty, "a1", seen=silent_since(100), domain="lab")
    add_agent(empty, "a2", seen=silent_since(100), domain="ops")
    add_silence(empty, {"domain": "lab"}, until=at(hours=1))
    evaluate(empty, at())
    assert {s: state.silenced for s, state in states(empty).items()} == {"a1": True, "a2": False}


# --- rules that stop judging -----------------------------------------------------------------


def test_a_disabled_rule_leaves_no_state_and_no_open_incident(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline")
    add_agent(empty, "a1", seen=silent_since(100))
    evaluate(empty, at())
    # Disabled in the database directly (the rules API also cleans up itself).
    with Session(empty) as session:
        session.execute(
            update(AlertRule).where(col(AlertRule.id) == "offline").values(enabled=False)
        )
        session.commit()
    recorder = Recorder()
    report = evaluate(empty, at(15), recorder)
    assert (report.rules, report.swept) == (0, 1)
    assert states(empty) == {}
    [incident] = incidents(empty)
    assert incident.resolved_at == at(15)
    assert timeline(empty, incident.id)[-1] == ("resolved", at(15))
    assert recorder.alerts() == [("offline", "a1", "ok")]


def test_a_deleted_rules_open_incidents_resolve(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline")
    add_agent(empty, "a1", seen=silent_since(100))
    evaluate(empty, at())
    with Session(empty) as session:
        session.execute(delete(AlertRule))  # its states go with it (ON DELETE CASCADE)
        session.commit()
    assert evaluate(empty, at(15)).swept == 1
    [incident] = incidents(empty)
    assert incident.resolved_at == at(15)
    assert evaluate(empty, at(30)).swept == 0


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO and up from the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    prism.setLevel(logging.INFO)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


def test_a_broken_rule_is_logged_and_the_others_are_judged(
    empty: Engine, logs: pytest.LogCaptureFixture
) -> None:
    add_rule(empty, "broken", "miner_temperature", params={"aboveC": "hot"})
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80})
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    report = evaluate(empty, at())
    assert (report.rules, report.failed, report.fired) == (2, 1, 1)
    assert set(states(empty, "hot")) == {"rig"}
    assert states(empty, "broken") == {}
    assert "alert rule broken not evaluated this cycle" in logs.text


def test_an_unchanged_cycle_writes_nothing(empty: Engine) -> None:
    add_rule(empty, "hot", "miner_temperature", params={"aboveC": 80})
    add_samples(empty, "rig", (at(-10), {"temperature_c": 90.0}))
    evaluate(empty, at())
    before = states(empty)["rig"]
    evaluate(empty, at(15))
    after = states(empty)["rig"]
    assert after.evaluated_at == before.evaluated_at == at()


def test_a_miner_removed_by_retention_resolves(empty: Engine) -> None:
    add_rule(empty, "silent", "miner_silent")
    add_samples(empty, "rig", (at(hours=-1), {"temperature_c": 50.0}))
    evaluate(empty, at())
    assert set(states(empty)) == {"rig"}
    with Session(empty) as session:
        session.execute(delete(Miner))
        session.commit()
    assert evaluate(empty, at(15)).resolved == 1


# --- live messages on a large fleet -----------------------------------------------------------


def test_a_rule_moving_many_subjects_at_once_sends_one_message_with_the_count(
    empty: Engine,
) -> None:
    add_rule(empty, "offline", "agent_offline")
    limit = evaluator.MAX_SUBJECT_MESSAGES
    for n in range(limit + 10):
        add_agent(empty, f"a{n:03d}", seen=silent_since(3600))
    recorder = Recorder()
    assert evaluate(empty, at(), recorder).fired == limit + 10
    alerts = [m["data"] for m in recorder.messages if m["type"] == "alert"]
    assert alerts == [
        {
            "ruleId": "offline",
            "subject": None,
            "state": "firing",
            "severity": "critical",
            "count": limit + 10,
        }
    ]


def test_up_to_the_limit_each_subject_has_its_own_message(empty: Engine) -> None:
    add_rule(empty, "offline", "agent_offline")
    limit = evaluator.MAX_SUBJECT_MESSAGES
    for n in range(limit):
        add_agent(empty, f"a{n:03d}", seen=silent_since(3600))
    recorder = Recorder()
    evaluate(empty, at(), recorder)
    assert sorted(recorder.alerts()) == [("offline", f"a{n:03d}", "firing") for n in range(limit)]
