"""When a silence applies, and to what (SPEC §11, "Silences and maintenance windows").

A silence applies between starts_at (inclusive) and ends_at (exclusive); with a recurrence
only inside its weekly windows, in UTC: {weekdays: [0-6, Monday = 0], start: "HH:MM", end:
"HH:MM"}. A window whose end is not after its start runs past midnight into the next day
("22:00"-"02:00" on a Friday covers Saturday 01:00; "00:00"-"00:00" is the whole day).

Its matchers ({ruleId?, subjectType?, subject?, domain?}) name what it covers: every key it
gives must equal the alert's. A silence without ruleId covers every rule of what it matches:
that subject is under maintenance. One with a ruleId only mutes that rule.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session, col, select

from app.core.timeutil import as_utc
from app.models import Silence

SilenceStatus = Literal["active", "upcoming", "ended"]


def clock_minutes(clock: str) -> int:
    """ "HH:MM" as minutes after midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def weekly_windows(
    recurrence: Mapping[str, Any], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The recurrence's weekly windows (UTC, whole minutes) within [start, end), clipped: the
    one rule of when a recurring silence applies; an end at or before the start runs past
    midnight into the next day ("00:00"-"00:00" is the whole day)."""
    start, end = as_utc(start), as_utc(end)
    weekdays = {int(day) for day in recurrence.get("weekdays", [])}
    opens_at = clock_minutes(recurrence["start"])
    length = clock_minutes(recurrence["end"]) - opens_at
    if length <= 0:
        length += 24 * 60
    found: list[tuple[datetime, datetime]] = []
    # From the day before: a window opened then may run into the span.
    day = (start - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        if day.weekday() in weekdays:
            opens = day + timedelta(minutes=opens_at)
            closes = opens + timedelta(minutes=length)
            if min(closes, end) > max(opens, start):
                found.append((max(opens, start), min(closes, end)))
        day += timedelta(days=1)
    return found


def in_weekly_window(recurrence: Mapping[str, Any], now: datetime) -> bool:
    """Whether `now` (read in UTC) falls inside one of the recurrence's weekly windows."""
    moment = as_utc(now)
    return bool(weekly_windows(recurrence, moment, moment + timedelta(microseconds=1)))


def applies_at(silence: Silence, now: datetime) -> bool:
    """Whether the silence mutes alerts at `now`: inside its span and, if recurring, a window."""
    moment = as_utc(now)
    if not as_utc(silence.starts_at) <= moment < as_utc(silence.ends_at):
        return False
    return silence.recurrence is None or in_weekly_window(silence.recurrence, moment)


def silence_status(silence: Silence, now: datetime) -> SilenceStatus:
    """ended once ends_at has passed; active while it applies; else upcoming (a later span
    or the next weekly window)."""
    if as_utc(silence.ends_at) <= as_utc(now):
        return "ended"
    return "active" if applies_at(silence, now) else "upcoming"


def _given(matchers: Mapping[str, Any]) -> dict[str, Any]:
    # A key sent as null matches nothing in particular: it is not a matcher.
    return {key: value for key, value in matchers.items() if value is not None}


def _matches_given(
    given: Mapping[str, Any],
    *,
    rule_id: str | None,
    subject_type: str,
    subject: str,
    domain: str | None,
) -> bool:
    alert = {"ruleId": rule_id, "subjectType": subject_type, "subject": subject, "domain": domain}
    # A matcher key the alert has no value for (a miner's domain) cannot equal it.
    return all(key in alert and alert[key] == value for key, value in given.items())


def matches(
    silence: Silence, *, rule_id: str, subject_type: str, subject: str, domain: str | None
) -> bool:
    """Whether every matcher the silence gives equals the alert's value (none given: all)."""
    return _matches_given(
        _given(silence.matchers or {}),
        rule_id=rule_id,
        subject_type=subject_type,
        subject=subject,
        domain=domain,
    )


def covers_subject(
    silence: Silence, *, subject_type: str, subject: str, domain: str | None
) -> bool:
    """Whether the silence puts the subject under maintenance: it matches the subject and
    names no ruleId (muting one rule says nothing about the subject as a whole)."""
    # With rule_id None a silence's ruleId matcher never equals: it is left out.
    return _matches_given(
        _given(silence.matchers or {}),
        rule_id=None,
        subject_type=subject_type,
        subject=subject,
        domain=domain,
    )


class SilenceIndex:
    """The silences that apply at one moment, indexed by subject for cheap lookups.

    Built once per evaluation or page (one query), then asked about any number of alerts.
    """

    def __init__(self, silences: Iterable[Silence], now: datetime) -> None:
        self.now = as_utc(now)
        # Most silences name their subject ("silence rig-7 for 1 h"): looked up by it. The
        # rest (a domain, every miner, one rule everywhere) are few and all asked.
        self._by_subject: dict[str, list[dict[str, Any]]] = {}
        self._broad: list[dict[str, Any]] = []
        for silence in silences:
            if not applies_at(silence, self.now):
                continue
            given = _given(silence.matchers or {})
            if "subject" in given:
                self._by_subject.setdefault(str(given["subject"]), []).append(given)
            else:
                self._broad.append(given)

    @classmethod
    def load(cls, session: Session, now: datetime) -> "SilenceIndex":
        """The silences applying at `now`, read in one query."""
        moment = as_utc(now)
        rows = session.exec(
            select(Silence).where(col(Silence.starts_at) <= moment, col(Silence.ends_at) > moment)
        ).all()
        return cls(rows, moment)

    def covers(
        self, *, rule_id: str | None, subject_type: str, subject: str, domain: str | None
    ) -> bool:
        """Whether a silence applying now covers this alert.

        rule_id None asks whether the subject is under maintenance: only silences without a
        ruleId count, since muting one rule says nothing about the subject as a whole.
        """
        # With rule_id None a silence's ruleId matcher never equals: it is left out.
        return any(
            _matches_given(
                given, rule_id=rule_id, subject_type=subject_type, subject=subject, domain=domain
            )
            for given in (*self._by_subject.get(subject, ()), *self._broad)
        )
