"""The main timeline: timeline_events and commits merged, newest first.

Each source is read in its own keyset order (its index), and the page cursor records how far
each source has been consumed: [events position, commits position]. Rows are merged by
parsed time, so a page is exact even when the two tables spell their timestamps differently.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import select

from app.core.errors import InvalidCursorError
from app.core.pagination import Cursor, encode_cursor
from app.maindb.convert import safe_json, to_datetime, to_id, to_iso, to_key, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.query import NewestFirst, param, time_window
from app.maindb.reader import MainDbReader
from app.maindb.reflection import MainTable, PanelUnavailableError
from app.maindb.schemas import TimelineItem, TimelinePage, Unavailable

Source = Literal["event", "commit"]

EVENT_COLUMNS = ("id", "type", "entity_type", "entity_id", "data", "created_at")
COMMIT_COLUMNS = ("id", "repo", "branch", "hash", "author", "message", "created_at")
OLDEST = datetime.min.replace(tzinfo=UTC)
_SOURCES: tuple[tuple[Source, str], ...] = (("event", "timeline_events"), ("commit", "commits"))


@dataclass(frozen=True)
class TimelineQuery:
    """`type` matches event types (and "commit"); entity_type limits to events, repo to commits."""

    source: Source | None = None
    type: str | None = None
    entity_type: str | None = None
    repo: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def wants(self, source: Source) -> bool:
        if self.source is not None and self.source != source:
            return False
        if source == "commit":
            return self.entity_type is None and self.type in (None, "commit")
        return self.repo is None


class Ranked(Protocol):
    """A row of one source of a merged timeline, ranked newest first."""

    def rank(self) -> tuple[datetime, int, Any]: ...


R = TypeVar("R", bound=Ranked)


@dataclass(frozen=True)
class _Entry:
    """One row of one source, with its place in that source's keyset order."""

    at: datetime
    source: Source
    slot: int
    row_id: Any
    position: Cursor
    item: TimelineItem

    def rank(self) -> tuple[datetime, int, Any]:
        return (self.at, self.slot, self.row_id)


def timeline(
    *,
    main_db: MainDatabase | None,
    query: TimelineQuery,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> TimelinePage | Unavailable:
    """One page of the merged timeline; a missing source is noted, both missing → Unavailable."""
    positions = _positions(cursor)

    def work(reader: MainDbReader) -> TimelinePage | Unavailable:
        streams: list[list[_Entry]] = []
        sources: dict[str, bool] = {}
        notes: list[str] = []
        for index, (source, table_name) in enumerate(_SOURCES):
            if not query.wants(source):
                continue
            try:
                table = reader.table(table_name, "id")
            except PanelUnavailableError as exc:
                sources[table_name] = False
                notes.append(exc.reason)
                continue
            sources[table_name] = True
            order = NewestFirst.of(table)
            statement = order.apply(
                _statement(table, source, query, reader.dialect), positions[index], reader.dialect
            )
            streams.append(
                [
                    _Entry(
                        at=to_datetime(row.get("created_at")) or OLDEST,
                        source=source,
                        slot=index,
                        row_id=row["id"],
                        position=order.cursor_of(row),
                        item=_item(source, row),
                    )
                    for row in reader.rows(statement.limit(limit + 1))
                ]
            )
        if sources and not any(sources.values()):
            return Unavailable(reason="; ".join(notes))
        shown, more = merge_newest_first(streams, limit)
        next_positions = list(positions)
        for entry in shown:
            next_positions[entry.slot] = entry.position
        return TimelinePage(
            sources=sources,
            notes=notes,
            items=[entry.item for entry in shown],
            next_cursor=encode_cursor(next_positions) if more else None,
        )

    return read_main(main_db, work)


def merge_newest_first(streams: Sequence[Sequence[R]], limit: int) -> tuple[list[R], bool]:
    """Newest first across streams, each consumed as a prefix of its own order.

    Each stream holds up to limit + 1 rows after its cursor: the first `limit` merged rows
    are then exact, and whether more follow is known.
    """
    heads = [0] * len(streams)
    merged: list[R] = []
    while len(merged) <= limit:
        best: int | None = None
        for index, stream in enumerate(streams):
            if heads[index] < len(stream) and (
                best is None or stream[heads[index]].rank() > streams[best][heads[best]].rank()
            ):
                best = index
        if best is None:
            break
        merged.append(streams[best][heads[best]])
        heads[best] += 1
    return merged[:limit], len(merged) > limit


def _positions(cursor: Cursor | None) -> list[Any]:
    if cursor is None:
        return [None, None]
    if len(cursor) != 2 or not all(part is None or isinstance(part, list) for part in cursor):
        raise InvalidCursorError()
    return list(cursor)


def _statement(table: MainTable, source: Source, query: TimelineQuery, dialect: str) -> Any:
    columns = EVENT_COLUMNS if source == "event" else COMMIT_COLUMNS
    statement = select(*table.pick(columns))
    if source == "event":
        if query.type is not None:
            statement = statement.where(table.col("type") == param(query.type))
        if query.entity_type is not None:
            statement = statement.where(table.col("entity_type") == param(query.entity_type))
    elif query.repo is not None:
        statement = statement.where(table.col("repo") == param(query.repo))
    return time_window(statement, table, "created_at", query.since, query.until, dialect)


def _item(source: Source, row: Any) -> TimelineItem:
    if source == "event":
        return TimelineItem(
            source="event",
            id=to_key(row["id"]),
            at=to_iso(row.get("created_at")),
            type=to_text(row.get("type")),
            entity_type=to_text(row.get("entity_type")),
            entity_id=to_id(row.get("entity_id")),
            data=safe_json(row.get("data")),
        )
    return TimelineItem(
        source="commit",
        id=to_key(row["id"]),
        at=to_iso(row.get("created_at")),
        type="commit",
        repo=to_text(row.get("repo")),
        branch=to_text(row.get("branch")),
        hash=to_text(row.get("hash")),
        author=to_text(row.get("author")),
        message=to_text(row.get("message")),
    )
