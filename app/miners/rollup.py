"""The rollups of miner samples (app/models/rollup.py): their SQL, pruned, rebuilt, and the
watermark of the fold that writes them (app/miners/fold.py).

The fold merges the samples past the watermark into them in SQL (sample_aggregates() per
bucket, merged by an UPSERT that adds counts and sums and keeps the smaller min and the
larger max), so a bucket made of several folds equals the aggregate of all its samples.
Retention prunes old buckets and rebuilds the one holding its cutoff from the samples the
fold has reached, holding the watermark's row so that no fold step runs in between.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Float,
    Integer,
    ScalarSelect,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlmodel import Session, col

from app.miners.derived import TERA
from app.models import Miner, MinerSample
from app.models.rollup import (
    MINER_SAMPLE_ROLLUP,
    ROLLUP_WATERMARK,
    ROLLUP_WIDTHS,
    WATERMARK_SOURCE,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROLLUP = MINER_SAMPLE_ROLLUP.c
ROLLUP_COLUMNS = tuple(column.name for column in MINER_SAMPLE_ROLLUP.columns)
# The metric aggregates of a rollup row (after miner_id, width, bucket_start): count, min,
# max and sum of each ROLLUP_METRICS entry in turn.
Aggregates = list[Any]


def bucket_of(at: datetime, width: int) -> int:
    """Unix seconds of the start of the `width`-second bucket holding `at` (naive: UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(seconds=width) * width


def moment(unix_seconds: int) -> datetime:
    """The aware UTC datetime of whole unix seconds."""
    return _EPOCH + timedelta(seconds=unix_seconds)


def shares_stale(row: Mapping[str, Any]) -> int:
    """A sample's stale shares: when missing or None, its rejected shares."""
    stale = row.get("shares_stale")
    return int(row.get("shares_rejected", 0)) if stale is None else int(stale)


def merge_aggregates(known: Aggregates, other: Sequence[Any]) -> None:
    """Merge the aggregates of another part of the same bucket into `known`, in place."""
    for base in range(0, len(other), 4):
        count, low, high, total = other[base : base + 4]
        known[base] += count
        if low is not None and (known[base + 1] is None or low < known[base + 1]):
            known[base + 1] = low
        if high is not None and (known[base + 2] is None or high > known[base + 2]):
            known[base + 2] = high
        known[base + 3] += total


# SQL over minersample rows: what the fold aggregates, and what reads of raw samples do.


def effective_hashrate_sql() -> ColumnElement[Any]:
    """effective_hashrate() of miner_derived, as SQL over a sample row (same float steps)."""
    h1, h15 = col(MinerSample.hashrate_1m), col(MinerSample.hashrate_15m)
    # Floats before adding: two 32-bit share counts can overflow an INTEGER on PostgreSQL.
    accepted = cast(col(MinerSample.shares_accepted), Float)
    stale = cast(col(MinerSample.shares_stale), Float)
    baseline = case((and_(h1.is_not(None), h1 != 0), h1), else_=h15)
    rate = case((accepted + stale > 0, stale / (accepted + stale)), else_=cast(0, Float))
    return baseline * (1 - rate)


def efficiency_sql(effective: ColumnElement[Any]) -> ColumnElement[Any]:
    """efficiency_j_per_th() of miner_derived, as SQL (NULL without power or hashing)."""
    power = col(MinerSample.power_w)
    return case((effective > 0, power * TERA / effective), else_=None)


def sample_metric_sql() -> list[Any]:
    """The SQL of each ROLLUP_METRICS entry over a minersample row, in that order."""
    effective = effective_hashrate_sql()
    return [
        col(MinerSample.hashrate_1m),
        col(MinerSample.hashrate_15m),
        effective,
        col(MinerSample.temperature_c),
        col(MinerSample.shares_accepted),
        col(MinerSample.shares_rejected),
        col(MinerSample.shares_stale),
        col(MinerSample.latency_ms),
        col(MinerSample.power_w),
        col(MinerSample.fan_rpm),
        efficiency_sql(effective),
    ]


def sample_aggregates() -> list[ColumnElement[Any]]:
    """count, min, max and sum of each metric over a group of samples (a rollup row's shape)."""
    aggregates: list[ColumnElement[Any]] = []
    for value in sample_metric_sql():
        aggregates += [
            func.count(value),
            func.min(value),
            func.max(value),
            func.coalesce(func.sum(cast(value, Float)), 0.0),
        ]
    return aggregates


def epoch_seconds_sql(column: Any, dialect_name: str) -> ColumnElement[int]:
    """Whole unix seconds of a UTC datetime column, truncated, in the engine's own SQL."""
    if dialect_name == "postgresql":
        return cast(func.floor(func.date_part("epoch", column)), BigInteger)
    # The stored text is naive UTC; strftime would round the fraction to a millisecond first
    # (10:00:59.9999 would become 10:01:00), so only the whole seconds are parsed.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)


# Retention.


def prune_rollup(*, session: Session, cutoff: datetime, batch_size: int) -> int:
    """Delete rollup buckets older than `cutoff`, and rebuild each bucket holding `cutoff`
    from the samples left, since retention deleted only part of it; returns the rows deleted.

    Miner by miner (from the `miner` table, which retention repairs only afterwards), so
    every statement is a range of the primary key, each batch its own short transaction.
    """
    keys = tuple_(_ROLLUP.miner_id, _ROLLUP.width, _ROLLUP.bucket_start)
    total = 0
    miner_ids = session.execute(select(col(Miner.miner_id))).scalars().all()
    for miner_id in miner_ids:
        for width in ROLLUP_WIDTHS:
            boundary = bucket_of(cutoff, width)
            while True:
                batch = (
                    select(_ROLLUP.miner_id, _ROLLUP.width, _ROLLUP.bucket_start)
                    .where(
                        _ROLLUP.miner_id == miner_id,
                        _ROLLUP.width == width,
                        _ROLLUP.bucket_start < boundary,
                    )
                    .limit(batch_size)
                )
                # Each batch waits for a fold step in progress, and a fold for one batch:
                # they never delete and merge the same rows at once.
                lock_watermark(session)
                result = session.exec(delete(MINER_SAMPLE_ROLLUP).where(keys.in_(batch)))
                deleted = int(result.rowcount or 0)
                session.commit()
                total += deleted
                if deleted < batch_size:
                    break
            if moment(boundary) < cutoff:
                rebuild_bucket(session=session, miner_id=miner_id, width=width, start=boundary)
                session.commit()
    return total


def rebuild_bucket(*, session: Session, miner_id: str, width: int, start: int) -> None:
    """Replace a miner's rollup row of one bucket by the aggregate of its samples there that
    the fold has reached (those past the watermark it adds later itself)."""
    lock_watermark(session)
    this_bucket = and_(
        _ROLLUP.miner_id == miner_id, _ROLLUP.width == width, _ROLLUP.bucket_start == start
    )
    session.execute(delete(MINER_SAMPLE_ROLLUP).where(this_bucket))
    recorded_at = col(MinerSample.recorded_at)
    in_bucket = and_(
        col(MinerSample.miner_id) == miner_id,
        recorded_at >= moment(start),
        recorded_at < moment(start) + timedelta(seconds=width),
        col(MinerSample.id) <= watermark_sql(),
    )
    source = (
        select(
            col(MinerSample.miner_id),
            cast(width, Integer),
            cast(start, BigInteger),
            *sample_aggregates(),
        )
        .where(in_bucket)
        .group_by(col(MinerSample.miner_id))
    )
    session.execute(insert(MINER_SAMPLE_ROLLUP).from_select(list(ROLLUP_COLUMNS), source))


# The fold's watermark (app/miners/fold.py moves it), as retention needs it.


def watermark_sql() -> ScalarSelect[Any]:
    """The watermark as a scalar subquery: read in the same statement as the rollup, so both
    come from one snapshot (read apart, a fold committing in between would count a range
    twice or not at all)."""
    return (
        select(ROLLUP_WATERMARK.c.folded_through)
        .where(ROLLUP_WATERMARK.c.source == WATERMARK_SOURCE)
        .scalar_subquery()
    )


def lock_watermark(session: Session | Connection) -> None:
    """Hold the watermark's row until the transaction ends: another fold step (or retention's
    rebuild) waits, and the watermark read in this transaction stays what it is. A write
    that changes nothing, so it takes SQLite's write lock too (a SELECT would not, and a
    fold could slip in)."""
    session.execute(
        update(ROLLUP_WATERMARK)
        .where(ROLLUP_WATERMARK.c.source == WATERMARK_SOURCE)
        .values(folded_through=ROLLUP_WATERMARK.c.folded_through)
    )
