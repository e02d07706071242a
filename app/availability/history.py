"""The intervals availability is computed from (SPEC §13), read from the history:

- an agent is down while its shown status is offline: its status history (heartbeats record
  reported changes, the evaluator the derived ones), and silence after its last heartbeat
  (lastSeenAt + offline_after) even before the evaluator has written it;
- a miner is down while it is silent for longer than offline_after (from its last sample +
  offline_after to the next sample) or reports 0 H/s (from that sample to the next);
- maintenance is every silence without a ruleId matching the subject, weekly windows
  expanded;
- known time starts at an agent's first recorded status (earlier if the first change names
  the status it left) or, without history, spans the window; for a miner at its first sample.

One agent's rows are few; a miner's month of 10-second samples is 260,000 rows, so only the
samples that start an outage leave the database (a window function finds them).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlmodel import Session, col

from app.alerts.silence_match import clock_minutes, matches
from app.availability.intervals import Interval, Intervals, normalized
from app.core.downsampling import epoch_seconds
from app.core.timeutil import as_utc, parse_datetime
from app.models import Agent, AgentStatusChange, Miner, MinerSample, Silence


@dataclass(frozen=True)
class StatusChange:
    """One row of an agent's status history, as availability reads it."""

    at: datetime
    from_status: str | None
    to_status: str


@dataclass(frozen=True)
class SubjectTime:
    """A subject's down, maintenance and known time (normal forms), for one window."""

    down: Intervals
    maintenance: Intervals
    known: Intervals


