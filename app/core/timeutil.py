"""UTC time: one parser for every datetime form clients send, one serializer for output."""

import math
import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# Unix seconds as text: how a number reaches a query parameter, exponent included (1e9).
_NUMERIC = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the earlier service wrote them that way)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Valid ISO-8601 near year 1 or 9999 whose UTC instant falls outside what Python
        # can represent: a validation error for the caller's field, not a 500.
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None


def parse_datetime(value: Any) -> datetime:
    """Accept ISO-8601 with Z or an offset, naive ISO (UTC), a date, or unix seconds."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("expected a datetime, got a boolean")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty datetime")
        if _NUMERIC.match(text):
            return _from_epoch(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"invalid datetime {value!r}: use ISO-8601, a date or unix seconds"
            ) from None
        return as_utc(parsed)
    raise ValueError(f"expected a datetime, got {type(value).__name__}")


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds):
        raise ValueError("unix time must be a finite number")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"unix time {seconds} is out of range") from None


def isoformat(value: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix: 2026-01-05T10:00:00Z."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


# Unix seconds Python can turn into a datetime: 0001-01-01 up to the end of 9999.
MIN_UNIX_SECONDS = -62_135_596_800
MAX_UNIX_SECONDS = 253_402_300_800  # exclusive
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))"
)
# What clients send, as a schema can say it (a few more forms parse, e.g. 29 February
# without an offset; the schema keeps to forms every validator agrees on):
_INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {
            "type": "string",
            "pattern": rf"^[1-9]\d{{3}}-{_MONTH_DAY}[T ](?:[01]\d|2[0-3]):[0-5]\d"
            r"(?::[0-5]\d(?:\.\d{1,6})?)?$",
            "description": "ISO-8601 without an offset: read as UTC",
        },
        {
            "type": "number",
            "minimum": MIN_UNIX_SECONDS,
            "exclusiveMaximum": MAX_UNIX_SECONDS,
            "description": "unix seconds, fractions allowed",
        },
        {
            "type": "string",
            "pattern": r"^(?:\+?\d{1,11}|-\d{1,10})(?:\.\d{1,6})?$",
            "description": "unix seconds as text",
        },
    ],
    "description": "ISO-8601 with Z or an offset (converted to UTC), ISO-8601 without one "
    "(read as UTC), a date, or unix seconds (fractions allowed)",
}

UTCDateTime = Annotated[
    datetime,
    BeforeValidator(parse_datetime),
    PlainSerializer(isoformat, return_type=str, when_used="json"),
    WithJsonSchema(_INPUT_SCHEMA, mode="validation"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A datetime field that accepts every client form and always answers UTC with Z."""


def datetime_local(value: datetime, *, to_minute: bool = False) -> str:
    """A UTC time as an <input type="datetime-local"> value: to the minute, or with the
    seconds (and milliseconds) it has unless `to_minute`."""
    naive = as_utc(value).replace(tzinfo=None)
    if to_minute:
        naive = naive.replace(second=0, microsecond=0)
    if naive.microsecond:
        return naive.isoformat(timespec="milliseconds")
    return naive.isoformat(timespec="seconds" if naive.second else "minutes")
