"""When a silence applies and what it covers: spans, weekly windows in UTC (wrapping past
midnight), matchers, and the index built once per evaluation. Every time is explicit."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.alerts.silence_match import (
    SilenceIndex,
    applies_at,
    in_weekly_window,
    matches,
    silence_status,
)
from app.models import Silence
from tests.support.db import wipe
from tests.support.factories import add_silence

# 2026-12-04 is a Friday (weekday 4).
FRIDAY = datetime(2026, 12, 4, tzinfo=UTC)
SPAN_START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_END = datetime(2027, 1, 1, tzinfo=UTC)


def _silence(
    matchers: dict[str, Any] | None = None,
    *,
    starts_at: datetime = SPAN_START,
    ends_at: datetime = SPAN_END,
    recurrence: dict[str, Any] | None = None,
) -> Silence:
    return Silence(
        id="s",
        matchers=matchers or {},
        starts_at=starts_at,
        ends_at=ends_at,
        recurrence=recurrence,
        created_by="test",
        created_at=SPAN_START,
    )


def _at(day: datetime, clock: str, *, days: int = 0) -> datetime:
    hours, minutes = clock.split(":")
    return day + timedelta(days=days, hours=int(hours), minutes=int(minutes))


def test_a_silence_applies_from_its_start_until_just_before_its_end() -> None:
    silence = _silence(starts_at=FRIDAY, ends_at=FRIDAY + timedelta(hours=1))
    assert not applies_at(silence, FRIDAY - timedelta(microseconds=1))
    assert applies_at(silence, FRIDAY)
    assert applies_at(silence, FRIDAY + timedelta(minutes=59, seconds=59))
    assert not applies_at(silence, FRIDAY + timedelta(hours=1))


def test_a_weekly_window_applies_only_on_its_days_and_hours() -> None:
    # Weekdays 9:00-17:00, Monday to Friday.
    silence = _silence(recurrence={"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"})
    assert applies_at(silence, _at(FRIDAY, "09:00"))
    assert applies_at(silence, _at(FRIDAY, "16:59"))
    assert not applies_at(silence, _at(FRIDAY, "08:59"))
    assert not applies_at(silence, _at(FRIDAY, "17:00"))
    assert not applies_at(silence, _at(FRIDAY, "12:00", days=1))  # Saturday
    assert applies_at(silence, _at(FRIDAY, "12:00", days=3))  # Monday


def test_a_window_ending_before_it_starts_runs_into_the_next_day() -> None:
    silence = _silence(recurrence={"weekdays": [4], "start": "22:00", "end": "02:00"})
    assert not applies_at(silence, _at(FRIDAY, "21:59"))
    assert applies_at(silence, _at(FRIDAY, "22:00"))
    assert applies_at(silence, _at(FRIDAY, "23:59"))
    assert applies_at(silence, _at(FRIDAY, "01:00", days=1))  # Saturday 01:00
    assert not applies_at(silence, _at(FRIDAY, "02:00", days=1))
    # Friday's early hours belong to Thursday's window, which there is not.
    assert not applies_at(silence, _at(FRIDAY, "01:00"))
    assert not applies_at(silence, _at(FRIDAY, "22:30", days=1))  # Saturday night


def test_a_sunday_night_window_wraps_into_monday() -> None:
    recurrence = {"weekdays": [6], "start": "23:00", "end": "01:30"}
    monday = FRIDAY + timedelta(days=3)
    assert in_weekly_window(recurrence, _at(monday, "01:29"))
    assert not in_weekly_window(recurrence, _at(monday, "01:30"))
    assert in_weekly_window(recurrence, _at(monday, "23:30", days=-1))


def test_equal_start_and_end_is_the_whole_day() -> None:
    recurrence = {"weekdays": [4], "start": "00:00", "end": "00:00"}
    assert in_weekly_window(recurrence, _at(FRIDAY, "00:00"))
    assert in_weekly_window(recurrence, _at(FRIDAY, "23:59"))
    assert not in_weekly_window(recurrence, _at(FRIDAY, "00:00", days=1))


def test_windows_are_read_in_utc_whatever_the_clocks_offset() -> None:
    silence = _silence(recurrence={"weekdays": [4], "start": "22:00", "end": "23:00"})
    paris = timezone(timedelta(hours=1))
    # 23:30 in Paris is 22:30 UTC: inside.
    assert applies_at(silence, datetime(2026, 12, 4, 23, 30, tzinfo=paris))
    # 22:30 in Paris is 21:30 UTC: outside.
    assert not applies_at(silence, datetime(2026, 12, 4, 22, 30, tzinfo=paris))


def test_a_window_outside_the_silences_span_does_not_apply() -> None:
    recurrence = {"weekdays": [4], "start": "22:00", "end": "02:00"}
    silence = _silence(starts_at=SPAN_START, ends_at=_at(FRIDAY, "23:00"), recurrence=recurrence)
    assert applies_at(silence, _at(FRIDAY, "22:30"))
    assert not applies_at(silence, _at(FRIDAY, "23:30"))
    assert not applies_at(silence, _at(FRIDAY, "01:00", days=1))


def test_status_is_ended_active_or_upcoming() -> None:
    once = _silence(starts_at=FRIDAY, ends_at=FRIDAY + timedelta(hours=2))
    assert silence_status(once, FRIDAY - timedelta(minutes=1)) == "upcoming"
    assert silence_status(once, FRIDAY + timedelta(hours=1)) == "active"
    assert silence_status(once, FRIDAY + timedelta(hours=2)) == "ended"
    weekly = _silence(recurrence={"weekdays": [4], "start": "22:00", "end": "02:00"})
    # Between two windows of its span it waits for the next one.
    assert silence_status(weekly, _at(FRIDAY, "12:00")) == "upcoming"
    assert silence_status(weekly, _at(FRIDAY, "22:00")) == "active"
    assert silence_status(weekly, SPAN_END) == "ended"


def test_every_given_matcher_must_equal() -> None:
    alert = {"rule_id": "hot", "subject_type": "miner", "subject": "rig-1", "domain": None}
    assert matches(_silence({}), **alert)
    assert matches(_silence({"subject": "rig-1"}), **alert)
    assert matches(_silence({"subject": "rig-1", "ruleId": "hot"}), **alert)
    assert not matches(_silence({"subject": "rig-1", "ruleId": "silent"}), **alert)
    assert not matches(_silence({"subject": "rig-2"}), **alert)
    assert not matches(_silence({"subjectType": "agent"}), **alert)
    # A miner has no domain: a domain matcher never covers one.
    assert not matches(_silence({"domain": "ops"}), **alert)
    agent = {"rule_id": "down", "subject_type": "agent", "subject": "a1", "domain": "ops"}
    assert matches(_silence({"domain": "ops"}), **agent)
    assert not matches(_silence({"domain": "data"}), **agent)


def test_a_matcher_sent_as_null_matches_anything() -> None:
    alert = {"rule_id": "hot", "subject_type": "miner", "subject": "rig-1", "domain": None}
    assert matches(_silence({"subject": "rig-1", "ruleId": None}), **alert)


def test_the_index_covers_by_subject_and_by_broad_matchers() -> None:
    index = SilenceIndex(
        [
            _silence({"subjectType": "miner", "subject": "rig-1"}),
            _silence({"domain": "ops"}),
            _silence({"ruleId": "hot", "subject": "rig-2"}),
            _silence({"ruleId": "errors"}),
        ],
        FRIDAY,
    )
    assert index.covers(rule_id=None, subject_type="miner", subject="rig-1", domain=None)
    assert index.covers(rule_id="any", subject_type="miner", subject="rig-1", domain=None)
    assert not index.covers(rule_id=None, subject_type="agent", subject="rig-1", domain=None)
    assert index.covers(rule_id=None, subject_type="agent", subject="a1", domain="ops")
    assert not index.covers(rule_id=None, subject_type="agent", subject="a2", domain="data")
    # A silence of one rule mutes that rule but puts nothing under maintenance.
    assert index.covers(rule_id="hot", subject_type="miner", subject="rig-2", domain=None)
    assert not index.covers(rule_id="cold", subject_type="miner", subject="rig-2", domain=None)
    assert not index.covers(rule_id=None, subject_type="miner", subject="rig-2", domain=None)
    assert index.covers(rule_id="errors", subject_type="agent", subject="a9", domain="data")
    assert not index.covers(rule_id=None, subject_type="agent", subject="a9", domain="data")


def test_the_index_keeps_only_what_applies_at_its_moment() -> None:
    night = _silence(
        {"subject": "rig-1"}, recurrence={"weekdays": [4], "start": "22:00", "end": "02:00"}
    )
    later = _silence({"subject": "rig-2"}, starts_at=FRIDAY + timedelta(days=1))
    for moment, covered in ((_at(FRIDAY, "12:00"), False), (_at(FRIDAY, "23:00"), True)):
        index = SilenceIndex([night, later], moment)
        assert index.covers(rule_id=None, subject_type="miner", subject="rig-1", domain=None) is (
            covered
        )
        assert not index.covers(rule_id=None, subject_type="miner", subject="rig-2", domain=None)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def test_load_reads_the_silences_of_that_moment_from_the_database(session: Session) -> None:
    now = FRIDAY + timedelta(hours=12)
    add_silence(
        session, "now", {"subject": "rig-1"}, starts_at=FRIDAY, ends_at=FRIDAY + timedelta(days=1)
    )
    add_silence(
        session,
        "ended",
        {"subject": "rig-2"},
        starts_at=FRIDAY,
        ends_at=now,  # ended early, exactly now
        ended_at=now,
        ended_by="test",
    )
    add_silence(
        session,
        "upcoming",
        {"subject": "rig-3"},
        starts_at=now + timedelta(seconds=1),
        ends_at=now + timedelta(hours=1),
    )
    index = SilenceIndex.load(session, now)
    covered = [
        subject
        for subject in ("rig-1", "rig-2", "rig-3")
        if index.covers(rule_id=None, subject_type="miner", subject=subject, domain=None)
    ]
    assert covered == ["rig-1"]
