"""Agents: filtered lists with keyset pages, admin CRUD, heartbeats and status history.

The status an agent stores is what it last reported; the status shown is the effective one
(app/agents/status.py): silent longer than the offline threshold means offline.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import ColumnElement, and_, delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.agents.status import (
    effective_status,
    effective_status_column,
    offline_cutoff,
    shown_status,
)
from app.audit.service import Actor, record
from app.core.errors import ConflictError, NotFoundError, UnavailableError, UnprocessableError
from app.core.pagination import Cursor, newest_first_after
from app.core.timeutil import isoformat, parse_datetime, utcnow
from app.models import Agent, AgentEvent, AgentMemorySample, AgentStatusChange
from app.models.agent import (
    AGENT_ID_RULE,
    AgentCreate,
    AgentPublic,
    AgentSort,
    AgentUpdate,
    Heartbeat,
    StatusChangePublic,
    is_valid_agent_id,
)

# API sort key → column. Every sort ends with the id so the order (and keyset) is total.
SORT_COLUMNS: dict[str, Any] = {
    "lastSeenAt": Agent.last_seen_at,
    "name": Agent.name,
    "id": Agent.id,
    "domain": Agent.domain,
    "memoryUsedMB": Agent.memory_used_mb,
}
AGENT_SORTS: tuple[str, ...] = get_args(AgentSort)
DEFAULT_SORT: AgentSort = "-lastSeenAt"
# Rounds of the status compare-and-swap before giving up under extreme contention.
_STATUS_ATTEMPTS = 5


@dataclass(frozen=True)
class AgentQuery:
    """Filters and order of the agent list and export. `status` is the shown status."""

    status: str | None = None
    domain: str | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT


@dataclass(frozen=True)
class StatusOutcome:
    """An agent after a write, with what the ops stream needs to know."""

    agent: Agent
    shown_status: str
    shown_status_changed: bool
    registered: bool = False


def agent_public(agent: Agent, *, now: datetime, offline_after: int) -> AgentPublic:
    """The API shape of an agent, with its shown status."""
    public = AgentPublic.model_validate(agent)
    public.status = effective_status(agent, now, offline_after)
    return public


def filtered_agents(
    query: AgentQuery, *, now: datetime, offline_after: int
) -> SelectOfScalar[Agent]:
    """Agents matching the query in its sort order (nulls last, ties by id)."""
    if query.sort not in AGENT_SORTS:
        raise UnprocessableError(f"sort: must be one of {', '.join(AGENT_SORTS)}")
    statement = select(Agent)
    if query.status is not None:
        statement = statement.where(effective_status_column(now, offline_after) == query.status)
    if query.domain is not None:
        statement = statement.where(Agent.domain == query.domain)
    if query.q:
        statement = statement.where(
            or_(
                col(Agent.id).icontains(query.q, autoescape=True),
                col(Agent.name).icontains(query.q, autoescape=True),
            )
        )
    key, descending = _sort_key(query.sort)
    column = SORT_COLUMNS[key]
    ordered = column.desc() if descending else column.asc()
    return statement.order_by(ordered.nulls_last(), col(Agent.id).asc())


# The columns of AgentPublic, in its field order: the list reads these, not ORM entities
# (building 1,000 Agent objects and validating each took most of a list's time).
PUBLIC_COLUMNS: tuple[Any, ...] = tuple(
    col(column)
    for column in (
        Agent.id,
        Agent.name,
        Agent.domain,
        Agent.status,
        Agent.memory_used_mb,
        Agent.last_seen_at,
        Agent.version,
    )
)
_COLUMN_INDEX = {column.key: index for index, column in enumerate(PUBLIC_COLUMNS)}


def list_agents(
    *,
    session: Session,
    query: AgentQuery,
    offline_after: int,
    limit: int | None,
    cursor: Cursor | None = None,
    now: datetime | None = None,
) -> tuple[list[AgentPublic], Cursor | None]:
    """A page of agents (every row when `limit` is None) and the next page's cursor."""
    now = now or utcnow()
    statement = filtered_agents(query, now=now, offline_after=offline_after)
    if cursor is not None:
        statement = statement.where(_after(query.sort, cursor))
    if limit is not None:
        statement = statement.limit(limit + 1)
    rows = session.execute(statement.with_only_columns(*PUBLIC_COLUMNS)).all()
    next_cursor = None
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _cursor_of_row(query.sort, rows[-1])
    cutoff = offline_cutoff(now, offline_after)
    return [
        # Values straight from typed columns: validating them again would only cost time.
        AgentPublic.model_construct(
            id=agent_id,
            name=name,
            domain=domain,
            status=shown_status(status, last_seen_at, cutoff),
            memory_used_mb=memory_used_mb,
            last_seen_at=last_seen_at,
            version=version,
        )
        for agent_id, name, domain, status, memory_used_mb, last_seen_at, version in rows
    ], next_cursor


def _cursor_of_row(sort: str, row: Any) -> Cursor:
    key, _ = _sort_key(sort)
    value = row[_COLUMN_INDEX[SORT_COLUMNS[key].key]]
    if isinstance(value, datetime):
        value = isoformat(value)
    # The sort travels in the cursor so a cursor is never applied to another order.
    return [sort, value, row[0]]


