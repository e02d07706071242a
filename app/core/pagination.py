"""Keyset pagination: opaque cursors carrying the sort key of the last row returned.

A cursor names a position in the sort order, not an offset, so rows inserted meanwhile
never shift a page: the next page starts strictly after the last row the client saw.
"""

import base64
import binascii
import json
import math
from typing import Any

from app.core.errors import InvalidCursorError

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
