"""Values read from the main DB, made exact and uniform for the API.

Columns are untyped on purpose (reflection.py), so the driver's raw values arrive here:
text timestamps (SQLite), datetimes (PostgreSQL), epoch integers (RoadChain), integers or
decimals for money, JSON as text or objects.
"""

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.core.timeutil import as_utc, isoformat, parse_datetime

# Epoch values above this are milliseconds (JavaScript's Date.now()), not seconds: as
# seconds they would be later than the year 5000.
_EPOCH_MS_THRESHOLD = 100_000_000_000
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
# JSON documents (log meta, event data) larger than this are not returned, only their size.
MAX_JSON_CHARS = 8192
# Keys redacted anywhere inside returned JSON documents: the main API's own columns for
# these are never selected, and copies inside free-form JSON are hidden the same way.
_SENSITIVE_KEY_PARTS = (
    "password",
    "secret",
    "token",
    "nonce",
    "signature",
    "sig_value",
    "private_key",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
)
REDACTED = "[redacted]"


def to_datetime(value: Any) -> datetime | None:
    """A UTC datetime from a datetime, ISO text (naive = UTC) or epoch seconds/ms; else None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = float(value)
        if abs(number) >= _EPOCH_MS_THRESHOLD:
            number /= 1000
        value = number
    try:
        return parse_datetime(value)
    except ValueError:
        # One malformed row must not take the panel down; it shows no time instead.
        return None


def to_iso(value: Any) -> str | None:
    """A timestamp as ISO-8601 UTC with Z (see to_datetime)."""
    parsed = to_datetime(value)
    return None if parsed is None else isoformat(parsed)


def to_date_text(value: Any) -> str | None:
    """A date or datetime column (e.g. due_date) as ISO text; other text unchanged."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return isoformat(as_utc(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_money(value: Any) -> int | str | None:
    """Exact amounts: integers stay integers; anything fractional is a decimal string."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else format(value, "f")
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    text = str(value).strip()
    try:
        number = Decimal(text)
    except ArithmeticError:
        return text
    return int(number) if number == number.to_integral_value() else text


def to_id(value: Any) -> int | str | None:
    """Primary keys as the database has them: integers stay integers, the rest is text."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)


def to_key(value: Any) -> int | str:
    """A key that is never null (primary keys): integers stay integers, the rest is text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return "" if value is None else str(value)


def to_bool(value: Any) -> bool | None:
    """Booleans, SQLite's 0/1 and common text spellings."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "yes", "y", "on"}
    return bool(value)


def to_text(value: Any) -> str | None:
    return None if value is None else str(value)


def to_scalar(value: Any) -> int | str | None:
    """A value shown as-is: integers exact, everything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return to_money(value)
    return str(value)


def safe_json(value: Any) -> Any:
    """A JSON document (text or object) with sensitive keys redacted; None when too large."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        if len(value) > MAX_JSON_CHARS:
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return value
    elif len(json.dumps(value, default=str)) > MAX_JSON_CHARS:
        return None
    return redact(value)


def redact(value: Any) -> Any:
    """Replace the value of every sensitive-looking key, at any depth."""
    if isinstance(value, dict):
        return {
            str(key): REDACTED if is_sensitive_key(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


MAX_JSON_SHOWN = 600  # characters of a JSON value a page shows before cutting it


def json_text(value: Any) -> str:
    """A (redacted) JSON document as compact text, cut when long."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= MAX_JSON_SHOWN else text[:MAX_JSON_SHOWN] + "…"
