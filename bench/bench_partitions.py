"""Retention of one day of miner samples on PostgreSQL: partition drop against batched delete.

One day of 10-second samples of a fleet (8,640 a miner: 10,000 miners make 86.4M rows; scaled
down here to PRISM_BENCH_PARTITION_MINERS, 100 by default, so 864,000 rows of the same shape) is
loaded into two databases of the same run: one at revision 0008 (plain tables: today's
batched delete) and one at head (day partitions: the day is dropped whole). The same
retention prune runs on each; the figures are its wall time and the WAL it wrote.
"""

import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from app.core.db import create_db_engine, parse_database_url
from app.ops import migrations, partitions, retention
from bench.common import (
    SkipBenchError,
    print_row,
    quiet_slow_query_log,
    temporary_pg_database,
)

PRODUCTION_MINERS = 10_000
SAMPLES_PER_DAY = 8_640  # one every 10 seconds
DAY = datetime(2026, 11, 1, tzinfo=UTC)
# Seven days of retention, run at the end of the following day: the loaded day is wholly old.
NOW = DAY + timedelta(days=8)


def run() -> None:
    quiet_slow_query_log()
    miners = int(os.environ.get("PRISM_BENCH_PARTITION_MINERS", "100"))
    rows = miners * SAMPLES_PER_DAY
    scaled = (
        f" (scaled down from {PRODUCTION_MINERS:,} miners, "
        f"{PRODUCTION_MINERS * SAMPLES_PER_DAY:,} rows: the same samples per miner, fewer "
        "miners)"
        if miners < PRODUCTION_MINERS
        else ""
    )
    print(f"  one day of {miners:,} miners at 10 s: {rows:,} rows{scaled}")
    try:
        batched = _prune_figures("0008_audit", miners)
        dropped = _prune_figures("head", miners)
    except SkipBenchError as skipped:
        print(f"  postgresql: skipped: {skipped}")
        return
    for label, (seconds, wal, deleted) in (
        ("batched delete (plain table, revision 0008)", batched),
        ("partition drop (day partitions, head)", dropped),
    ):
        print_row(label, f"{seconds:8.2f} s   WAL {wal / 1e6:8.1f} MB   rows {deleted:,}")
    print_row("drop is faster by", f"{batched[0] / max(dropped[0], 1e-9):8.0f}x")


def _prune_figures(revision: str, miners: int) -> tuple[float, int, int]:
    """(seconds, WAL bytes, rows removed) of one retention prune of the loaded day."""
    with temporary_pg_database("prism_bench_parts") as url:
        engine = create_db_engine(parse_database_url(url))
        try:
            migrations.upgrade(engine, revision)
            _load_day(engine, miners)
            started_lsn = _wal_lsn(engine)
            started = time.perf_counter()
            with Session(engine) as session:
                result = retention.prune(session=session, now=NOW, samples_days=7, events_days=90)
            seconds = time.perf_counter() - started
            wal = _wal_bytes_since(engine, started_lsn)
            return seconds, wal, result.samples
        finally:
            engine.dispose()


def _load_day(engine: Engine, miners: int) -> None:
    """The day's samples in one INSERT ... SELECT (and, partitioned, its day's partition)."""
    with engine.begin() as connection:
        partitions.ensure_partitions(connection, now=DAY, skew_seconds=0, days_ahead=1)
        connection.exec_driver_sql(
            "INSERT INTO minersample (miner_id, recorded_at, hashrate_1m, shares_accepted, "
            "shares_rejected, shares_stale) "
            f"SELECT 'rig-' || m, TIMESTAMPTZ '{DAY.isoformat()}' + t * interval '10 seconds', "
            "100.0 + m, t, 0, 0 "
            f"FROM generate_series(0, {SAMPLES_PER_DAY - 1}) t, generate_series(1, {miners}) m"
        )
    with engine.connect() as connection:
        connection.exec_driver_sql("CHECKPOINT")  # the load's WAL is not the prune's


def _wal_lsn(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT pg_current_wal_lsn()").scalar_one())


def _wal_bytes_since(engine: Engine, lsn: str) -> int:
    with engine.connect() as connection:
        query = f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')"
        return int(connection.exec_driver_sql(query).scalar_one())
