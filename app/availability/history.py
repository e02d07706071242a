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

Agents are read in three statements whatever their number: the newest status change before
the window for each (a correlated LIMIT 1 through the history's (agent_id, at) index), every
change inside it, and the silences that meet it. A miner's month of 10-second samples is
260,000 rows, so only the samples that start an outage leave the database (a window
function finds them).
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.alerts.silence_match import covers_subject, weekly_windows
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
    """One agent's time over `window`: agents_time() for its id."""
    [(_agent, time)] = agents_time(session, window, offline_after, [agent.id])
    return time


def agents_time(
    session: Session,
    window: Interval,
    offline_after: int,
    agent_ids: Sequence[str] | None = None,
) -> Iterator[tuple[Agent, SubjectTime]]:
    """(agent, its time over `window`) for every agent (or those of `agent_ids`), by id."""
    earlier = aliased(AgentStatusChange)
    before_id = (
        select(col(earlier.id))
        .where(col(earlier.agent_id) == col(Agent.id), col(earlier.at) < window.start)
        .order_by(col(earlier.at).desc(), col(earlier.id).desc())
        .limit(1)
        .correlate(Agent)
        .scalar_subquery()
    )
    last = aliased(AgentStatusChange)
    chosen = select(Agent, col(last.at), col(last.from_status), col(last.to_status)).outerjoin(
        last, col(last.id) == before_id
    )
    changes_inside = select(
        col(AgentStatusChange.agent_id),
        col(AgentStatusChange.at),
        col(AgentStatusChange.from_status),
        col(AgentStatusChange.to_status),
    ).where(col(AgentStatusChange.at) >= window.start, col(AgentStatusChange.at) < window.end)
    if agent_ids is not None:
        chosen = chosen.where(col(Agent.id).in_(list(agent_ids)))
        changes_inside = changes_inside.where(col(AgentStatusChange.agent_id).in_(list(agent_ids)))
    agents = session.execute(chosen.order_by(col(Agent.id))).all()
    inside: dict[str, list[StatusChange]] = defaultdict(list)
    for agent_id, at, from_status, to_status in session.execute(
        changes_inside.order_by(
            col(AgentStatusChange.agent_id), col(AgentStatusChange.at), col(AgentStatusChange.id)
        )
    ):
        inside[agent_id].append(StatusChange(as_utc(at), from_status, to_status))
    silences = silences_within(session, window)
    for agent, at, from_status, to_status in agents:
        changes = inside.get(agent.id, [])
        if at is not None:
            changes = [StatusChange(as_utc(at), from_status, to_status), *changes]
        down, known = agent_intervals(
            changes,
            reported=agent.status,
            last_seen_at=agent.last_seen_at,
            window=window,
            offline_after=offline_after,
        )
        maintenance = maintenance_of(
            silences, window, subject_type="agent", subject=agent.id, domain=agent.domain
        )
        yield agent, SubjectTime(down=down, maintenance=maintenance, known=known)


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


def miner_time(
    session: Session,
    miner: Miner,
    window: Interval,
    offline_after: int,
    silences: list[Silence] | None = None,
) -> SubjectTime:
    """One miner's time over `window`; `silences` (silences_within(window)) when the caller
    judges several miners, so they are read once."""
    dialect = session.get_bind().dialect.name
    recorded_at = col(MinerSample.recorded_at)
    this_miner = col(MinerSample.miner_id) == miner.miner_id
    # The samples on either side of the window belong to the read: the one before says
    # whether the window starts inside an outage, the one after where the last one ends.
    before = session.execute(
        select(recorded_at)
        .where(this_miner, recorded_at < window.start)
        .order_by(recorded_at.desc())
        .limit(1)
    ).scalar()
    after = session.execute(
        select(recorded_at)
        .where(this_miner, recorded_at >= window.end)
        .order_by(recorded_at)
        .limit(1)
    ).scalar()
    samples = (
        select(
            recorded_at.label("at"),
            func.lead(recorded_at).over(order_by=recorded_at).label("next_at"),
            _zero(MinerSample).label("zero"),
        )
        .where(
            this_miner,
            recorded_at >= (before if before is not None else window.start),
            recorded_at <= after if after is not None else recorded_at < window.end,
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
    rows = [(start, next_start, bool(zero)) for start, next_start, zero in starts]
    down = miner_intervals(rows, window=window, offline_after=offline_after)
    first_seen = as_utc(miner.first_seen_at)
    if silences is None:
        silences = silences_within(session, window)
    maintenance = maintenance_of(silences, window, subject_type="miner", subject=miner.miner_id)
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
        if not covers_subject(silence, subject_type=subject_type, subject=subject, domain=domain):
            continue
        start = max(as_utc(silence.starts_at), window.start)
        end = min(as_utc(silence.ends_at), window.end)
        if silence.recurrence is None:
            found.append(Interval(start, end))
        else:
            found.extend(Interval(*span) for span in weekly_windows(silence.recurrence, start, end))
    return normalized(found)
