"""Agent events: ingest (all-or-nothing batches) and newest-first queries with keyset pages."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.core.clock_skew import check_not_future
from app.core.errors import NotFoundError, UnprocessableError
from app.core.pagination import Cursor, newest_first_after
from app.core.timeutil import isoformat
from app.models import Agent, AgentEvent
from app.models.agent import EVENT_KINDS, EventIn, EventPublic

RECENT_EVENTS = 10
MAX_SEARCH_LENGTH = 200  # message search and agent match: longer text is refused, not cut


@dataclass(frozen=True)
class EventQuery:
    """Filters of the event list and export; `since` is inclusive, `until` exclusive.

    `agent_id` is one exact agent (the API); `agent_match` an agent id prefix or a part of
    its name and `text` a part of the message, both case-insensitive (the events page)."""

    agent_id: str | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    agent_match: str | None = None
    text: str | None = None


def parse_kinds(values: Sequence[str] | None) -> tuple[str, ...]:
    """`kind` may repeat and each value may be a comma list; unknown kinds are refused."""
    kinds: list[str] = []
    for value in values or ():
        for part in value.split(","):
            kind = part.strip()
            if not kind:
                continue
            if kind not in EVENT_KINDS:
                raise UnprocessableError(f"kind: {kind!r} is not one of {', '.join(EVENT_KINDS)}")
            if kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse an empty-by-construction range instead of silently answering nothing."""
    if since is not None and until is not None and until <= since:
        raise UnprocessableError("until: must be later than since")


def check_search(name: str, text: str | None) -> None:
    """A search text longer than MAX_SEARCH_LENGTH is a 422 naming the field."""
    if text is not None and len(text) > MAX_SEARCH_LENGTH:
        raise UnprocessableError(f"{name}: at most {MAX_SEARCH_LENGTH} characters")


def filtered_events(query: EventQuery) -> SelectOfScalar[AgentEvent]:
    """Events matching the query, newest first (at desc, id desc)."""
    check_time_range(query.since, query.until)
    check_search("agent", query.agent_match)
    check_search("q", query.text)
    statement = select(AgentEvent)
    if query.agent_id is not None:
        statement = statement.where(AgentEvent.agent_id == query.agent_id)
    if query.agent_match:
        # autoescape: % and _ typed by the operator are literal characters on both engines.
        named = select(Agent.id).where(
            col(Agent.name).icontains(query.agent_match, autoescape=True)
        )
        statement = statement.where(
            or_(
                col(AgentEvent.agent_id).istartswith(query.agent_match, autoescape=True),
                col(AgentEvent.agent_id).in_(named),
            )
        )
    if query.text:
        statement = statement.where(col(AgentEvent.message).icontains(query.text, autoescape=True))
    if query.kinds:
        statement = statement.where(col(AgentEvent.kind).in_(query.kinds))
    if query.since is not None:
        statement = statement.where(AgentEvent.at >= query.since)
    if query.until is not None:
        statement = statement.where(AgentEvent.at < query.until)
    return statement.order_by(col(AgentEvent.at).desc(), col(AgentEvent.id).desc())


def list_events(
    *, session: Session, query: EventQuery, limit: int, cursor: Cursor | None = None
) -> tuple[list[AgentEvent], Cursor | None]:
    """One page of events and the cursor of the next page (None on the last one)."""
    statement = filtered_events(query)
    if cursor is not None:
        statement = statement.where(newest_first_after(AgentEvent.at, AgentEvent.id, cursor, str))
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], [isoformat(last.at), last.id]


def count_events(*, session: Session, query: EventQuery, cap: int) -> int:
    """How many events match, counting no further than `cap` + 1 (a bounded scan): a
    result above `cap` means "more than cap"."""
    matching = filtered_events(query).order_by(None).limit(cap + 1).subquery()
    return int(session.exec(select(func.count()).select_from(matching)).one())


def agent_names(*, session: Session, agent_ids: Sequence[str]) -> dict[str, str]:
    """The names of these agents by id (agents since deleted are left out)."""
    wanted = sorted(set(agent_ids))
    if not wanted:
        return {}
    rows = session.exec(select(Agent.id, Agent.name).where(col(Agent.id).in_(wanted))).all()
    return dict(rows)


def agent_exists(*, session: Session, agent_id: str) -> bool:
    return session.get(Agent, agent_id) is not None


def agents_named(*, session: Session, match: str, limit: int) -> list[str]:
    """Ids of agents whose name contains `match` (case-insensitive), at most `limit`."""
    statement = (
        select(Agent.id)
        .where(col(Agent.name).icontains(match, autoescape=True))
        .order_by(col(Agent.id))
        .limit(limit)
    )
    return list(session.exec(statement).all())


def list_agent_events(
    *, session: Session, agent_id: str, query: EventQuery, limit: int, cursor: Cursor | None
) -> tuple[list[AgentEvent], Cursor | None]:
    """Events of one agent (404 when the agent is unknown), newest first."""
    if session.get(Agent, agent_id) is None:
        raise NotFoundError("Agent not found")
    scoped = EventQuery(agent_id=agent_id, kinds=query.kinds, since=query.since, until=query.until)
    return list_events(session=session, query=scoped, limit=limit, cursor=cursor)


def recent_events(
    *, session: Session, agent_id: str, count: int = RECENT_EVENTS
) -> list[AgentEvent]:
    """The `count` newest events of an agent, newest first."""
    rows, _ = list_events(session=session, query=EventQuery(agent_id=agent_id), limit=count)
    return rows


def check_event_times(
    events: Sequence[EventIn], *, now: datetime, max_skew_seconds: float, batch: bool | None
) -> None:
    """Refuse the request when an `at` is more than `max_skew_seconds` ahead of `now` (422
    naming `at`, or `events.<i>.at` for a batch: `batch` None means a batch when there are
    several events); it needs no database."""
    in_batch = len(events) > 1 if batch is None else batch
    for index, event in enumerate(events):
        check_not_future(
            event.at,
            field=f"events.{index}.at" if in_batch else "at",
            now=now,
            max_skew_seconds=max_skew_seconds,
        )


def store_events(
    *, session: Session, agent_id: str, events: Sequence[EventIn], received: datetime
) -> list[AgentEvent]:
    """Store every event of the request or none of them (after check_event_times()); 404
    when the agent is unknown. Events without `at` happened at `received`.

    Its commit() is only a flush in a session that defers commits (a request's, or a group
    commit's shared transaction), so other writes can share its transaction.
    """
    if session.get(Agent, agent_id) is None:
        raise NotFoundError("Agent not found")
    rows = [
        AgentEvent(
            id=uuid.uuid4().hex,
            agent_id=agent_id,
            kind=event.kind,
            at=event.at or received,
            message=event.message,
        )
        for event in events
    ]
    session.add_all(rows)
    try:
        session.commit()
    except IntegrityError:
        # The agent was deleted between the check and the commit.
        session.rollback()
        raise NotFoundError("Agent not found") from None
    return rows


def event_public(event: AgentEvent) -> EventPublic:
    """The API shape of one event (SPEC §5.1 Event)."""
    return EventPublic.model_validate(event)
