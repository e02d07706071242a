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
change inside it, and the silences that meet it. A miner's down time is read by
app/availability/miner_down.py (its rollup says where to look in a month of samples). The
fleet list of agents sums their down time in SQL instead: app/availability/agent_sums.py.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.alerts.silence_match import covers_subject, weekly_windows
from app.availability.intervals import Interval, Intervals, normalized
from app.availability.miner_down import miner_down
from app.core.timeutil import as_utc
from app.models import Agent, AgentStatusChange, Miner, Silence


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
    down: Intervals | None = None,
) -> SubjectTime:
    """One miner's time over `window`; `silences` (silences_within(window)) and its `down`
    time (miners_down) when the caller judges several miners, so they are read together."""
    if down is None:
        down = miner_down(session, miner.miner_id, window, offline_after)
    first_seen = as_utc(miner.first_seen_at)
    if silences is None:
        silences = silences_within(session, window)
    maintenance = maintenance_of(silences, window, subject_type="miner", subject=miner.miner_id)
    known = [Interval(max(first_seen, window.start), window.end)]
    return SubjectTime(down=down, maintenance=maintenance, known=normalized(known))


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


def covered(
    silences: list[Silence], *, subject_type: str, subject: str, domain: str | None = None
) -> bool:
    """Whether any of the silences puts the subject under maintenance at some time."""
    return any(
        covers_subject(silence, subject_type=subject_type, subject=subject, domain=domain)
        for silence in silences
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
