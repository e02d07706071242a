"""The outbox: rows written with their transition, grouped per rule, event and channel within
PRISM_ALERT_GROUP_SECONDS, and reminders while an incident stays unacknowledged."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.alerts import outbox
from app.models.alerts import Incident, Notification
from tests.support.db import wipe
from tests.support.notify_rows import (
    CLOCK,
    add_channel,
    add_incidents,
    add_rule,
    fire,
    later,
    timeline,
)

HOOK = "json://127.0.0.1:9/hook"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def rows_of(session: Session) -> list[Notification]:
    session.expire_all()
    return list(session.exec(select(Notification).order_by(col(Notification.channel_id))).all())


def test_it_writes_one_row_per_enabled_channel(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    add_channel(session, "mail", "mailto://127.0.0.1:25?from=a@example.com&to=b@example.com")
    add_channel(session, "off", HOOK, enabled=False)
    rule = add_rule(session, "silent", ["ops", "off", "gone", "mail"])

    rows = fire(session, rule, ["rig-1"], group_seconds=30)

    assert sorted(row.channel_id for row in rows) == ["mail", "ops"]
    stored = rows_of(session)
    assert [(row.channel_id, row.event, row.status, row.attempts) for row in stored] == [
        ("mail", "firing", "pending", 0),
        ("ops", "firing", "pending", 0),
    ]
    assert all(row.next_attempt_at == later(30) for row in stored)
    assert len({row.id for row in stored}) == 2


def test_twenty_transitions_within_the_window_are_one_row_per_channel(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    add_channel(session, "pager", HOOK)
    rule = add_rule(session, "silent", ["ops", "pager"])

    for index in range(20):
        fire(session, rule, [f"rig-{index:02d}"], now=later(index), group_seconds=30)

    stored = rows_of(session)
    assert [row.channel_id for row in stored] == ["ops", "pager"]
    incident_ids = sorted(i for i in session.exec(select(Incident.id)).all() if i is not None)
    for row in stored:
        assert sorted(row.incident_ids) == incident_ids
        # Due when the window of its first transition closes.
        assert row.next_attempt_at == later(30)


def test_a_transition_after_the_window_starts_a_new_row(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])

    first = fire(session, rule, ["rig-1"], now=CLOCK, group_seconds=30)
    second = fire(session, rule, ["rig-2"], now=later(30), group_seconds=30)

    assert first[0].id != second[0].id
    assert [len(row.incident_ids) for row in rows_of(session)] == [1, 1]


def test_other_events_and_rules_do_not_join_a_group(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    silent = add_rule(session, "silent", ["ops"])
    hot = add_rule(session, "hot", ["ops"], kind="miner_temperature")

    fire(session, silent, ["rig-1"], group_seconds=30)
    fire(session, silent, ["rig-2"], group_seconds=30, event="resolved")
    fire(session, hot, ["rig-3"], group_seconds=30)

    assert len(rows_of(session)) == 3


def test_a_claimed_or_tried_row_takes_no_more_incidents(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"], group_seconds=30)
    row.claimed_until = later(60)
    session.add(row)
    session.commit()

    fire(session, rule, ["rig-2"], now=later(1), group_seconds=30)

    assert sorted(len(stored.incident_ids) for stored in rows_of(session)) == [1, 1]


def test_group_zero_makes_every_transition_its_own_row_due_at_once(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])

    fire(session, rule, ["rig-1"], group_seconds=0)
    fire(session, rule, ["rig-2"], group_seconds=0)

    stored = rows_of(session)
    assert len(stored) == 2
    assert all(row.next_attempt_at == CLOCK for row in stored)


def test_a_rule_without_channels_writes_nothing(session: Session) -> None:
    rule = add_rule(session, "silent", [])
    assert fire(session, rule, ["rig-1"]) == []
    assert rows_of(session) == []


def test_firing_marks_when_the_incident_was_last_notified(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])
    fire(session, rule, ["rig-1"], now=later(5))
    session.expire_all()
    (incident,) = session.exec(select(Incident)).all()
    assert incident.last_notified_at == later(5)


def test_enqueue_never_commits(session: Session, engine: Engine) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])
    (incident,) = add_incidents(session, rule, ["rig-1"])
    assert incident.id is not None
    outbox.enqueue(
        session, rule=rule, event="firing", incident_ids=[incident.id], now=CLOCK, group_seconds=0
    )
    session.rollback()
    with Session(engine) as other:
        assert other.exec(select(Notification)).all() == []


def test_listeners_hear_of_a_commit_that_enqueued_not_of_a_rollback(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"])
    heard: list[str] = []
    remove = outbox.on_committed(lambda: heard.append("commit"))
    try:
        (incident,) = add_incidents(session, rule, ["rig-1"])
        assert incident.id is not None
        outbox.enqueue(
            session,
            rule=rule,
            event="firing",
            incident_ids=[incident.id],
            now=CLOCK,
            group_seconds=0,
        )
        session.rollback()
        assert heard == []
        fire(session, rule, ["rig-2"])
        assert heard == ["commit"]
        session.commit()  # nothing enqueued since: nobody is woken again
        assert heard == ["commit"]
    finally:
        remove()


# --- Reminders ------------------------------------------------------------------------------


def test_reminders_follow_repeat_minutes_until_acknowledged(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"], repeat_minutes=10)
    fire(session, rule, ["rig-1", "rig-2", "rig-3"])
    session.expire_all()
    first, second, third = session.exec(select(Incident).order_by(col(Incident.id))).all()
    second.acknowledged_at = later(60)
    second.acknowledged_by = "alice"
    third.resolved_at = later(60)
    session.add_all([second, third])
    session.commit()

    assert outbox.queue_reminders(session, now=later(599), group_seconds=0) == 0
    assert outbox.queue_reminders(session, now=later(600), group_seconds=0) == 1
    session.commit()

    reminders = [row for row in rows_of(session) if row.event == "reminder"]
    assert [row.incident_ids for row in reminders] == [[first.id]]
    assert first.id is not None
    assert [entry.type for entry in timeline(session, first.id)] == ["reminder"]
    session.refresh(first)
    assert first.last_notified_at == later(600)
    # The next one counts from this reminder.
    assert outbox.queue_reminders(session, now=later(1199), group_seconds=0) == 0
    assert outbox.queue_reminders(session, now=later(1200), group_seconds=0) == 1


def test_no_reminders_for_silenced_incidents_or_rules_that_do_not_repeat(
    session: Session,
) -> None:
    add_channel(session, "ops", HOOK)
    repeating = add_rule(session, "silent", ["ops"], repeat_minutes=1)
    once = add_rule(session, "hot", ["ops"], kind="miner_temperature")
    add_incidents(session, repeating, ["rig-1"], silenced=True)
    add_incidents(session, once, ["rig-2"])

    assert outbox.queue_reminders(session, now=later(3600), group_seconds=0) == 0
    assert rows_of(session) == []


def test_reminders_of_one_rule_are_one_message_per_channel(session: Session) -> None:
    add_channel(session, "ops", HOOK)
    rule = add_rule(session, "silent", ["ops"], repeat_minutes=5)
    fire(session, rule, [f"rig-{index}" for index in range(20)])

    assert outbox.queue_reminders(session, now=later(300), group_seconds=30) == 20
    session.commit()

    reminders = [row for row in rows_of(session) if row.event == "reminder"]
    assert len(reminders) == 1
    assert len(reminders[0].incident_ids) == 20


def test_a_rule_with_no_enabled_channel_records_no_reminder(session: Session) -> None:
    add_channel(session, "off", HOOK, enabled=False)
    rule = add_rule(session, "silent", ["off"], repeat_minutes=1)
    (incident,) = add_incidents(session, rule, ["rig-1"])
    assert incident.id is not None

    assert outbox.queue_reminders(session, now=later(3600), group_seconds=0) == 0
    assert timeline(session, incident.id) == []
