"""One agent's timeline: console events, status changes and main agent_logs, newest first.

The console rows come from the console database; the main API's agent_logs of the same
agent (its main agent matched by id, then slug) through the read-only main database. When
that database is not configured, unreachable, too slow or has no such table, the timeline
holds the console rows and a note says why the logs are missing, as every cross-service
panel does; the page never fails for it.

Like the main timeline, each source is read in its own keyset order and the page cursor
records how far each has been consumed: [events, status changes, main logs]. A source that
could not be read keeps its place, so its rows come on a later page rather than never.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select as main_select
from sqlmodel import Session

from app.agents.events import EventQuery, filtered_events
from app.agents.service import status_changes_after
from app.core.errors import InvalidCursorError
from app.core.pagination import Cursor, encode_cursor, newest_first_after
from app.core.timeutil import isoformat
from app.maindb.convert import safe_json, to_datetime, to_key, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.fleet import LOG_COLUMNS, find_main_agent
from app.maindb.query import NewestFirst, param
from app.maindb.reader import MainDbReader
from app.maindb.schemas import Unavailable
from app.maindb.timeline import OLDEST, merge_newest_first
from app.models import AgentEvent

Source = Literal["event", "status", "log"]
# The slot of each source in the cursor; on equal times the first source is shown first.
SLOTS: tuple[Source, ...] = ("event", "status", "log")


@dataclass(frozen=True)
class AgentTimelineEntry:
    """One row of the timeline; `label` is the event kind, the new status or the log level."""

    source: Source
    at: datetime | None
    label: str | None
    message: str | None = None
    from_status: str | None = None
    meta: Any = None
    slot: int = 0
    row_id: Any = None
    position: Cursor | None = None

    def rank(self) -> tuple[datetime, int, Any]:
        # Slots in reverse: newest first takes the highest rank, so on equal times the
        # earlier source comes first.
        return (self.at or OLDEST, len(SLOTS) - self.slot, self.row_id)


@dataclass(frozen=True)
class AgentTimelinePage:
    """A page of the timeline and what became of the main logs on it.

    `logs_unavailable` is why they could not be read (None: read); `in_main` whether the
    main database knows the agent (None when it could not be asked).
    """

    entries: list[AgentTimelineEntry]
    next_cursor: str | None
    logs_configured: bool
    logs_unavailable: str | None
    in_main: bool | None


@dataclass(frozen=True)
class _MainLogs:
    entries: list[AgentTimelineEntry]
    in_main: bool


def agent_timeline(
    *,
    session: Session,
    main_db: MainDatabase | None,
    agent_id: str,
    limit: int,
    cursor: Cursor | None = None,
) -> AgentTimelinePage:
    """One page of the agent's merged timeline; InvalidCursorError for a foreign cursor."""
    positions = _positions(cursor)
    events = _events(session, agent_id, positions[0], limit)
    changes = _status_changes(session, agent_id, positions[1], limit)
    logs = _main_logs(main_db, agent_id, positions[2], limit)
    if isinstance(logs, Unavailable):
        log_entries, unavailable, in_main = [], logs.reason, None
    else:
        log_entries, unavailable, in_main = logs.entries, None, logs.in_main
    shown, more = merge_newest_first([events, changes, log_entries], limit)
    next_positions = list(positions)
    for entry in shown:
        next_positions[entry.slot] = entry.position
    return AgentTimelinePage(
        entries=shown,
        next_cursor=encode_cursor(next_positions) if more else None,
        logs_configured=main_db is not None,
        logs_unavailable=unavailable,
        in_main=in_main,
    )


def _positions(cursor: Cursor | None) -> Cursor:
    if cursor is None:
        return [None] * len(SLOTS)
    if len(cursor) != len(SLOTS) or not all(
        part is None or isinstance(part, list) for part in cursor
    ):
        raise InvalidCursorError()
    return list(cursor)


def _events(
    session: Session, agent_id: str, position: Cursor | None, limit: int
) -> list[AgentTimelineEntry]:
    statement = filtered_events(EventQuery(agent_id=agent_id))
    if position is not None:
        statement = statement.where(newest_first_after(AgentEvent.at, AgentEvent.id, position, str))
    return [
        AgentTimelineEntry(
            source="event",
            at=row.at,
            label=row.kind,
            message=row.message,
            slot=0,
            row_id=row.id,
            position=[isoformat(row.at), row.id],
        )
        for row in session.exec(statement.limit(limit + 1))
    ]


def _status_changes(
    session: Session, agent_id: str, position: Cursor | None, limit: int
) -> list[AgentTimelineEntry]:
    statement = status_changes_after(agent_id, position)
    return [
        AgentTimelineEntry(
            source="status",
            at=row.at,
            label=row.to_status,
            from_status=row.from_status,
            slot=1,
            row_id=row.id,
            position=[isoformat(row.at), row.id],
        )
        for row in session.exec(statement.limit(limit + 1))
    ]


def _main_logs(
    main_db: MainDatabase | None, agent_id: str, position: Cursor | None, limit: int
) -> _MainLogs | Unavailable:
    def work(reader: MainDbReader) -> _MainLogs:
        agents = reader.table("agents", "id")
        logs = reader.table("agent_logs", "id", "agent_id")
        found = find_main_agent(reader, agents, agent_id)
        if found is None:
            return _MainLogs(entries=[], in_main=False)
        agent, _ = found
        order = NewestFirst.of(logs)
        statement = main_select(*logs.pick(LOG_COLUMNS)).where(
            logs.col("agent_id") == param(agent["id"])
        )
        rows = reader.rows(order.apply(statement, position, reader.dialect).limit(limit + 1))
        return _MainLogs(
            entries=[
                AgentTimelineEntry(
                    source="log",
                    at=to_datetime(row.get("created_at")),
                    label=to_text(row.get("level")),
                    message=to_text(row.get("message")),
                    meta=safe_json(row.get("meta")),
                    slot=2,
                    row_id=to_key(row["id"]),
                    position=order.cursor_of(row),
                )
                for row in rows
            ],
            in_main=True,
        )

    return read_main(main_db, work)