def _sort_key(sort: str) -> tuple[str, bool]:
    return sort.removeprefix("-"), sort.startswith("-")


def _after(sort: str, cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after the cursor's row in this sort order."""
    invalid = UnprocessableError("cursor: not a cursor of this list and sort")
    if len(cursor) != 3 or cursor[0] != sort or not isinstance(cursor[2], str):
        raise invalid
    key, descending = _sort_key(sort)
    column = SORT_COLUMNS[key]
    value, last_id = _typed(key, cursor[1], invalid), cursor[2]
    agent_id = col(Agent.id)
    if value is None:
        # Nulls come last, in id order.
        return and_(column.is_(None), agent_id > last_id)
    beyond = column < value if descending else column > value
    after = or_(beyond, and_(column == value, agent_id > last_id))
    return or_(after, column.is_(None)) if key == "lastSeenAt" else after


def _typed(key: str, value: Any, invalid: UnprocessableError) -> Any:
    try:
        if key == "lastSeenAt":
            return None if value is None else parse_datetime(value)
        if key == "memoryUsedMB":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid
            return float(value)
    except ValueError:
        raise invalid from None
    if not isinstance(value, str):
        raise invalid
    return value


def agents_by_id(session: Session, agent_ids: Iterable[str]) -> dict[str, Agent]:
    """The stored agents among `agent_ids`, in one query, loaded into the session."""
    found = session.scalars(select(Agent).where(col(Agent.id).in_(list(agent_ids))))
    return {agent.id: agent for agent in found}


def get_agent(*, session: Session, agent_id: str) -> Agent:
    """The agent, or NotFoundError("Agent not found")."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFoundError("Agent not found")
    return agent


def create_agent(
    *,
    session: Session,
    data: AgentCreate,
    offline_after: int,
    actor: Actor,
    now: datetime | None = None,
) -> StatusOutcome:
    """Register an agent with a caller-chosen id; 409 when the id is taken. Audited as
    "agent.create" in the same transaction."""
    now = now or utcnow()
    if session.get(Agent, data.id) is not None:
        raise ConflictError(f"Agent {data.id!r} already exists")
    agent = Agent.model_validate(data.model_dump())
    session.add(agent)
    session.add(AgentStatusChange(agent_id=agent.id, to_status=agent.status, at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConflictError(f"Agent {data.id!r} already exists") from None
    record(
        session,
        actor=actor,
        action="agent.create",
        target_type="agent",
        target_id=agent.id,
        summary=f"Registered agent {agent.id} ({agent.name})",
        detail=data.model_dump(mode="json", by_alias=True, exclude_unset=True),
    )
    session.commit()
    shown = effective_status(agent, now, offline_after)
    return StatusOutcome(agent, shown, shown_status_changed=True, registered=True)


def update_agent(
    *,
    session: Session,
    agent_id: str,
    data: AgentUpdate,
    offline_after: int,
    actor: Actor,
    now: datetime | None = None,
) -> StatusOutcome:
    """Change the fields sent (a partial update); a status change is recorded in history.
    Audited as "agent.update" in the same transaction."""
    changes = data.model_dump(exclude_unset=True)
    audited = _Audited(actor, data.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return _apply(session, agent_id, changes, now or utcnow(), offline_after, audited)


@dataclass(frozen=True)
class _Audited:
    """Who made an admin's change through _apply (heartbeats, telemetry, are not audited)."""

    actor: Actor
    changes: dict[str, Any]


def delete_agent(*, session: Session, agent_id: str, actor: Actor) -> None:
    """Delete an agent with its events, status history and memory samples.

    Explicit deletes, not only ON DELETE CASCADE: databases adopted from the earlier
    service were made by create_all and carry no cascade.
    """
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFoundError("Agent not found")
    session.exec(delete(AgentEvent).where(col(AgentEvent.agent_id) == agent_id))
    session.exec(delete(AgentStatusChange).where(col(AgentStatusChange.agent_id) == agent_id))
    session.exec(delete(AgentMemorySample).where(col(AgentMemorySample.agent_id) == agent_id))
    session.delete(agent)
    session.flush()
    record(
        session,
        actor=actor,
        action="agent.delete",
        target_type="agent",
        target_id=agent_id,
        summary=f"Deleted agent {agent_id} ({agent.name}) with its history",
    )
    session.commit()


def record_heartbeat(
    *,
    session: Session,
    agent_id: str,
    report: Heartbeat,
    offline_after: int,
    now: datetime | None = None,
) -> StatusOutcome:
    """Mark the agent seen now with what it reported; register it when name and domain came."""
    now = now or utcnow()
    changes: dict[str, Any] = report.model_dump(exclude_unset=True)
    changes["last_seen_at"] = now
    if session.get(Agent, agent_id) is None:
        if report.name is None or report.domain is None:
            raise NotFoundError("Agent not found")
        if not is_valid_agent_id(agent_id):
            raise UnprocessableError(f"id: must be {AGENT_ID_RULE}")
        try:
            return _register(session, agent_id, changes, now, offline_after)
        except IntegrityError:
            # Registered concurrently by another request: this heartbeat updates it instead.
            session.rollback()
    return _apply(session, agent_id, changes, now, offline_after)


def _register(
    session: Session, agent_id: str, changes: dict[str, Any], now: datetime, offline_after: int
) -> StatusOutcome:
    agent = Agent.model_validate({"id": agent_id, **changes})
    session.add(agent)
    session.add(AgentStatusChange(agent_id=agent_id, to_status=agent.status, at=now))
    session.flush()  # the agent row must exist before its memory sample references it
    _record_memory(session, agent_id, changes, now)
    session.commit()
    shown = effective_status(agent, now, offline_after)
    return StatusOutcome(agent, shown, shown_status_changed=True, registered=True)


def _apply(
    session: Session,
    agent_id: str,
    changes: dict[str, Any],
    now: datetime,
    offline_after: int,
    audited: _Audited | None = None,
) -> StatusOutcome:
    for attempt in range(_STATUS_ATTEMPTS):
        # The row read in this transaction is current (the caller's, or the one just read);
        # a retry after losing the status swap reads it again.
        agent = session.get(Agent, agent_id, populate_existing=attempt > 0)
        if agent is None:
            raise NotFoundError("Agent not found")
        shown_before = effective_status(agent, now, offline_after)
        new_status = changes.get("status")
        if new_status not in (None, agent.status) and not _swap_status(
            session, agent, new_status, now
        ):
            session.rollback()  # another writer changed the status first: read it again
            continue
        agent.sqlmodel_update(changes)
        session.add(agent)
        _record_memory(session, agent_id, changes, now)
        if audited is not None:
            record(
                session,
                actor=audited.actor,
                action="agent.update",
                target_type="agent",
                target_id=agent_id,
                summary=f"Changed agent {agent_id}: {', '.join(audited.changes) or 'nothing'}",
                detail=audited.changes,
            )
        session.commit()
        shown = effective_status(agent, now, offline_after)
        return StatusOutcome(agent, shown, shown_status_changed=shown != shown_before)
    raise UnavailableError("Agent status is changing concurrently; retry")


def _record_memory(session: Session, agent_id: str, changes: dict[str, Any], now: datetime) -> None:
    """Keep the reported memory as a time series (pruned with the miner samples)."""
    memory = changes.get("memory_used_mb")
    if memory is not None:
        session.add(AgentMemorySample(agent_id=agent_id, recorded_at=now, memory_used_mb=memory))


def _swap_status(session: Session, agent: Agent, new_status: str, now: datetime) -> bool:
    """Store the new status only if the stored one is still the one read, and record it.

    A compare-and-swap in the UPDATE itself: two racing reports of the same change record
    it once on either engine, without relying on SQLite honouring SELECT ... FOR UPDATE.
    """
    swapped = session.exec(
        update(Agent)
        .where(col(Agent.id) == agent.id, col(Agent.status) == agent.status)
        .values(status=new_status)
        .execution_options(synchronize_session=False)
    )
    if swapped.rowcount != 1:
        return False
    session.add(
        AgentStatusChange(agent_id=agent.id, from_status=agent.status, to_status=new_status, at=now)
    )
    return True


def status_changes_after(agent_id: str, cursor: Cursor | None) -> SelectOfScalar[AgentStatusChange]:
    """An agent's status changes newest first, those after `cursor` ([at, id]) when given."""
    statement = (
        select(AgentStatusChange)
        .where(AgentStatusChange.agent_id == agent_id)
        .order_by(col(AgentStatusChange.at).desc(), col(AgentStatusChange.id).desc())
    )
    if cursor is None:
        return statement
    return statement.where(
        newest_first_after(AgentStatusChange.at, AgentStatusChange.id, cursor, int)
    )


def status_history(
    *, session: Session, agent_id: str, limit: int, cursor: Cursor | None = None
) -> tuple[list[StatusChangePublic], Cursor | None]:
    """An agent's recorded status changes, newest first, one page at a time."""
    get_agent(session=session, agent_id=agent_id)
    rows = list(session.exec(status_changes_after(agent_id, cursor).limit(limit + 1)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = [isoformat(rows[-1].at), rows[-1].id]
    return [StatusChangePublic.model_validate(row) for row in rows], next_cursor


def agent_names(*, session: Session, agent_ids: Iterable[str]) -> dict[str, str]:
    """id → name for the given agents (unknown ids are left out)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    rows = session.exec(select(Agent.id, Agent.name).where(col(Agent.id).in_(ids))).all()
    return {agent_id: name for agent_id, name in rows}


def agent_domains(*, session: Session) -> list[str]:
    """Every domain some agent belongs to, alphabetically (the agent filter's options)."""
    return list(session.exec(select(Agent.domain).distinct().order_by(col(Agent.domain))).all())


def count_agents(*, session: Session, query: AgentQuery, now: datetime, offline_after: int) -> int:
    """How many agents match the query's filters (its sort is irrelevant)."""
    matching = filtered_agents(query, now=now, offline_after=offline_after).order_by(None)
    return session.exec(select(func.count()).select_from(matching.subquery())).one()
