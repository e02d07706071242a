"""Exports of agents, events and miner samples as streamed CSV or JSON.

Rows are read in chunks (yield_per: a server-side cursor on PostgreSQL) and encoded as they
come, so an export of millions of rows holds one chunk in memory, never the whole table.

Each export_* function validates its filters and builds the query at once (so a bad filter
is an ordinary 4xx before any byte is sent) and returns a lazy iterator of rows. The
iterator opens its own session because it is consumed after the request handler returned.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.agents.events import EventQuery, check_time_range, event_public, filtered_events
from app.agents.service import AgentQuery, agent_public, filtered_agents
from app.miners.derived import sample_out
from app.models import Agent, AgentEvent, MinerSample
from app.models.agent import AgentPublic, EventPublic
from app.models.miner import MinerSampleOut

CHUNK_ROWS = 500
Row = dict[str, Any]
_T = TypeVar("_T", Agent, AgentEvent, MinerSample)

AGENT_COLUMNS = tuple(field.alias or name for name, field in AgentPublic.model_fields.items())
EVENT_COLUMNS = tuple(field.alias or name for name, field in EventPublic.model_fields.items())
# Samples keep the snake_case keys of the compatible output, derived rates included.
SAMPLE_COLUMNS = tuple(MinerSampleOut.model_fields)

# A cell starting with one of these is run as a formula by spreadsheet programs; agents and
# miners choose these strings, so CSV cells are defused with a leading quote (OWASP advice).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class SampleQuery:
    """Filters of the sample export; `since` is inclusive, `until` exclusive."""

    miner_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def export_agents(
    *, engine: Engine, query: AgentQuery, offline_after: int, now: datetime
) -> Iterator[Row]:
    """Agents in the list's order with their shown status, as API-shaped rows."""
    statement = filtered_agents(query, now=now, offline_after=offline_after)

    def rows() -> Iterator[Row]:
        for agent in _stream(engine, statement):
            public = agent_public(agent, now=now, offline_after=offline_after)
            yield public.model_dump(mode="json", by_alias=True)

    return rows()


def export_events(*, engine: Engine, query: EventQuery) -> Iterator[Row]:
    """Events matching the query, newest first, as API-shaped rows."""
    statement = filtered_events(query)

    def rows() -> Iterator[Row]:
        for event in _stream(engine, statement):
            yield event_public(event).model_dump(mode="json", by_alias=True)

    return rows()


def export_samples(*, engine: Engine, query: SampleQuery) -> Iterator[Row]:
    """Miner samples in time order (oldest first, like a series), with derived rates."""
    check_time_range(query.since, query.until)
    statement = select(MinerSample)
    if query.miner_id is not None:
        statement = statement.where(MinerSample.miner_id == query.miner_id)
    if query.since is not None:
        statement = statement.where(MinerSample.recorded_at >= query.since)
    if query.until is not None:
        statement = statement.where(MinerSample.recorded_at < query.until)
    statement = statement.order_by(col(MinerSample.recorded_at), col(MinerSample.id))

    def rows() -> Iterator[Row]:
        for sample in _stream(engine, statement):
            yield sample_out(sample).model_dump(mode="json")

    return rows()


def _stream(engine: Engine, statement: SelectOfScalar[_T]) -> Iterator[_T]:
    with Session(engine) as session:
        yield from session.exec(statement.execution_options(yield_per=CHUNK_ROWS))


def csv_chunks(rows: Iterable[Row], columns: Sequence[str]) -> Iterator[str]:
    """CSV text with a header row, yielded a chunk of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(row.get(column)) for column in columns])
        if count % CHUNK_ROWS == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def json_chunks(rows: Iterable[Row]) -> Iterator[str]:
    """A JSON array, one object per line, yielded a chunk of rows at a time."""
    parts = ["["]
    separator = "\n"
    for row in rows:
        parts.append(separator + json.dumps(row, ensure_ascii=False))
        separator = ",\n"
        if len(parts) >= CHUNK_ROWS:
            yield "".join(parts)
            parts = []
    parts.append("\n]\n")
    yield "".join(parts)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
