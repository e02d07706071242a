"""Health from the evaluator's states: worst firing severity, pending, maintenance, unknown;
problems worst first then oldest; a fixed number of queries whatever the fleet's size."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.alerts import current, health
from app.core.timeutil import utcnow
from app.models import AlertRule, AlertState, Miner
from tests.support.db import wipe
from tests.support.factories import (
    add_agent,
    add_miner,
    add_rule,
    add_silence,
    add_state,
    make_agent,
    make_sample,
)

MINUTE = timedelta(minutes=1)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def rules(session: Session) -> None:
    """A rule of each severity for miners and for agents."""
    add_rule(session, "hot", name="Too hot", kind="miner_temperature", severity="critical")
    add_rule(session, "warm", name="Warm", kind="miner_temperature", severity="warning")
    add_rule(session, "silent", name="Miner silent", kind="miner_silent", severity="critical")
    add_rule(session, "note", name="FYI", kind="miner_stale_rate", severity="info")
    add_rule(session, "down", name="Agent offline", kind="agent_offline", severity="critical")
    add_rule(session, "slow", name="Degraded", kind="agent_status", severity="warning")


def _miners(session: Session, *ids: str) -> None:
    for miner_id in ids:
        add_miner(session, miner_id)


def test_a_miner_without_states_is_ok(session: Session, rules: None) -> None:
    _miners(session, "rig-1")
    assert health.miner_health(session, now=utcnow()) == {"rig-1": "ok"}


def test_the_worst_firing_severity_wins(session: Session, rules: None) -> None:
    _miners(session, "both", "warm-only")
    add_state(session, "warm", "both")
    add_state(session, "hot", "both")
    add_state(session, "warm", "warm-only")
    assert health.miner_health(session, now=utcnow()) == {
        "both": "critical",
        "warm-only": "warning",
    }


def test_only_pending_states_show_pending(session: Session, rules: None) -> None:
    _miners(session, "heating", "warm-and-heating")
    add_state(session, "hot", "heating", state="pending")
    # A firing warning outranks a critical condition that has not held long enough yet.
    add_state(session, "warm", "warm-and-heating")
    add_state(session, "hot", "warm-and-heating", state="pending")
    assert health.miner_health(session, now=utcnow()) == {
        "heating": "pending",
        "warm-and-heating": "warning",
    }


def test_info_rules_never_make_a_subject_unhealthy(session: Session, rules: None) -> None:
    _miners(session, "noted", "noting")
    add_state(session, "note", "noted")
    add_state(session, "note", "noting", state="pending")
    assert health.miner_health(session, now=utcnow()) == {"noted": "ok", "noting": "ok"}
    assert health.problems(session, now=utcnow()) == []


def test_a_disabled_rule_judges_nothing(session: Session, rules: None) -> None:
    _miners(session, "rig-1")
    add_state(session, "hot", "rig-1")
    rule = session.get(AlertRule, "hot")
    assert rule is not None
    rule.enabled = False
    session.add(rule)
    session.commit()
    assert health.miner_health(session, now=utcnow()) == {"rig-1": "ok"}


def test_maintenance_wins_over_everything(session: Session, rules: None) -> None:
    _miners(session, "rig-1", "rig-2")
    add_state(session, "hot", "rig-1")
    add_state(session, "hot", "rig-2")
    add_silence(session, "fans", {"subjectType": "miner", "subject": "rig-1"})
    now = utcnow()
    assert health.miner_health(session, now=now) == {"rig-1": "maintenance", "rig-2": "critical"}
    # Not a problem: it was put there on purpose.
    assert [p.subject for p in health.problems(session, now=now)] == ["rig-2"]


def test_a_silence_of_one_rule_mutes_it_but_the_subject_stays_critical(
    session: Session, rules: None
) -> None:
    _miners(session, "rig-1")
    add_state(session, "hot", "rig-1")
    add_silence(session, "hot-rig-1", {"ruleId": "hot", "subject": "rig-1"})
    now = utcnow()
    assert health.miner_health(session, now=now) == {"rig-1": "critical"}
    (problem,) = health.problems(session, now=now)
    assert [(r.rule_id, r.silenced) for r in problem.reasons] == [("hot", True)]


def test_a_silence_that_ended_or_has_not_started_is_no_maintenance(
    session: Session, rules: None
) -> None:
    _miners(session, "rig-1")
    add_state(session, "hot", "rig-1")
    now = utcnow()
    add_silence(
        session, "past", {"subject": "rig-1"}, starts_at=now - 2 * MINUTE, ends_at=now - MINUTE
    )
    add_silence(
        session, "later", {"subject": "rig-1"}, starts_at=now + MINUTE, ends_at=now + 2 * MINUTE
    )
    assert health.miner_health(session, now=now) == {"rig-1": "critical"}
    # The same silence, asked about inside its span.
    assert health.miner_health(session, now=now + 90 * timedelta(seconds=1)) == {
        "rig-1": "maintenance"
    }


def test_a_weekly_window_puts_a_domain_in_maintenance_only_in_its_hours(
    session: Session, rules: None
) -> None:
    friday = datetime(2026, 12, 4, tzinfo=UTC)
    add_agent(session, "a1", domain="ops", last_seen_at=friday)
    add_agent(session, "b1", domain="data", last_seen_at=friday)
    add_silence(
        session,
        "ops-nights",
        {"domain": "ops"},
        starts_at=friday - timedelta(days=30),
        ends_at=friday + timedelta(days=30),
        recurrence={"weekdays": [4], "start": "22:00", "end": "02:00"},
    )
    saturday_1am = friday + timedelta(days=1, hours=1)
    noon = friday + timedelta(hours=12)
    assert health.agent_health(session, now=saturday_1am) == {"a1": "maintenance", "b1": "ok"}
    assert health.agent_health(session, now=noon) == {"a1": "ok", "b1": "ok"}


def test_an_agent_that_never_reported_is_unknown_until_a_rule_judges_it(
    session: Session, rules: None
) -> None:
    add_agent(session, "new", last_seen_at=None)
    add_agent(session, "judged", last_seen_at=None)
    add_state(session, "down", "judged", subject_type="agent")
    assert health.agent_health(session, now=utcnow()) == {"new": "unknown", "judged": "critical"}


def test_asked_for_ids_the_console_never_heard_of_are_unknown(
    session: Session, rules: None
) -> None:
    _miners(session, "rig-1")
    now = utcnow()
    assert health.miner_health(session, now=now, miner_ids=["rig-1", "ghost"]) == {
        "rig-1": "ok",
        "ghost": "unknown",
    }
    assert health.agent_health(session, now=now, agent_ids=["nobody"]) == {"nobody": "unknown"}


def test_asking_for_some_ids_judges_only_those(session: Session, rules: None) -> None:
    _miners(session, "rig-1", "rig-2", "rig-3")
    add_state(session, "hot", "rig-2")
    assert health.miner_health(session, now=utcnow(), miner_ids=["rig-2", "rig-3"]) == {
        "rig-2": "critical",
        "rig-3": "ok",
    }


def test_problems_are_worst_first_then_oldest(session: Session, rules: None) -> None:
    now = utcnow()
    _miners(session, "old-hot", "new-hot", "warm", "heating", "fine")
    add_agent(session, "down", name="Gateway", last_seen_at=now - timedelta(hours=2))
    add_agent(session, "fresh", name="Fresh", last_seen_at=None)
    add_state(session, "hot", "new-hot", since=now - 5 * MINUTE)
    add_state(session, "hot", "old-hot", since=now - 50 * MINUTE)
    add_state(session, "warm", "warm", since=now - 90 * MINUTE)
    add_state(session, "hot", "heating", state="pending", since=now - 2 * MINUTE)
    add_state(session, "down", "down", subject_type="agent", since=now - 10 * MINUTE)
    found = health.problems(session, now=now)
    assert [(p.subject, p.health) for p in found] == [
        ("old-hot", "critical"),
        ("down", "critical"),
        ("new-hot", "critical"),
        ("warm", "warning"),
        ("heating", "pending"),
        ("fresh", "unknown"),
    ]
    assert [p.since for p in found] == [
        now - 50 * MINUTE,
        now - 10 * MINUTE,
        now - 5 * MINUTE,
        now - 90 * MINUTE,
        now - 2 * MINUTE,
        None,
    ]
    assert [p.name for p in found if p.subject_type == "agent"] == ["Gateway", "Fresh"]
    assert health.problems(session, now=now, limit=2)[1].subject == "down"
    assert [p.subject for p in health.problems(session, now=now, subject_type="agent")] == [
        "down",
        "fresh",
    ]


def test_a_problems_reasons_are_firing_first_worst_first_and_say_why(
    session: Session, rules: None
) -> None:
    now = utcnow()
    add_miner(session, "rig-1", name="Basement rig")
    add_state(session, "note", "rig-1", since=now - 30 * MINUTE, value=3.5)
    add_state(session, "warm", "rig-1", since=now - 20 * MINUTE, value=81.0)
    add_state(session, "hot", "rig-1", since=now - 10 * MINUTE, value=86.0)
    add_state(session, "silent", "rig-1", state="pending", since=now - MINUTE)
    (problem,) = health.problems(session, now=now)
    assert (problem.name, problem.health, problem.since) == (
        "Basement rig",
        "critical",
        now - 10 * MINUTE,
    )
    assert [(r.rule_id, r.state, r.severity, r.value) for r in problem.reasons] == [
        ("hot", "firing", "critical", 86.0),
        ("warm", "firing", "warning", 81.0),
        ("note", "firing", "info", 3.5),
        ("silent", "pending", "critical", None),
    ]
    assert problem.reasons[0].rule_name == "Too hot"
    assert problem.reasons[0].kind == "miner_temperature"


def test_an_agent_only_the_main_registry_knows_is_a_problem_named_by_its_id(
    session: Session,
) -> None:
    add_rule(session, "drift", name="Drift", kind="fleet_drift", severity="warning")
    add_state(session, "drift", "main-only-7", subject_type="agent")
    (problem,) = health.problems(session, now=utcnow())
    assert (problem.subject, problem.name, problem.health) == (
        "main-only-7",
        "main-only-7",
        "warning",
    )
    # The fleet's judgement names it too, but it is no console agent to count.
    fleet = health.judge_fleet(session, now=utcnow())
    assert [p.subject for p in fleet.problems] == ["main-only-7"]
    assert fleet.agents == {}


def test_the_fleet_judgement_counts_every_health(session: Session, rules: None) -> None:
    now = utcnow()
    _miners(session, "rig-1", "rig-2", "rig-3")
    add_state(session, "hot", "rig-1")
    add_state(session, "warm", "rig-2", state="pending")
    add_agent(session, "a1")
    add_agent(session, "a2", last_seen_at=None)
    add_agent(session, "a3", domain="lab")
    add_silence(session, "lab", {"domain": "lab"})
    fleet = health.judge_fleet(session, now=now)
    assert fleet.counts("miner") == {
        "critical": 1,
        "warning": 0,
        "pending": 1,
        "unknown": 0,
        "maintenance": 0,
        "ok": 1,
    }
    assert fleet.counts("agent") == {
        "critical": 0,
        "warning": 0,
        "pending": 0,
        "unknown": 1,
        "maintenance": 1,
        "ok": 1,
    }
    assert fleet.miners == health.miner_health(session, now=now)
    assert fleet.agents == health.agent_health(session, now=now)
    assert fleet.problems == health.problems(session, now=now)


def test_problem_words_name_what_is_wrong(session: Session, rules: None) -> None:
    now = utcnow()
    _miners(session, "quiet", "hot", "warm", "heating")
    add_agent(session, "down", last_seen_at=now - timedelta(hours=1))
    add_agent(session, "new", last_seen_at=None)
    add_state(session, "silent", "quiet")
    add_state(session, "hot", "hot")
    add_state(session, "warm", "warm")
    add_state(session, "hot", "heating", state="pending")
    add_state(session, "down", "down", subject_type="agent")
    words = {p.subject: health.problem_words(p) for p in health.problems(session, now=now)}
    assert words == {
        "quiet": "not reporting",
        "hot": "critical",
        "warm": "in warning",
        "heating": "pending",
        "down": "offline",
        "new": "never reported",
    }


def test_the_firing_count_leaves_out_pending_silenced_and_disabled(
    session: Session, rules: None
) -> None:
    add_rule(session, "off", enabled=False)
    add_state(session, "hot", "rig-1")
    add_state(session, "note", "rig-1")  # info fires too: it is an alert
    add_state(session, "hot", "rig-2", state="pending")
    add_state(session, "hot", "rig-3", silenced=True)
    add_state(session, "off", "rig-4")
    assert health.firing_count(session) == 2


# --- query counts: set-based, whatever the fleet's size ----------------------------------


@contextmanager
def _counting(engine: Engine, session: Session) -> Iterator[list[str]]:
    """Statements the session sends meanwhile (the app's own jobs share the engine)."""
    statements: list[str] = []
    mine = session.connection()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn is mine:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _fleet(session: Session, size: int) -> None:
    """`size` agents and miners, a third of them with firing or pending states, a silence."""
    now = utcnow()
    samples = [make_sample(f"rig-{n:03d}", recorded_at=now) for n in range(size)]
    session.add_all(samples)
    session.flush()
    for n, sample in enumerate(samples):
        session.add(make_agent(f"agent-{n:03d}", last_seen_at=None if n % 7 == 0 else now))
        session.add(
            Miner(
                miner_id=sample.miner_id,
                first_seen_at=now,
                last_recorded_at=now,
                last_sample_id=sample.id,
            )
        )
        if n % 3 == 0:
            state = "firing" if n % 2 else "pending"
            session.add(_state("hot", "miner", f"rig-{n:03d}", state, now))
            session.add(_state("down", "agent", f"agent-{n:03d}", "firing", now))
    session.commit()
    add_silence(session, "rig-001", {"subject": "rig-001"})
    add_silence(session, "ops", {"domain": "ops", "ruleId": "down"})


def _state(rule_id: str, subject_type: str, subject: str, state: str, now: datetime) -> AlertState:
    return AlertState(
        rule_id=rule_id,
        subject_type=subject_type,
        subject=subject,
        state=state,
        since=now - MINUTE,
        evaluated_at=now,
    )


def _statements_for(engine: Engine, size: int) -> dict[str, int]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        add_rule(session, "hot")
        add_rule(session, "down", kind="agent_offline")
        _fleet(session, size)
        now = utcnow()
        calls = {
            "miner_health": lambda: health.miner_health(session, now=now),
            "miner_health_page": lambda: health.miner_health(
                session, now=now, miner_ids=[f"rig-{n:03d}" for n in range(size)]
            ),
            "agent_health": lambda: health.agent_health(session, now=now),
            "problems": lambda: health.problems(session, now=now),
            "judge_fleet": lambda: health.judge_fleet(session, now=now),
            "current_alerts": lambda: current.current_alerts(session, now=now),
            "firing_count": lambda: health.firing_count(session),
        }
        counts = {}
        for name, call in calls.items():
            with _counting(engine, session) as statements:
                result = call()
            assert result, name  # judged something: the count is of real work
            counts[name] = len(statements)
    return counts


def test_the_query_count_does_not_grow_with_the_fleet(engine: Engine) -> None:
    small = _statements_for(engine, 20)
    large = _statements_for(engine, 200)
    assert small == large
    assert small == {
        "miner_health": 3,  # miners, states, silences
        "miner_health_page": 3,
        "agent_health": 3,
        "problems": 3,  # states, agents never seen, silences
        "judge_fleet": 4,  # agents, miners, states, silences
        "current_alerts": 2,  # states, silences
        "firing_count": 1,
    }
