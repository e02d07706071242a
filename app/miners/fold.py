"""The rollups folded behind ingest: the samples past a watermark, added in SQL.

Ingest stores samples and moves each miner's newest-sample pointer, nothing else; the
samples table itself is the durable backlog. `rollupwatermark` records the id up to which
the samples are in the rollups (app/models/rollup.py). A fold step takes the next range of
ids past it and, in ONE transaction, merges their aggregates per (miner, width, bucket) into
the rollup with an `INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE` per width
(counts and sums add, min/max compare: the merge ingest used to do row by row) and moves the
watermark. A crash anywhere in a step leaves both as they were: nothing is skipped, nothing
is folded twice.

Which ids are safe to fold:
- SQLite has one writer at a time and gives each new row the largest id so far plus one: in
  the fold's write transaction (the watermark's row locked first) every id up to the
  largest one stored is committed, and no later row can take a smaller one.
- PostgreSQL hands out ids from a sequence when a row is inserted, but transactions commit
  in any order: id 105 can become visible after id 106 has been folded. So every ingest
  transaction first takes a shared advisory lock (ingest_fence), and the fold, before it
  reads the largest id, takes that lock exclusively for a moment: it waits until the
  transactions inserting at that instant have ended, and every id up to the largest one it
  then sees is committed or gone for good. New ingest waits behind it for as long as the
  slowest of those transactions takes (one ingest transaction), not for the fold.

Readers merge the rollup with the samples past the watermark in one statement (one
snapshot on PostgreSQL), so a chart is exact whatever the backlog (app/miners/series.py);
app/miners/rollup.py's watermark_sql() is that subquery.
"""

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from app.miners.rollup import (
    ROLLUP_COLUMNS,
    epoch_seconds_sql,
    lock_watermark,
    sample_aggregates,
    watermark_sql,
)
from app.models import MinerSample
from app.models.rollup import (
    MINER_SAMPLE_ROLLUP,
    ROLLUP_METRICS,
    ROLLUP_WATERMARK,
    ROLLUP_WIDTHS,
)
from app.models.rollup import WATERMARK_SOURCE as SOURCE

# Ids per fold step. A step is one write transaction: on SQLite ingest waits for it, so it
# stays short (2,000 samples: 30-40 ms on the benchmark machine, where 20,000 took 250 ms
# and showed in ingest's p99); the job runs steps until it has caught up.
FOLD_BATCH = 2_000
# pg_advisory_xact_lock key of the ingest fence ("prism" + 0x10).
INGEST_FENCE_KEY = 0x7072_6973_6D00_0010

_WATERMARK = ROLLUP_WATERMARK.c


@dataclass(frozen=True)
class FoldStep:
    """What one step did: the id range (after, through] folded, and its sample count."""

    after: int
    through: int
    samples: int


def ingest_fence(connection: Connection) -> None:
    """Call in every transaction that inserts samples, before the insert (PostgreSQL only):
    the fold waits for the transactions holding it before it trusts the ids it sees."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock_shared(%s)", (INGEST_FENCE_KEY,))


def read_watermark(connection: Connection) -> int:
    """The id up to which (inclusive) samples are in the rollup."""
    return int(connection.execute(select(watermark_sql())).scalar_one())


def fold_step(engine: Engine, *, limit: int = FOLD_BATCH) -> FoldStep:
    """Fold up to `limit` ids past the watermark into the rollups, in one transaction."""
    with engine.connect() as connection:
        try:
            on_postgresql = connection.dialect.name == "postgresql"
            if on_postgresql:
                settled = _settled_through(connection)
                connection.commit()
            # Serialises folders (and retention's rebuilds); on SQLite it takes the write
            # lock, under which every id up to the largest is committed.
            lock_watermark(connection)
            after = read_watermark(connection)
            if not on_postgresql:
                settled = _largest_id(connection)
            through = min(settled, after + limit)
            samples = 0
            if through > after:
                samples = _fold_range(connection, after, through)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
    return FoldStep(after=after, through=max(through, after), samples=samples)


def fold_all(
    engine: Engine, *, limit: int = FOLD_BATCH, stopping: threading.Event | None = None
) -> int:
    """Fold steps until the watermark has caught up with ingest (or `stopping` is set,
    checked between steps); the samples folded."""
    total = 0
    while True:
        step = fold_step(engine, limit=limit)
        total += step.samples
        if step.through - step.after < limit or (stopping is not None and stopping.is_set()):
            return total


def unfolded_count(connection: Connection) -> int:
    """How many samples are past the watermark (the fold's backlog)."""
    query = select(func.count()).where(col(MinerSample.id) > watermark_sql())
    return int(connection.execute(query).scalar_one())


def _settled_through(connection: Connection) -> int:
    """PostgreSQL: the largest id once no transaction that could still insert a smaller one
    is running (the exclusive side of ingest_fence, released at this transaction's end)."""
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (INGEST_FENCE_KEY,))
    return _largest_id(connection)


