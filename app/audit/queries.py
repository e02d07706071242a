"""Reading the audit log: filters, newest-first keyset pages, and each token's recent rows."""

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.core.errors import InvalidCursorError, UnprocessableError
from app.models.audit import AuditEvent, AuditEventPublic

# An action filter ending in ".*" matches the whole family: "token.*", "metric.*".
FAMILY_SUFFIX = ".*"


@dataclass(frozen=True)
class AuditQuery:
    """Filters of the list, the page and the export; `since` inclusive, `until` exclusive."""

    actor: str | None = None
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_filtered(self) -> bool:
        return any(value is not None for value in vars(self).values())


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise UnprocessableError("until: must be later than since")


def filtered_events(query: AuditQuery) -> SelectOfScalar[AuditEvent]:
    """Rows matching every given filter, newest first (id order is the chain's order)."""
    check_time_range(query.since, query.until)
    statement = select(AuditEvent)
    if query.actor is not None:
        statement = statement.where(col(AuditEvent.actor) == query.actor)
    if query.actor_id is not None:
        statement = statement.where(col(AuditEvent.actor_id) == query.actor_id)
    if query.action is not None:
        if query.action.endswith(FAMILY_SUFFIX):
            family = query.action[: -len(FAMILY_SUFFIX)] + "."
            statement = statement.where(col(AuditEvent.action).startswith(family, autoescape=True))
        else:
            statement = statement.where(col(AuditEvent.action) == query.action)
    if query.target_type is not None:
        statement = statement.where(col(AuditEvent.target_type) == query.target_type)
    if query.target_id is not None:
        statement = statement.where(col(AuditEvent.target_id) == query.target_id)
    if query.since is not None:
        statement = statement.where(col(AuditEvent.at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditEvent.at) < query.until)
    return statement.order_by(col(AuditEvent.id).desc())


def list_events(
    *,
    session: Session,
    query: AuditQuery,
    limit: int,
    after: Sequence[Any] | None = None,
) -> tuple[list[AuditEvent], list[Any] | None]:
    """One page, newest first, and the cursor ([id]) continuing after its last row."""
    statement = filtered_events(query)
    if after is not None:
        statement = statement.where(col(AuditEvent.id) < _cursor_id(after))
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, [page[-1].id]


def events_after(
    *, session: Session, query: AuditQuery, after_id: int, limit: int
) -> list[AuditEvent]:
    """Rows newer than `after_id` matching the query, newest first (the live page's poll)."""
    statement = filtered_events(query).where(col(AuditEvent.id) > after_id)
    return list(session.exec(statement.limit(limit)).all())


def _cursor_id(cursor: Sequence[Any]) -> int:
    if len(cursor) != 1 or isinstance(cursor[0], bool) or not isinstance(cursor[0], int):
        raise InvalidCursorError()
    return int(cursor[0])


def recent_by_token(
    *, session: Session, token_ids: Iterable[str], per_token: int = 5
) -> dict[str, list[AuditEvent]]:
    """The newest `per_token` rows each token acted in (one indexed query per token: the
    list of tokens is short, and a window function would read every row of each)."""
    found: dict[str, list[AuditEvent]] = {}
    for token_id in dict.fromkeys(token_ids):
        rows = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.actor_id) == token_id)
            .order_by(col(AuditEvent.id).desc())
            .limit(per_token)
        ).all()
        found[token_id] = list(rows)
    return found


EXPORT_CHUNK_ROWS = 500
EXPORT_COLUMNS = tuple(field.alias or name for name, field in AuditEventPublic.model_fields.items())


def export_events(*, engine: Engine, query: AuditQuery) -> Iterator[dict[str, Any]]:
    """Rows matching the query, newest first, as API-shaped dicts; validated now, read lazily
    (with a session of its own: the export is consumed after its request handler returned)."""
    statement = filtered_events(query)

    def rows() -> Iterator[dict[str, Any]]:
        with Session(engine) as session:
            for event in session.exec(statement.execution_options(yield_per=EXPORT_CHUNK_ROWS)):
                yield AuditEventPublic.model_validate(event).model_dump(mode="json", by_alias=True)

    return rows()


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for CSV: detail as one JSON cell."""
    detail = row.get("detail")
    return {**row, "detail": "" if detail is None else json.dumps(detail, ensure_ascii=False)}
