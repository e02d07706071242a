"""PostgreSQL: minersample, minersamplerollup and agentevent range-partitioned by UTC day.

Each table is converted in place: renamed aside, recreated as a partitioned table of the
same columns (LIKE, so the serial default and its sequence carry over), given a DEFAULT
partition and one partition per day its rows cover (and today's and the next days'), refilled
with every row, the old copy dropped, then its primary key, indexes and foreign key rebuilt
(after the copy: building an index once is faster than keeping it up row by row). Ids are
kept, so miner.last_sample_id still names the same rows. A primary key of a partitioned
table must contain the partition key, so minersample's becomes (id, recorded_at) and
agentevent's (id, at); ids stay unique because a sequence or the writer assigns them.

Plain SQL only (DO blocks read the days from the data when it runs), so `prism db upgrade
--sql` prints the whole change. SQLite keeps its plain tables: nothing to do there.

Revision ID: 0009_partition_by_day
Revises: 0008_audit
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import op

revision: str = "0009_partition_by_day"
down_revision: str | None = "0008_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Days of data older than this get no partition of their own at conversion: they stay in
# the DEFAULT partition (retention deletes them there), so a database holding a few stray
# timestamps from years ago does not turn into thousands of partitions.
OLDEST_DAY_PARTITIONED = 366
DAYS_AHEAD = 3  # frozen copy of app/ops/partitions.py's DAYS_AHEAD
# Today in UTC, whatever the server's TimeZone (current_date follows the session's).
TODAY = "(now() AT TIME ZONE 'UTC')::date"


@dataclass(frozen=True)
class _Table:
    """A frozen description, at this revision, of a table being partitioned."""

    name: str
    key: str
    # SQL of the UTC day (a date) of the key column, and of a day's start as a key value.
    day_of_key: str
    start_of_day: str
    primary_key: tuple[str, ...]
    plain_primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    foreign_key: str | None = None
    serial_id: bool = False  # id is a serial column (its own sequence)


_TIMESTAMP_DAY = "({key} AT TIME ZONE 'UTC')::date"
_TIMESTAMP_START = "(({day})::timestamp AT TIME ZONE 'UTC')"
TABLES = (
    _Table(
        name="minersample",
        key="recorded_at",
        day_of_key=_TIMESTAMP_DAY,
        start_of_day=_TIMESTAMP_START,
        primary_key=("id", "recorded_at"),
        plain_primary_key=("id",),
        indexes=(("ix_minersample_miner_id_recorded_at", ("miner_id", "recorded_at")),),
        serial_id=True,
    ),
    _Table(
        name="minersamplerollup",
        key="bucket_start",
        day_of_key="(DATE '1970-01-01' + floor({key} / 86400.0)::int)",
        start_of_day="((({day}) - DATE '1970-01-01')::bigint * 86400)",
        primary_key=("miner_id", "width", "bucket_start"),
        plain_primary_key=("miner_id", "width", "bucket_start"),
    ),
    _Table(
        name="agentevent",
        key="at",
        day_of_key=_TIMESTAMP_DAY,
        start_of_day=_TIMESTAMP_START,
        primary_key=("id", "at"),
        plain_primary_key=("id",),
        indexes=(
            ("ix_agentevent_agent_id_at", ("agent_id", "at")),
            ("ix_agentevent_at", ("at",)),
        ),
        foreign_key="FOREIGN KEY (agent_id) REFERENCES agent (id) ON DELETE CASCADE",
    ),
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        _partition(table)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        _unpartition(table)


def _partition(table: _Table) -> None:
    name, aside = table.name, f"{table.name}_unpartitioned"
    op.execute(f"ALTER TABLE {name} RENAME TO {aside}")
    op.execute(
        f"CREATE TABLE {name} (LIKE {aside} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        f"PARTITION BY RANGE ({table.key})"
    )
    op.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")
    day = table.day_of_key.format(key=table.key)
    start = table.start_of_day.format(day="d")
    end = table.start_of_day.format(day="d + 1")
    window = f"d BETWEEN {TODAY} - {OLDEST_DAY_PARTITIONED} AND {TODAY} + {DAYS_AHEAD}"
    # One partition per day holding rows, plus yesterday (a lagging client clock) to the
    # days ahead; a fresh database gets them here, before the scheduler's first run.
    op.execute(
        f"""DO $$
DECLARE d date;
BEGIN
  FOR d IN
    SELECT DISTINCT {day} FROM {aside}
    UNION SELECT generate_series({TODAY} - 1, {TODAY} + {DAYS_AHEAD}, '1 day')::date
  LOOP
    IF {window} THEN
      EXECUTE 'CREATE TABLE ' || quote_ident('{name}_p' || to_char(d, 'YYYYMMDD'))
        || ' PARTITION OF {name} FOR VALUES FROM (' || quote_literal({start})
        || ') TO (' || quote_literal({end}) || ')';
    END IF;
  END LOOP;
END $$"""  # noqa: S608  (names: ours)
    )
    _move_rows(table, aside, name)
    _finish(table, name, table.primary_key)


def _unpartition(table: _Table) -> None:
    name, aside = table.name, f"{table.name}_partitioned"
    op.execute(f"ALTER TABLE {name} RENAME TO {aside}")
    op.execute(f"CREATE TABLE {name} (LIKE {aside} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    _move_rows(table, aside, name)
    _finish(table, name, table.plain_primary_key)


def _move_rows(table: _Table, source: str, target: str) -> None:
    """Copy every row into the new table, hand it the id sequence, and drop the old one."""
    op.execute(f"INSERT INTO {target} SELECT * FROM {source}")  # noqa: S608  (names: ours)
    if table.serial_id:
        # A serial column's sequence belongs to its column: dropping the old table would
        # drop it. Looked up, not named: a table the earlier service made may name it alike
        # or not.
        op.execute(
            f"""DO $$
BEGIN
  EXECUTE 'ALTER SEQUENCE ' || pg_get_serial_sequence('{source}', 'id') || ' OWNED BY {target}.id';
END $$"""
        )
    op.execute(f"DROP TABLE {source}")


def _finish(table: _Table, name: str, primary_key: tuple[str, ...]) -> None:
    op.execute(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY ({', '.join(primary_key)})"
    )
    for index, columns in table.indexes:
        op.execute(f"CREATE INDEX {index} ON {name} ({', '.join(columns)})")
    if table.foreign_key:
        op.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_agent_id_fkey {table.foreign_key}")