def _largest_id(connection: Connection) -> int:
    largest = connection.execute(select(func.max(col(MinerSample.id)))).scalar_one()
    return int(largest or 0)


def _fold_range(connection: Connection, after: int, through: int) -> int:
    """Merge the samples with ids in (after, through] into every width; move the watermark."""
    params = {"after": after, "through": through}
    for width in ROLLUP_WIDTHS:
        connection.execute(_fold_statement(connection.dialect.name, width), params)
    connection.execute(
        ROLLUP_WATERMARK.update().where(_WATERMARK.source == SOURCE).values(folded_through=through)
    )
    count = select(func.count()).where(col(MinerSample.id) > after, col(MinerSample.id) <= through)
    return int(connection.execute(count).scalar_one())


@cache
def _fold_statement(dialect_name: str, width: int) -> Insert:
    """INSERT ... SELECT the aggregates of (after, through] per bucket ... ON CONFLICT merge."""
    sample_id = col(MinerSample.id)
    seconds = epoch_seconds_sql(col(MinerSample.recorded_at), dialect_name)
    # The start of the bucket, floored as bucket_of() does for times before 1970 too (both
    # engines truncate % toward zero). The width is written into the SQL, not bound:
    # PostgreSQL matches a GROUP BY expression to the select list's only as the same text.
    width_sql = literal_column(str(int(width)), BigInteger)
    bucket = cast(seconds - (seconds % width_sql + width_sql) % width_sql, BigInteger).label(
        "bucket"
    )
    source = (
        select(
            col(MinerSample.miner_id),
            width_sql,
            bucket,
            *sample_aggregates(),
        )
        .where(
            sample_id > bindparam("after", type_=BigInteger),
            sample_id <= bindparam("through", type_=BigInteger),
        )
        # By the output name: the expression has bound parameters (date_part's 'epoch'),
        # which PostgreSQL would not match to the select list's.
        .group_by(col(MinerSample.miner_id), literal_column("bucket"))
    )
    builder = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = builder(MINER_SAMPLE_ROLLUP).from_select(list(ROLLUP_COLUMNS), source)
    return statement.on_conflict_do_update(
        index_elements=["miner_id", "width", "bucket_start"],
        set_=merged_aggregates(statement.excluded),
    )


def merged_aggregates(excluded: Any) -> dict[str, ColumnElement[Any]]:
    """The rollup columns after merging `excluded` (the new part of a bucket) into a row:
    counts and sums add; a NULL side (no value yet) never wins a min or max."""
    rollup = MINER_SAMPLE_ROLLUP.c
    merged: dict[str, ColumnElement[Any]] = {}
    for prefix, _ in ROLLUP_METRICS:
        for part in ("count", "sum"):
            name = f"{prefix}_{part}"
            merged[name] = rollup[name] + excluded[name]
        low, high = f"{prefix}_min", f"{prefix}_max"
        merged[low] = case(
            (or_(rollup[low].is_(None), excluded[low] < rollup[low]), excluded[low]),
            else_=rollup[low],
        )
        merged[high] = case(
            (or_(rollup[high].is_(None), excluded[high] > rollup[high]), excluded[high]),
            else_=rollup[high],
        )
    return merged
