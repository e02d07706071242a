"""Statement helpers for the main DB: untyped parameters, key coercion, keyset pages.

Parameters are bound untyped so the database infers their type from the column they meet
(psycopg sends text as `unknown`): a uuid, text or integer key compares correctly whatever
type the main API chose, without casts that would defeat its indexes.

Keyset order is (created_at desc, id desc) when the table has the time column, else id desc.
Cursor values are the raw stored values of the last row (text timestamps stay text on
SQLite, so comparisons are the same string comparisons the index is ordered by).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, or_
from sqlalchemy.types import NullType

from app.core.errors import InvalidCursorError
from app.core.pagination import Cursor
from app.core.timeutil import as_utc, isoformat, parse_datetime
from app.maindb.reader import AnySelect, MainDbReader
from app.maindb.reflection import MainTable

_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


def param(value: Any) -> BindParameter[Any]:
    """A bound value without a type: the database takes the column's type."""
    return bindparam(None, value, type_=NullType())


def params(values: Sequence[Any]) -> BindParameter[Any]:
    """An IN list bound untyped."""
    return bindparam(None, list(values), type_=NullType(), expanding=True)


def key_for(table: MainTable, column: str, value: Any) -> Any:
    """`value` as the column's type for an equality match; None when it cannot match."""
    if value is None:
        return None
    if table.kind(column) == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        return int(text) if _INTEGER.match(text) else None
    return str(value)


def contains(column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match, with LIKE wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(param(f"%{escaped}%"), escape="\\")


def time_window(
    statement: AnySelect,
    table: MainTable,
    column: str,
    since: datetime | None,
    until: datetime | None,
    dialect: str,
) -> AnySelect:
    """Rows whose `column` is at or after `since` and before `until` (either may be None)."""
    if since is not None:
        statement = statement.where(time_at_least(table, column, since, dialect))
    if until is not None:
        statement = statement.where(time_before(table, column, until, dialect))
    return statement


def time_at_least(table: MainTable, column: str, value: datetime, dialect: str) -> Any:
    """`column >= value` for a timestamp column stored as text, datetime or epoch seconds."""
    return _time_compare(table, column, value, dialect, at_least=True)


def time_before(table: MainTable, column: str, value: datetime, dialect: str) -> Any:
    """`column < value` (see time_at_least)."""
    return _time_compare(table, column, value, dialect, at_least=False)


def _time_compare(
    table: MainTable, column: str, value: datetime, dialect: str, *, at_least: bool
) -> Any:
    target: Any = table.col(column)
    bound: Any
    if table.kind(column) == "integer":
        bound = param(int(as_utc(value).timestamp()))
    elif dialect == "sqlite":
        # Text timestamps come as "2026-01-05 10:00:00" or ISO with T and Z: datetime()
        # normalises both sides, so the comparison is by time and not by spelling.
        target = func.datetime(target)
        bound = func.datetime(param(isoformat(value)))
    else:
        bound = param(as_utc(value))
    return target >= bound if at_least else target < bound


@dataclass(frozen=True)
class NewestFirst:
    """Keyset order (time desc, id desc), or (id desc) when the time column is absent."""

    table: MainTable
    id_column: str
    time_column: str | None

    @classmethod
    def of(
        cls, table: MainTable, *, time_column: str | None = "created_at", id_column: str = "id"
    ) -> "NewestFirst":
        table.require(id_column)
        has_time = time_column is not None and table.has(time_column)
        return cls(table, id_column, time_column if has_time else None)

    @property
    def key_columns(self) -> list[str]:
        return [self.time_column, self.id_column] if self.time_column else [self.id_column]

    def apply(self, statement: AnySelect, cursor: Cursor | None, dialect: str) -> AnySelect:
        """Order the statement and start it strictly after the cursor."""
        columns: list[Any] = [self.table.table.c[name] for name in self.key_columns]
        statement = statement.order_by(*(column.desc() for column in columns))
        if cursor is None:
            return statement
        if len(cursor) != len(columns):
            raise InvalidCursorError()
        values = [
            decode_key(value, self.table.kind(name), dialect)
            for value, name in zip(cursor, self.key_columns, strict=True)
        ]
        if len(columns) == 1:
            return statement.where(columns[0] < param(values[0]))
        first, second = columns
        return statement.where(
            or_(
                first < param(values[0]),
                and_(first == param(values[0]), second < param(values[1])),
            )
        )

    def cursor_of(self, row: Any) -> Cursor:
        return [encode_key(row[name]) for name in self.key_columns]


def page(
    reader: MainDbReader,
    statement: AnySelect,
    order: NewestFirst,
    *,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[Any], Cursor | None]:
    """One page of rows (as mappings) and the cursor of the next page (None on the last)."""
    rows = reader.rows(order.apply(statement, cursor, reader.dialect).limit(limit + 1))
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], order.cursor_of(rows[limit - 1])


def encode_key(value: Any) -> Any:
    """A raw key value as JSON: datetimes as ISO text, other scalars unchanged."""
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, int | str | float) or value is None:
        return value
    return str(value)


def decode_key(value: Any, kind: str, dialect: str) -> Any:
    """A cursor value back to what the column compares with; anything else is a 422."""
    if value is None or isinstance(value, bool):
        raise InvalidCursorError()
    if kind == "integer":
        if not isinstance(value, int):
            raise InvalidCursorError()
        return value
    if kind == "temporal" and dialect == "postgresql":
        if not isinstance(value, str):
            raise InvalidCursorError()
        try:
            return parse_datetime(value)
        except ValueError:
            raise InvalidCursorError() from None
    if not isinstance(value, str | int | float):
        raise InvalidCursorError()
    return value
