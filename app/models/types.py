"""Column types shared by the console tables."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.core.timeutil import as_utc

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes; naive values from older rows are read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite keeps no offset: store naive UTC so text order equals time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class TagList(TypeDecorator[list[str]]):
    """Tags stored as JSON text; comma-separated text from the earlier service reads too."""

    impl = Text()
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(tag) for tag in value]
        text = str(value).strip()
        if text.startswith("["):
            try:
                return [str(tag) for tag in json.loads(text)]
            except ValueError:
                pass
        return [tag.strip() for tag in text.split(",") if tag.strip()]
