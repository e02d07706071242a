"""SQL both engines answer alike for availability: exact integer microseconds of a stored
moment, and a group's integers as one text (read as a few rows rather than thousands)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, Text, cast, func, literal, literal_column

_MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_UNIX_JULIAN_DAY = 2440587.5


def micros(column: Any, dialect_name: str) -> ColumnElement[int]:
    """Integer microseconds since 1970 of a UTC datetime column, exactly."""
    if dialect_name == "postgresql":
        # date_part() is a double within a fraction of a microsecond: rounding is exact.
        return cast(func.round(func.date_part("epoch", column) * _MICROS), BigInteger)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format) and its date functions
    # round to the millisecond: the whole seconds from the text without its fraction
    # (julianday() is the cheapest of them), the microseconds from the text. Constants
    # inline, not bound: an index on this very expression can then answer it.
    whole = func.julianday(func.substr(column, _sql("1"), _sql("19")))
    seconds = func.round((whole - _sql(str(_UNIX_JULIAN_DAY))) * _sql("86400"))
    fraction = func.substr(column, _sql("21"), _sql("6"))
    return cast(seconds, Integer) * _sql(str(_MICROS)) + cast(fraction, Integer)


def _sql(constant: str) -> Any:
    return literal_column(constant)


def joined_text(column: Any, dialect_name: str) -> Any:
    """The aggregate joining a group's integers into one comma-separated text."""
    if dialect_name == "postgresql":
        return func.string_agg(cast(column, Text), literal(","))
    return func.group_concat(column)


def microseconds(moment: datetime) -> int:
    """Integer microseconds since 1970 of an aware datetime."""
    return (moment - _EPOCH) // _ONE_MICROSECOND
