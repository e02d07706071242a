"""Keyset pagination: opaque cursors carrying the sort key of the last row returned.

A cursor names a position in the sort order, not an offset, so rows inserted meanwhile
never shift a page: the next page starts strictly after the last row the client saw.
"""

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from app.core.errors import InvalidCursorError
from app.core.timeutil import parse_datetime

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# A decoded cursor: the sort key of the last row returned, one JSON value per key column.
Cursor = list[Any]


def encode_cursor(values: Cursor) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_INT64 = range(-(2**63), 2**63)


def _column_value(value: Any) -> bool:
    """Whether a decoded value is one a column can hold (what encode_cursor ever writes).

    A forged cursor otherwise reaches the query: an integer past 64 bits overflows both
    drivers, and PostgreSQL refuses NUL in text. Lists nest (the main-DB timeline keeps
    one position per source); objects never occur.
    """
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(_column_value(item) for item in value)
    return False


def decode_cursor(cursor: str) -> Cursor:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursorError() from None
    if not isinstance(values, list) or not _column_value(values):
        raise InvalidCursorError()
    return values


def newest_first_after(
    at_column: Any, id_column: Any, cursor: Cursor, id_type: type[str] | type[int]
) -> ColumnElement[bool]:
    """Rows strictly after the cursor [at, id] in (at desc, id desc) order."""
    at, row_id = decode_time_cursor(cursor, id_type)
    return or_(at_column < at, and_(at_column == at, id_column < row_id))


def decode_time_cursor(cursor: Cursor, id_type: type[str] | type[int]) -> tuple[datetime, Any]:
    """[ISO time, id] back to typed values; anything else is a 422 on `cursor`."""
    invalid = InvalidCursorError()
    if len(cursor) != 2 or not isinstance(cursor[0], str):
        raise invalid
    row_id = cursor[1]
    if id_type is int and (isinstance(row_id, bool) or not isinstance(row_id, int)):
        raise invalid
    if id_type is str and not isinstance(row_id, str):
        raise invalid
    try:
        return parse_datetime(cursor[0]), row_id
    except ValueError:
        raise invalid from None
