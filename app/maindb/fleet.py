"""Fleet reconciliation (console `agent` ⋈ main `agents`) and the main `agent_logs` of an agent.

Matching: a console agent matches the main agent whose id equals its id; failing that, the
one whose slug equals its id. Id matches are made for every agent first, so a slug can
never take a main agent that another console agent matches by id.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from sqlmodel import select as console_select

from app.agents.status import effective_status
from app.core.errors import InvalidCursorError, NotFoundError
from app.core.pagination import Cursor, encode_cursor
from app.maindb.convert import safe_json, to_id, to_iso, to_key, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.query import NewestFirst, key_for, page, param, time_window
from app.maindb.reader import MainDbReader
from app.maindb.reflection import MainTable
from app.maindb.schemas import (
    AgentLog,
    AgentLogPage,
    MainAgent,
    ReconciliationCounts,
    ReconciliationRow,
    ReconciliationView,
    Unavailable,
)
from app.models import Agent

# Main agent statuses → the console's three. Anything else maps to nothing and is never
# reported as a disagreement (docs/maindb.md documents this table).
MAIN_STATUS_MAP: dict[str, str] = {
    "online": "online",
    "idle": "online",
    "active": "online",
    "running": "online",
    "busy": "online",
    "working": "online",
    "ready": "online",
    "degraded": "degraded",
    "error": "degraded",
    "failed": "degraded",
    "failing": "degraded",
    "warning": "degraded",
    "unhealthy": "degraded",
    "offline": "offline",
    "disabled": "offline",
    "stopped": "offline",
    "inactive": "offline",
    "paused": "offline",
    "archived": "offline",
}
# Enough for any real fleet; past it the view says it is truncated rather than slow down.
MAX_MAIN_AGENTS = 20_000
AGENT_COLUMNS = ("id", "slug", "name", "status", "heartbeat_at", "location")
LOG_COLUMNS = ("id", "agent_id", "level", "message", "meta", "created_at")


@dataclass(frozen=True)
class ConsoleAgent:
    """What reconciliation needs of a console agent: its id, name and shown status."""

    id: str
    name: str
    status: str


@dataclass(frozen=True)
class LogQuery:
    level: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def console_agents(*, session: Session, now: datetime, offline_after: int) -> list[ConsoleAgent]:
    """Every console agent with its shown status (read from the console DB)."""
    agents = session.exec(console_select(Agent).order_by(col(Agent.id))).all()
    return [
        ConsoleAgent(
            id=agent.id, name=agent.name, status=effective_status(agent, now, offline_after)
        )
        for agent in agents
    ]


def map_main_status(status: Any) -> str | None:
    """online | degraded | offline for a main agent status, or None when unknown."""
    if status is None:
        return None
    return MAIN_STATUS_MAP.get(str(status).strip().lower())


def reconcile(
    *,
    main_db: MainDatabase | None,
    console: list[ConsoleAgent],
    category: str | None = None,
    disagreeing: bool = False,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> ReconciliationView | Unavailable:
    """Console and main fleets side by side: counts over everything, one page of rows."""
    if cursor is not None and (len(cursor) != 2 or not all(isinstance(v, str) for v in cursor)):
        raise InvalidCursorError()

    def work(reader: MainDbReader) -> tuple[list[Any], bool, bool]:
        agents = reader.table("agents", "id")
        statement = select(*agents.pick(AGENT_COLUMNS)).order_by(agents.col("id"))
        rows = reader.rows(statement.limit(MAX_MAIN_AGENTS + 1))
        return rows[:MAX_MAIN_AGENTS], len(rows) > MAX_MAIN_AGENTS, agents.has("location")

    outcome = read_main(main_db, work)
    if isinstance(outcome, Unavailable):
        return outcome
    main_rows, truncated, has_location = outcome
    rows = _match(console, main_rows)
    counts = ReconciliationCounts(
        in_both=sum(row.category == "in_both" for row in rows),
        console_only=sum(row.category == "console_only" for row in rows),
        main_only=sum(row.category == "main_only" for row in rows),
        status_disagreements=sum(row.status_disagrees for row in rows),
        console_total=len(console),
        main_total=len(main_rows),
    )
    keyed = sorted(
        ((_sort_key(row), row) for row in rows if _wanted(row, category, disagreeing)),
        key=lambda pair: pair[0],
    )
    if cursor is not None:
        after = (cursor[0], cursor[1])
        keyed = [(key, row) for key, row in keyed if key > after]
    shown = keyed[:limit]
    next_cursor = encode_cursor(list(shown[-1][0])) if len(keyed) > limit else None
    return ReconciliationView(
        status_map=MAIN_STATUS_MAP,
        has_location=has_location,
        truncated=truncated,
        counts=counts,
        items=[row for _, row in shown],
        next_cursor=next_cursor,
    )


def _match(console: list[ConsoleAgent], main_rows: list[Any]) -> list[ReconciliationRow]:
    by_id = {str(row["id"]): row for row in main_rows}
    by_slug = {str(row["slug"]): row for row in main_rows if row.get("slug") is not None}
    matched: dict[str, tuple[Any, str]] = {}
    taken: set[str] = set()
    for agent in console:
        row = by_id.get(agent.id)
        if row is not None:
            matched[agent.id] = (row, "id")
            taken.add(str(row["id"]))
    for agent in console:
        row = by_slug.get(agent.id)
        if agent.id not in matched and row is not None and str(row["id"]) not in taken:
            matched[agent.id] = (row, "slug")
            taken.add(str(row["id"]))
    result = []
    for agent in console:
        if agent.id in matched:
            row, how = matched[agent.id]
            result.append(_row("in_both", agent, row, how))
        else:
            result.append(_row("console_only", agent, None, None))
    result.extend(
        _row("main_only", None, row, None) for row in main_rows if str(row["id"]) not in taken
    )
    return result


def _row(category: Any, agent: ConsoleAgent | None, main: Any, how: Any) -> ReconciliationRow:
    mapped = map_main_status(main.get("status")) if main is not None else None
    return ReconciliationRow(
        category=category,
        matched_by=how,
        console_id=agent.id if agent else None,
        console_name=agent.name if agent else None,
        console_status=agent.status if agent else None,
        main_id=to_id(main["id"]) if main is not None else None,
        main_slug=to_text(main.get("slug")) if main is not None else None,
        main_name=to_text(main.get("name")) if main is not None else None,
        main_status=to_text(main.get("status")) if main is not None else None,
        main_status_mapped=mapped,
        main_heartbeat_at=to_iso(main.get("heartbeat_at")) if main is not None else None,
        main_location=to_text(main.get("location")) if main is not None else None,
        status_disagrees=bool(agent and mapped is not None and mapped != agent.status),
    )


def _sort_key(row: ReconciliationRow) -> tuple[str, str]:
    name = row.console_id or row.main_slug or str(row.main_id)
    return (name, "" if row.main_id is None else str(row.main_id))


def _wanted(row: ReconciliationRow, category: str | None, disagreeing: bool) -> bool:
    if category is not None and row.category != category:
        return False
    return row.status_disagrees or not disagreeing


def find_main_agent(
    reader: MainDbReader, agents: MainTable, agent_id: str
) -> tuple[Any, str] | None:
    """The main agent whose id, else whose slug, is `agent_id`."""
    columns = agents.pick(AGENT_COLUMNS)
    by_id = key_for(agents, "id", agent_id)
    if by_id is not None:
        row = reader.first(select(*columns).where(agents.col("id") == param(by_id)))
        if row is not None:
            return row, "id"
    if agents.has("slug"):
        row = reader.first(select(*columns).where(agents.col("slug") == param(agent_id)))
        if row is not None:
            return row, "slug"
    return None


def agent_logs(
    *,
    main_db: MainDatabase | None,
    agent_id: str,
    query: LogQuery,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> AgentLogPage | Unavailable:
    """The main agent_logs of an agent (matched by id, then slug), newest first; 404 if none."""

    def work(reader: MainDbReader) -> AgentLogPage:
        agents = reader.table("agents", "id")
        logs = reader.table("agent_logs", "id", "agent_id")
        found = find_main_agent(reader, agents, agent_id)
        if found is None:
            raise NotFoundError("Agent not found in the main database")
        agent, how = found
        statement = select(*logs.pick(LOG_COLUMNS)).where(
            logs.col("agent_id") == param(agent["id"])
        )
        if query.level is not None:
            statement = statement.where(logs.col("level") == param(query.level))
        statement = time_window(
            statement, logs, "created_at", query.since, query.until, reader.dialect
        )
        rows, next_cursor = page(
            reader, statement, NewestFirst.of(logs), cursor=cursor, limit=limit
        )
        return AgentLogPage(
            agent=MainAgent(
                id=to_key(agent["id"]),
                slug=to_text(agent.get("slug")),
                name=to_text(agent.get("name")),
                status=to_text(agent.get("status")),
                heartbeat_at=to_iso(agent.get("heartbeat_at")),
                location=to_text(agent.get("location")),
            ),
            matched_by=how,
            items=[
                AgentLog(
                    id=to_key(row["id"]),
                    level=to_text(row.get("level")),
                    message=to_text(row.get("message")),
                    meta=safe_json(row.get("meta")),
                    created_at=to_iso(row.get("created_at")),
                )
                for row in rows
            ],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)
