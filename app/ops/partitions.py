"""Day partitions of minersample, minersamplerollup and agentevent on PostgreSQL (SPEC §15).

Migration 0009 makes the three tables range-partitioned by UTC day, each with a DEFAULT
partition as the safety net: a row whose day has no partition (a timestamp far in the past
or future) lands there instead of failing its insert. The scheduler creates the partitions
of the coming days ahead (ensure_partitions), and retention drops whole day partitions older
than its cutoff (expired_partitions, drop_partition) instead of deleting their rows in
batches.

Partitions are named `<table>_pYYYYMMDD` and `<table>_default`; nothing here touches a table
that is not partitioned, so SQLite (plain tables) and a database not yet at 0009 are left
alone. Every function takes the time it works from: nothing reads the clock.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, text

# Days after today whose partitions exist: a scheduler that misses a few runs (an outage,
# a long deploy) still finds tomorrow's partition there.
DAYS_AHEAD = 3
# The clock skew covered at start-up, when the settings are not at hand: the largest
# PRISM_MAX_CLOCK_SKEW_SECONDS a deployment plausibly sets; the scheduler uses the setting.
START_UP_SKEW_SECONDS = 3_600
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by the UTC day of `key`: a timestamptz, or unix seconds."""

    name: str
    key: str
    key_kind: Literal["timestamp", "epoch"]


PARTITIONED_TABLES = (
    PartitionedTable("minersample", "recorded_at", "timestamp"),
    PartitionedTable("minersamplerollup", "bucket_start", "epoch"),
    PartitionedTable("agentevent", "at", "timestamp"),
)
BY_NAME = {table.name: table for table in PARTITIONED_TABLES}
_PARTITION_NAME = re.compile(
    rf"^({'|'.join(table.name for table in PARTITIONED_TABLES)})_(?:p(\d{{8}})|default)$"
)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def is_partition_name(name: str) -> bool:
    """True for our partitions' names: schema comparison leaves them out (not model tables)."""
    return _PARTITION_NAME.match(name) is not None


def include_in_comparison(name: str | None, type_: str, _parents: Mapping[str, Any]) -> bool:
    """Alembic's include_name hook: the schema comparison skips our partitions."""
    return not (type_ == "table" and name is not None and is_partition_name(name))


def _bound(table: PartitionedTable, day: date) -> str:
    """The SQL literal of the start of `day` in the table's key."""
    if table.key_kind == "epoch":
        return str((day - _EPOCH_DAY).days * 86_400)
    return f"'{day.isoformat()} 00:00:00+00'"


def is_partitioned(connection: Connection, table: str) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = :name AND pg_table_is_visible(c.oid)"
        ),
        {"name": table},
    ).first()
    return found is not None


def day_partitions(connection: Connection, table: str) -> dict[date, str]:
    """The day partitions of `table` that exist, by day (the DEFAULT one is not listed)."""
    names = connection.execute(
        text(
            "SELECT child.relname FROM pg_inherits i "
            "JOIN pg_class parent ON parent.oid = i.inhparent "
            "JOIN pg_class child ON child.oid = i.inhrelid "
            "WHERE parent.relname = :name AND pg_table_is_visible(parent.oid)"
        ),
        {"name": table},
    ).scalars()
    days: dict[date, str] = {}
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match and match.group(1) == table and match.group(2):
            days[datetime.strptime(match.group(2), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return days


def days_to_cover(now: datetime, *, skew_seconds: int, days_ahead: int = DAYS_AHEAD) -> list[date]:
    """The UTC days whose partitions must exist at `now`: from the day `skew_seconds` ago
    (a client clock that lags) to `days_ahead` days after the day `skew_seconds` ahead."""
    first = (now - timedelta(seconds=skew_seconds)).astimezone(UTC).date()
    last = (now + timedelta(seconds=skew_seconds)).astimezone(UTC).date()
    last += timedelta(days=days_ahead)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def create_day_partition(connection: Connection, table: PartitionedTable, day: date) -> None:
    """Create `day`'s partition, first moving that day's rows out of the DEFAULT partition.

    PostgreSQL refuses a new partition while the DEFAULT one holds rows of its range, so
    they are set aside in a temporary table and put back through the parent, in the
    caller's transaction: no row is ever missing to another transaction.
    """
    name = partition_name(table.name, day)
    start, end = _bound(table, day), _bound(table, day + timedelta(days=1))
    default = default_partition_name(table.name)
    in_range = f'"{table.key}" >= {start} AND "{table.key}" < {end}'
    create = (
        f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table.name}" '
        f"FOR VALUES FROM ({start}) TO ({end})"
    )
    strays = f'SELECT EXISTS (SELECT 1 FROM "{default}" WHERE {in_range})'  # noqa: S608
    if not connection.exec_driver_sql(strays).scalar_one():
        connection.exec_driver_sql(create)
        return
    held = f"_prism_moving_{table.name}"
    connection.exec_driver_sql(f'CREATE TEMPORARY TABLE "{held}" (LIKE "{table.name}")')
    connection.exec_driver_sql(
        f'WITH moved AS (DELETE FROM "{default}" WHERE {in_range} RETURNING *) '  # noqa: S608
        f'INSERT INTO "{held}" SELECT * FROM moved'
    )
    connection.exec_driver_sql(create)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" SELECT * FROM "{held}"')  # noqa: S608
    connection.exec_driver_sql(f'DROP TABLE "{held}"')


def ensure_partitions(
    connection: Connection,
    *,
    now: datetime,
    skew_seconds: int,
    days_ahead: int = DAYS_AHEAD,
) -> list[str]:
    """Create the missing day partitions around `now` (see days_to_cover); returns their
    names. Run in the caller's transaction; a no-op where the tables are not partitioned."""
    created: list[str] = []
    for table in PARTITIONED_TABLES:
        if not is_partitioned(connection, table.name):
            continue
        present = day_partitions(connection, table.name)
        for day in days_to_cover(now, skew_seconds=skew_seconds, days_ahead=days_ahead):
            if day not in present:
                create_day_partition(connection, table, day)
                created.append(partition_name(table.name, day))
    return created


def expired_partitions(connection: Connection, table: str, cutoff: datetime) -> list[str]:
    """The day partitions of `table` whose every row is older than `cutoff` (their day ends
    at or before it), oldest first; none where `table` is not partitioned."""
    if not is_partitioned(connection, table):
        return []
    return [
        name
        for day, name in sorted(day_partitions(connection, table).items())
        if datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) <= cutoff
    ]


def drop_partition(connection: Connection, name: str) -> int:
    """Drop one partition; returns the rows it held. The caller commits at once: the drop
    locks the parent table, which blocks its inserts until then.

    The partition alone is locked before counting, so the count is what the drop removes
    while inserts into the other days go on.
    """
    connection.exec_driver_sql(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE')
    rows = connection.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one()  # noqa: S608
    connection.exec_driver_sql(f'DROP TABLE "{name}"')
    return int(rows)
