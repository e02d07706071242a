"""Miner sample ingest: the clock-skew check, one bulk insert and the per-miner pointer to
the newest sample; the rollups are folded in behind it (app/miners/fold.py).

record_samples() is the one way samples enter the console: the API (through
accept_samples(), which refuses times from the future first), the seed command and the
benchmarks all call it, so the `miner` table cannot fall out of step and the fold can trust
the ids it sees (the ingest fence).
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Table, bindparam, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col, select

from app.core.clock_skew import check_not_future
from app.core.timeutil import as_utc
from app.miners.derived import SAMPLE_COLUMNS, STORED_COLUMNS, sample_out
from app.miners.fold import ingest_fence
from app.miners.rollup import shares_stale
from app.miners.tiles import build_tiles
from app.models import Miner, MinerSample
from app.models.miner import BridgeSample, MinerSampleIn
from app.models.types import UTCDateTime

_SAMPLE_TABLE: Table = MinerSample.__table__  # type: ignore[attr-defined]
_MINER_TABLE: Table = Miner.__table__  # type: ignore[attr-defined]


def accept_samples(
    *,
    session: Session,
    samples: Sequence[tuple[str, MinerSampleIn | BridgeSample]],
    now: datetime,
    max_skew_seconds: float,
) -> list[dict[str, Any]]:
    """Store validated samples received at `now`, all or nothing; returns their rows.

    `samples` pairs each sample with the path its fields are reported under (`""`,
    `"samples.3."`, `"payload.sample."`). A reported time more than `max_skew_seconds`
    ahead of `now` refuses the whole request first (422 naming the first such field);
    missing times are `now`.
    """
    rows = checked_rows(samples, now=now, max_skew_seconds=max_skew_seconds)
    record_samples(session=session, rows=rows)
    return rows


def checked_rows(
    samples: Sequence[tuple[str, MinerSampleIn | BridgeSample]],
    *,
    now: datetime,
    max_skew_seconds: float,
) -> list[dict[str, Any]]:
    """The rows of validated samples received at `now`, after the clock-skew check that
    refuses them all (422 naming the first field) when one is too far ahead; nothing stored."""
    for prefix, sample in samples:
        for field, value in sample.reported_times(prefix):
            check_not_future(value, field=field, now=now, max_skew_seconds=max_skew_seconds)
    return [sample.to_row(now) for _, sample in samples]


def record_samples(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store validated samples and move each miner's newest-sample pointer; commit.

    Contract: each row maps minersample column names to values already validated (by
    MinerSampleIn, or by the caller): `miner_id` (str) and `recorded_at` (datetime; naive
    means UTC) are required; every other column is optional: shares default to 0 and a
    missing or None `shares_stale` takes the value of `shares_rejected`. Unknown keys are
    ignored. The rows go in with one bulk INSERT (the fold job adds them to the rollups
    later, app/miners/fold.py); one UPSERT per miner
    keeps the `miner` table current: a sample older than the miner's newest never moves its
    pointer back, so out-of-order and concurrent ingest are safe. Everything happens in the
    session's transaction, committed here; on any error it is rolled back and the error
    re-raised, so nothing is half-written. Returns the number of samples stored.
    """
    if not rows:
        return 0
    try:
        connection = session.connection()
        ingest_fence(connection)
        _insert_samples(connection, rows)
        connection.execute(_pointer_upsert(connection.dialect.name), _pointer_params(rows))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)


def _insert_samples(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """One DBAPI executemany of every row.

    Measured on SQLite: SQLAlchemy's generic per-row parameter processing took longer than
    the insert itself, so the rows go straight to the driver as tuples; the two datetime
    columns are converted as the column type stores them. (On PostgreSQL one INSERT of
    unnest()ed arrays measured no faster than psycopg's pipelined executemany.)
    """
    dialect = connection.dialect
    to_db = datetime_to_db(dialect)
    params = [
        (
            row["miner_id"],
            to_db(row["recorded_at"]),
            row.get("pool"),
            row.get("profile"),
            row.get("hashrate_1m"),
            row.get("hashrate_15m"),
            row.get("shares_accepted", 0),
            row.get("shares_rejected", 0),
            shares_stale(row),
            row.get("latency_ms"),
            row.get("temperature_c"),
            row.get("last_share_difficulty"),
            to_db(row.get("last_share_at")),
            row.get("power_w"),
            row.get("fan_rpm"),
        )
        for row in rows
    ]
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO {_SAMPLE_TABLE.name} ({', '.join(STORED_COLUMNS)}) "  # noqa: S608 (constants)
        f"VALUES ({', '.join([marker] * len(STORED_COLUMNS))})",
        params,
    )