def agent_time(session: Session, agent: Agent, window: Interval, offline_after: int) -> SubjectTime:
    before = (
        session.execute(
            select(AgentStatusChange)
            .where(
                col(AgentStatusChange.agent_id) == agent.id,
                col(AgentStatusChange.at) < window.start,
            )
            .order_by(col(AgentStatusChange.at).desc(), col(AgentStatusChange.id).desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    inside = (
        session.execute(
            select(AgentStatusChange)
            .where(
                col(AgentStatusChange.agent_id) == agent.id,
                col(AgentStatusChange.at) >= window.start,
                col(AgentStatusChange.at) < window.end,
            )
            .order_by(col(AgentStatusChange.at), col(AgentStatusChange.id))
        )
        .scalars()
        .all()
    )
    rows = [before, *inside] if before is not None else list(inside)
    down, known = agent_intervals(
        [StatusChange(row.at, row.from_status, row.to_status) for row in rows],
        reported=agent.status,
        last_seen_at=agent.last_seen_at,
        window=window,
        offline_after=offline_after,
    )
    maintenance = maintenance_time(
        session, window, subject_type="agent", subject=agent.id, domain=agent.domain
    )
    return SubjectTime(down=down, maintenance=maintenance, known=known)


def agent_intervals(
    changes: list[StatusChange],
    *,
    reported: str,
    last_seen_at: datetime | None,
    window: Interval,
    offline_after: int,
) -> tuple[Intervals, Intervals]:
    """(down, known) of an agent over `window`, from its status changes oldest first (the
    last one before the window, then those inside)."""
    if last_seen_at is None and not changes:
        return [], []  # never seen: nothing is known
    down: Intervals = []
    if changes:
        first = changes[0]
        # Before its first change the agent was in the status that change left, if named.
        start = window.start if first.from_status is not None else as_utc(first.at)
        if first.from_status == "offline":
            down.append(Interval(window.start, as_utc(first.at)))
        known = [Interval(min(start, window.end), window.end)]
        for change, following in zip(changes, [*changes[1:], None], strict=True):
            if change.to_status == "offline":
                until = as_utc(following.at) if following is not None else window.end
                down.append(Interval(as_utc(change.at), until))
    else:
        # Adopted from the earlier service without history: what it reports, throughout.
        known = [window]
        if reported == "offline":
            down.append(window)
    if last_seen_at is not None:
        # Silent since its last heartbeat: offline from lastSeenAt + offline_after.
        down.append(Interval(as_utc(last_seen_at) + timedelta(seconds=offline_after), window.end))
    else:
        down.append(window)
    return normalized(down), normalized(known)


def miner_time(session: Session, miner: Miner, window: Interval, offline_after: int) -> SubjectTime:
    dialect = session.get_bind().dialect.name
    this_miner = col(MinerSample.miner_id) == miner.miner_id
    previous = session.execute(
        select(col(MinerSample.recorded_at), _zero(MinerSample))
        .where(this_miner, col(MinerSample.recorded_at) < window.start)
        .order_by(col(MinerSample.recorded_at).desc())
        .limit(1)
    ).first()
    following = session.execute(
        select(col(MinerSample.recorded_at))
        .where(this_miner, col(MinerSample.recorded_at) >= window.end)
        .order_by(col(MinerSample.recorded_at))
        .limit(1)
    ).scalar()
    samples = (
        select(
            col(MinerSample.recorded_at).label("at"),
            func.lead(col(MinerSample.recorded_at))
            .over(order_by=col(MinerSample.recorded_at))
            .label("next_at"),
            _zero(MinerSample).label("zero"),
        )
        .where(
            this_miner,
            col(MinerSample.recorded_at) >= window.start,
            col(MinerSample.recorded_at) < window.end,
        )
        .subquery()
    )
    at, next_at = samples.c.at, samples.c.next_at
    gap = epoch_seconds(next_at, dialect) - epoch_seconds(at, dialect)
    starts = session.execute(
        select(at, next_at, samples.c.zero)
        .where(or_(samples.c.zero, next_at.is_(None), gap > offline_after))
        .order_by(at)
    ).all()
    first_inside = session.execute(
        select(func.min(col(MinerSample.recorded_at))).where(
            this_miner,
            col(MinerSample.recorded_at) >= window.start,
            col(MinerSample.recorded_at) < window.end,
        )
    ).scalar()
    rows: list[tuple[datetime | str, datetime | str | None, bool]] = []
    if previous is not None:
        rows.append((previous[0], first_inside or following, bool(previous[1])))
    for start, next_start, zero in starts:
        rows.append((start, next_start if next_start is not None else following, bool(zero)))
    down = miner_intervals(rows, window=window, offline_after=offline_after)
    first_seen = as_utc(miner.first_seen_at)
    maintenance = maintenance_time(session, window, subject_type="miner", subject=miner.miner_id)
    known = [Interval(max(first_seen, window.start), window.end)]
    return SubjectTime(down=down, maintenance=maintenance, known=normalized(known))


def miner_intervals(
    rows: list[tuple[datetime | str, datetime | str | None, bool]],
    *,
    window: Interval,
    offline_after: int,
) -> Intervals:
    """Down time from (sample time, next sample time or None, reported 0 H/s) rows."""
    down: Intervals = []
    for at, next_at, zero in rows:
        start = _moment(at)
        until = _moment(next_at) if next_at is not None else window.end
        if zero:
            down.append(Interval(start, until))
        silent_from = start + timedelta(seconds=offline_after)
        if until > silent_from:
            down.append(Interval(silent_from, until))
    return normalized(down)


def _moment(value: datetime | str) -> datetime:
    # A window function's or an aggregate's result loses the column type on SQLite: text.
    return as_utc(value) if isinstance(value, datetime) else parse_datetime(value)


def _zero(table: type[MinerSample]) -> Any:
    """Whether a sample reports 0 H/s: its baseline (hashrate_1m if non-zero, else
    hashrate_15m) is zero; a sample with no hashrate at all says nothing."""
    h1, h15 = col(table.hashrate_1m), col(table.hashrate_15m)
    return func.coalesce(func.nullif(h1, 0), h15, h1) == literal_column("0")


def silences_within(session: Session, window: Interval) -> list[Silence]:
    """Every silence whose span meets `window` (one query, for any number of subjects)."""
    return list(
        session.execute(
            select(Silence).where(
                and_(col(Silence.starts_at) < window.end, col(Silence.ends_at) > window.start)
            )
        )
        .scalars()
        .all()
    )


def maintenance_time(
    session: Session,
    window: Interval,
    *,
    subject_type: str,
    subject: str,
    domain: str | None = None,
) -> Intervals:
    """Every silence without a ruleId that covers the subject, within `window`."""
    return maintenance_of(
        silences_within(session, window),
        window,
        subject_type=subject_type,
        subject=subject,
        domain=domain,
    )


def maintenance_of(
    silences: list[Silence],
    window: Interval,
    *,
    subject_type: str,
    subject: str,
    domain: str | None = None,
) -> Intervals:
    """The time within `window` the given silences put the subject under maintenance."""
    found: Intervals = []
    for silence in silences:
        if (silence.matchers or {}).get("ruleId") is not None:
            continue  # muting one rule says nothing about the subject as a whole
        if not matches(
            silence, rule_id="", subject_type=subject_type, subject=subject, domain=domain
        ):
            continue
        span = Interval(
            max(as_utc(silence.starts_at), window.start), min(as_utc(silence.ends_at), window.end)
        )
        if silence.recurrence is None:
            found.append(span)
        else:
            found.extend(weekly_windows(silence.recurrence, span))
    return normalized(found)


def weekly_windows(recurrence: dict[str, Any], span: Interval) -> Intervals:
    """A recurrence's weekly windows (UTC) inside `span`."""
    weekdays = {int(day) for day in recurrence.get("weekdays", [])}
    start_minutes = clock_minutes(recurrence["start"])
    end_minutes = clock_minutes(recurrence["end"])
    length = end_minutes - start_minutes
    if length <= 0:
        length += 24 * 60  # runs past midnight ("00:00"-"00:00" is the whole day)
    found: Intervals = []
    # From the day before the span: a window started then may run into it.
    day = (span.start - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < span.end:
        if day.weekday() in weekdays:
            opens = day + timedelta(minutes=start_minutes)
            closes = opens + timedelta(minutes=length)
            clipped_start, clipped_end = max(opens, span.start), min(closes, span.end)
            if clipped_end > clipped_start:
                found.append(Interval(clipped_start, clipped_end))
        day += timedelta(days=1)
    return found
