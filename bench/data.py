"""Bulk data for the benchmarks: agents, and a million miner samples in well under a minute.

Samples go straight to the driver (executemany on SQLite, COPY on PostgreSQL) in time order,
all miners interleaved as live ingest writes them; then the rollup is built by the fold job's
own fold_all() (app/miners/fold.py), and the `miner` pointers in SQL as migration
0002 does. add_backlog() then ingests samples through record_samples() that stay unfolded.
"""

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlmodel import Session, SQLModel

from app.miners.derived import SAMPLE_COLUMNS
from app.miners.fold import fold_all, unfolded_count
from app.miners.ingest import record_samples
from app.models import MINER_SAMPLE_ROLLUP

DOMAINS = ("infrastructure", "data", "security", "ops", "finance")
POOLS = ("pool.example:3333", "backup.example:443")


def fill_agents(engine: Engine, count: int, now: datetime) -> None:
    """`count` agents seen within the last ten minutes (every shown status occurs)."""
    rng = random.Random(7)  # benchmark data, not security
    rows = [
        {
            "id": f"agent-{index:04}",
            "name": f"Agent {index:04}",
            "domain": DOMAINS[index % len(DOMAINS)],
            "status": rng.choice(("online", "online", "online", "degraded")),
            "memory_used_mb": round(rng.uniform(100, 4000), 1),
            "last_seen_at": now - timedelta(seconds=rng.randint(0, 600)),
            "version": f"1.{index % 7}.0",
        }
        for index in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(SQLModel.metadata.tables["agent"]), rows)


def sample_values(rng: random.Random, miner_id: str, at: datetime, step: int) -> dict[str, Any]:
    """One plausible sample; about one in fifty has no temperature."""
    return {
        "miner_id": miner_id,
        "recorded_at": at,
        "pool": POOLS[step % 97 == 0],
        "profile": "rx/0",
        "hashrate_1m": round(rng.uniform(9_000, 11_000), 1),
        "hashrate_15m": 10_000.0,
        "shares_accepted": 1_000 + step,
        "shares_rejected": step // 200,
        "shares_stale": step // 100,
        "latency_ms": round(rng.uniform(20, 90), 1),
        "temperature_c": None if step % 50 == 0 else round(rng.uniform(55, 85), 1),
        "last_share_difficulty": 120_000.0,
        "last_share_at": at - timedelta(seconds=3),
    }


@dataclass(frozen=True)
class History:
    """What fill_miner_history wrote."""

    samples: int
    rollup_rows: int
    miners: int
    series_miner: str
    until: datetime
    # Seconds fold_all() took to build the rollup; None: built while loading (no fold job).
    fold_seconds: float = 0.0


def fill_miner_history(
    engine: Engine, *, total: int, miners: int, series_days: int, now: datetime
) -> History:
    """`total` samples up to `now`, every miner reporting every 10 s: miner-000 for
    `series_days` days, the others over the last hours that make up the total."""
    series_samples = series_days * 8640
    others = miners - 1
    each = (total - series_samples) // others
    until = now.replace(microsecond=0)
    start = until - timedelta(days=series_days)
    late = series_samples - each  # the step from which every miner reports
    events = [(step * 10.0, "miner-000", step) for step in range(series_samples)]
    events += [
        ((late + step) * 10.0 + index * 0.05, f"miner-{index:03}", step)
        for index in range(1, others + 1)
        for step in range(each + (index <= (total - series_samples) % others))
    ]
    # Time order, every miner interleaved: the physical layout live ingest produces.
    events.sort()
    rng = random.Random(11)
    rows = (
        sample_values(rng, miner_id, start + timedelta(seconds=offset), step)
        for offset, miner_id, step in events
    )
    _bulk_write(engine, rows)
    started = time.perf_counter()
    fold_all(engine)
    fold_seconds = time.perf_counter() - started
    _build_pointers(engine)
    if engine.dialect.name == "postgresql":
        # Autovacuum would analyze the new rows within a minute; do not wait for it. SQLite
        # keeps no statistics unless told to, and the console never tells it: nor do we.
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    with engine.connect() as connection:
        count = select(func.count()).select_from(MINER_SAMPLE_ROLLUP)
        rollup_rows = int(connection.execute(count).scalar_one())
    return History(
        samples=len(events),
        rollup_rows=rollup_rows,
        miners=miners,
        series_miner="miner-000",
        until=until,
        fold_seconds=fold_seconds,
    )


def add_backlog(engine: Engine, history: History, *, count: int, minutes: int) -> int:
    """Ingest `count` more samples through record_samples() (pointers moved, rollup not),
    spread over every miner and the newest `minutes` of the history, in time order, 1,000 a
    transaction; returns the samples now past the rollup watermark."""
    each = count // history.miners
    spacing = minutes * 60 / each
    start = history.until - timedelta(minutes=minutes)
    # Miner i reports at its own offset within each spacing; every time stays before `until`.
    events = sorted(
        (step * spacing + index * spacing / history.miners, index, step)
        for index in range(history.miners)
        for step in range(each)
    )
    rng = random.Random(17)
    rows = [
        sample_values(rng, f"miner-{index:03}", start + timedelta(seconds=offset), step)
        for offset, index, step in events
    ]
    with Session(engine) as session:
        for first in range(0, len(rows), 1_000):
            record_samples(session=session, rows=rows[first : first + 1_000])
    with engine.connect() as connection:
        return unfolded_count(connection)


def _bulk_write(engine: Engine, rows: Iterator[dict[str, Any]], *, chunk: int = 50_000) -> None:
    """Samples straight to the driver, a chunk per transaction (the fold builds the rollup)."""
    with engine.connect() as connection:
        buffer: list[dict[str, Any]] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) == chunk:
                _write_chunk(connection, buffer)
                buffer = []
        _write_chunk(connection, buffer)


def _write_chunk(connection: Connection, rows: list[dict[str, Any]]) -> None:
    names = ", ".join(SAMPLE_COLUMNS)
    samples = [[row[name] for name in SAMPLE_COLUMNS] for row in rows]
    cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if connection.dialect.name == "postgresql":
        with cursor.copy(f"COPY minersample ({names}) FROM STDIN") as copy:
            for sample in samples:
                copy.write_row(sample)
    else:
        marks = ", ".join("?" * len(SAMPLE_COLUMNS))
        cursor.executemany(
            f"INSERT INTO minersample ({names}) VALUES ({marks})",
            [[_stored(value) for value in sample] for sample in samples],
        )
    # Nothing went through SQLAlchemy, which would see no transaction to commit.
    connection.connection.commit()


def _stored(value: Any) -> Any:
    """The text UTCDateTime stores on SQLite: naive UTC with microseconds."""
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(sep=" ", timespec="microseconds")
    return value


def _build_pointers(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO miner (miner_id, first_seen_at, last_recorded_at, last_sample_id)
                SELECT agg.miner_id, agg.first_at, agg.last_at,
                       (SELECT MAX(x.id) FROM minersample x
                         WHERE x.miner_id = agg.miner_id AND x.recorded_at = agg.last_at)
                  FROM (SELECT miner_id, MIN(recorded_at) AS first_at,
                               MAX(recorded_at) AS last_at
                          FROM minersample GROUP BY miner_id) agg
                """
            )
        )