def datetime_to_db(dialect: Dialect) -> Callable[[datetime | None], Any]:
    """What the UTCDateTime column type hands the driver for a datetime, as a fast function."""
    if dialect.name == "sqlite":
        return _sqlite_text
    column_type = _SAMPLE_TABLE.c.recorded_at.type.dialect_impl(dialect)
    return column_type.bind_processor(dialect) or _unchanged


def _sqlite_text(value: datetime | None) -> str | None:
    # The text SQLAlchemy stores for a naive UTC datetime on SQLite (its format is
    # "%Y-%m-%d %H:%M:%S.%f"), made in half the time its generic processor takes.
    if value is None:
        return None
    return as_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _unchanged(value: Any) -> Any:
    return value


def _pointer_params(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per miner, in miner order (the rollup's lock order): its earliest and newest time."""
    span: dict[str, tuple[datetime, datetime]] = {}
    for row in rows:
        at = as_utc(row["recorded_at"])
        known = span.get(row["miner_id"])
        span[row["miner_id"]] = (min(known[0], at), max(known[1], at)) if known else (at, at)
    return [
        {"p_miner_id": miner_id, "p_first": first, "p_last": last}
        for miner_id, (first, last) in sorted(span.items())
    ]


def _pointer_upsert(dialect_name: str) -> Insert:
    miner_id = bindparam("p_miner_id", type_=_MINER_TABLE.c.miner_id.type)
    first = bindparam("p_first", type_=UTCDateTime())
    last = bindparam("p_last", type_=UTCDateTime())
    # The newest sample of this miner at that time; on equal times, the last one inserted.
    newest_id = (
        select(func.max(MinerSample.id))
        .where(col(MinerSample.miner_id) == miner_id, col(MinerSample.recorded_at) == last)
        .scalar_subquery()
    )
    builder = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = builder(_MINER_TABLE).values(
        miner_id=miner_id, first_seen_at=first, last_recorded_at=last, last_sample_id=newest_id
    )
    excluded = stmt.excluded
    current = _MINER_TABLE.c
    advances: ColumnElement[bool] = excluded.last_recorded_at >= current.last_recorded_at
    earlier: ColumnElement[bool] = excluded.first_seen_at < current.first_seen_at
    return stmt.on_conflict_do_update(
        index_elements=[current.miner_id],
        set_={
            "first_seen_at": case((earlier, excluded.first_seen_at), else_=current.first_seen_at),
            "last_recorded_at": case(
                (advances, excluded.last_recorded_at), else_=current.last_recorded_at
            ),
            "last_sample_id": case(
                (advances, excluded.last_sample_id), else_=current.last_sample_id
            ),
        },
        # A row that would not change is not rewritten: no lock churn, no dead tuples.
        where=or_(advances, earlier),
    )


def newest_by_miner(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The newest row of each miner (the later one on equal times), sorted by miner_id."""
    newest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        current = newest.get(row["miner_id"])
        if current is None or as_utc(row["recorded_at"]) >= as_utc(current["recorded_at"]):
            newest[row["miner_id"]] = row
    return [newest[miner_id] for miner_id in sorted(newest)]


def live_messages(rows: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The ops-stream `miner.sample` message for each miner's newest row of an ingest."""
    messages = []
    for row in newest_by_miner(rows):
        columns = {name: row.get(name) for name in SAMPLE_COLUMNS}
        columns.update(
            recorded_at=as_utc(row["recorded_at"]),
            shares_accepted=row.get("shares_accepted", 0),
            shares_rejected=row.get("shares_rejected", 0),
            shares_stale=shares_stale(row),
        )
        latest = sample_out(columns)
        messages.append(
            {
                "type": "miner.sample",
                "miner_id": latest.miner_id,
                "sample": latest.model_dump(mode="json"),
                "tiles": [tile.model_dump(mode="json") for tile in build_tiles(latest, now)],
            }
        )
    return messages
