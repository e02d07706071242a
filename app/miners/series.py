"""A miner's time series for charts, downsampled in SQL so spikes survive (downsampling.py).

Windows holding no more samples than N return the raw samples instead. Otherwise each bucket
keeps the min, max and average of its samples. Buckets of a minute or more are made of whole
rollup buckets (app/models/rollup.py) and read from the rollup: 30 days in 1,000 points are
4,320 ten-minute rows instead of 259,200 samples at 10 s. Only the partial rollup buckets at
the window's edges, and windows cut finer than a minute, are read from the samples
themselves. The rollup lags ingest (app/miners/fold.py): the samples past its watermark
are read with it, in the same statement, so the rollup and its tail come from one snapshot.
Either way the answer is the same: counts, sums, mins and maxes merge exactly.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    cast,
    func,
    select,
    union_all,
)
from sqlalchemy.sql.util import ClauseAdapter
from sqlmodel import Session, col

from app.core.downsampling import BucketPlan, SeriesStats, more_rows_than, plan_buckets
from app.miners.derived import effective_hashrate, efficiency_j_per_th, stale_rate
from app.miners.queries import require_miner
from app.miners.rollup import (
    bucket_of,
    epoch_seconds_sql,
    merge_aggregates,
    moment,
    sample_aggregates,
    sample_metric_sql,
    watermark_sql,
)
from app.models import MinerSample
from app.models.miner import MinerSeries
from app.models.rollup import MINER_SAMPLE_ROLLUP, ROLLUP_METRICS, ROLLUP_WIDTHS
from app.models.types import UTCDateTime

DEFAULT_POINTS = 500
MAX_POINTS = 5000
# Buckets may be widened to a coarser rollup by this factor at most (a fifth of the points
# lost), unless reading the finer rollup would mean more than ROW_BUDGET rows.
ACCEPTED_WIDENING = 1.25
ROW_BUDGET = 10_000

SERIES_NAMES = (
    "hashrate1m",
    "hashrate15m",
    "effectiveHashrate",
    "temperatureC",
    "sharesAccepted",
    "sharesRejected",
    "sharesStale",
    "latencyMs",
    "powerW",
    "fanRpm",
    "efficiencyJPerTH",
)

# A bucket row: (bucket index, then count, min, max, sum of each series in SERIES_NAMES).
BucketRow = Sequence[Any]


def metric_expressions() -> list[Any]:
    """The SQL of each series over a sample row, in the order of SERIES_NAMES."""
    return sample_metric_sql()


def miner_series(
    *, session: Session, miner_id: str, since: datetime, until: datetime, points: int
) -> MinerSeries:
    """At most `points` points of every metric over [since, until); 404 for unknown miners."""
    miner = require_miner(session=session, miner_id=miner_id)
    in_window = _samples_between(miner_id, since, until)
    if not more_rows_than(session, id_column=col(MinerSample.id), where=in_window, limit=points):
        t, series = _raw(session, in_window)
        bucket_seconds = None
    else:
        plan, width = series_plan(since, until, points)
        rows = _bucket_rows(session, miner_id, since, until, plan, width)
        t, series = _merged(rows, plan)
        bucket_seconds = plan.seconds
    series["percentOfExpected"] = _percent_of(series["effectiveHashrate"], miner.expected_hashrate)
    return MinerSeries(
        miner_id=miner_id,
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        points=len(t),
        t=t,
        series=series,
    )


def _percent_of(effective: SeriesStats, expected: float | None) -> SeriesStats:
    """The effective hashrate as a percentage of the miner's expected hashrate (SPEC §14),
    point by point (all None when none is set): derived on read, like the tiles, so a new
    expected hashrate applies to the whole history at once."""

    def scaled(values: list[float | None]) -> list[float | None]:
        if not expected or expected <= 0:
            return [None] * len(values)
        return [None if value is None else value / expected * 100 for value in values]

    return SeriesStats(
        min=scaled(effective.min), max=scaled(effective.max), avg=scaled(effective.avg)
    )


def series_plan(since: datetime, until: datetime, points: int) -> tuple[BucketPlan, int | None]:
    """The buckets of a window and the rollup width to read them from (None: the samples).

    plan_buckets() decides; buckets of a minute or more are then widened to whole buckets of
    the coarsest rollup not wider than them, or of the next finer one when widening to the
    coarser would drop more than a fifth of the points and the finer holds at most
    ROW_BUDGET rows over the window. Still at most `points` buckets, aligned to their width.
    """
    plan = plan_buckets(since, until, points)
    usable = [width for width in ROLLUP_WIDTHS if width <= plan.seconds]
    if not usable:
        return plan, None
    widened = _widened(since, until, points, plan.seconds, usable[-1])
    if len(usable) > 1 and widened.seconds > ACCEPTED_WIDENING * plan.seconds:
        finer = usable[-2]
        if (until - since).total_seconds() / finer <= ROW_BUDGET:
            return _widened(since, until, points, plan.seconds, finer), finer
    return widened, usable[-1]


def _widened(since: datetime, until: datetime, points: int, seconds: int, width: int) -> BucketPlan:
    """The narrowest multiple of `width` of at least `seconds` that fits `points` buckets."""
    seconds = math.ceil(seconds / width) * width
    start, end = since.timestamp(), until.timestamp()
    while True:
        origin = math.floor(start / seconds) * seconds
        if end - origin <= (points - 0.001) * seconds:  # the margin of plan_buckets
            return BucketPlan(origin=origin, seconds=seconds)
        seconds += width


def _samples_between(miner_id: str, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(
        col(MinerSample.miner_id) == miner_id,
        col(MinerSample.recorded_at) >= since,
        col(MinerSample.recorded_at) < until,
    )


def _bucket_rows(
    session: Session,
    miner_id: str,
    since: datetime,
    until: datetime,
    plan: BucketPlan,
    width: int | None,
) -> list[BucketRow]:
    """Bucket rows from the rollup's whole buckets and from the samples of the rest."""
    grid = {"miner_id": miner_id, "origin": plan.origin, "seconds": plan.seconds}
    first = end = 0
    if width is not None:
        first = bucket_of(since, width)
        if moment(first) < since:
            first += width
        end = bucket_of(until, width)
    if first >= end:
        return _sample_buckets(session, grid, since, until)
    dialect = session.get_bind().dialect.name
    rollup = session.execute(
        _rollup_query(dialect),
        {
            **grid,
            "width": width,
            "first": first,
            "end": end,
            "first_at": moment(first),
            "end_at": moment(end),
        },
    )
    rows: list[BucketRow] = list(rollup.all())
    for edge_since, edge_until in ((since, moment(first)), (moment(end), until)):
        if edge_since < edge_until:
            rows += _sample_buckets(session, grid, edge_since, edge_until)
    return rows


def _sample_buckets(
    session: Session, grid: dict[str, Any], since: datetime, until: datetime
) -> list[BucketRow]:
    """A miner's samples in [since, until), aggregated per bucket like rollup rows."""
    query = _sample_query(session.get_bind().dialect.name)
    return list(session.execute(query, {**grid, "since": since, "until": until}).all())


# The two queries are built once (per engine) with bound parameters: building their
# ~35-column SQL expression took longer than running them.


@cache
def _rollup_query(dialect_name: str) -> CompoundSelect:
    """A miner's rollup rows of one width starting in [first, end), merged per bucket, and
    its samples there that the rollup does not hold yet (past the watermark)."""
    return union_all(_rollup_rows(), _unfolded_rows(dialect_name))


def _rollup_rows() -> Select[Any]:
    rollup = MINER_SAMPLE_ROLLUP.c
    origin, seconds = bindparam("origin", type_=BigInteger), bindparam("seconds", type_=BigInteger)
    # Integer division of non-negative integers: the floor, on both engines.
    bucket = ((rollup.bucket_start - origin) // seconds).label("bucket")
    columns: list[Any] = [bucket]
    for prefix, _ in ROLLUP_METRICS:
        columns += [
            func.sum(rollup[f"{prefix}_count"]),
            func.min(rollup[f"{prefix}_min"]),
            func.max(rollup[f"{prefix}_max"]),
            func.sum(rollup[f"{prefix}_sum"]),
        ]
    return (
        select(*columns)
        .where(
            rollup.miner_id == bindparam("miner_id"),
            rollup.width == bindparam("width"),
            rollup.bucket_start >= bindparam("first", type_=BigInteger),
            rollup.bucket_start < bindparam("end", type_=BigInteger),
        )
        .group_by(bucket)
    )


def _unfolded_rows(dialect_name: str) -> Select[Any]:
    """The miner's samples past the watermark in [first_at, end_at), per bucket.

    Found by the (miner_id, id) index in a MATERIALIZED CTE, which both planners plan on
    its own: next to the time range, PostgreSQL's generic plan (and SQLite's guess) would
    otherwise prefer the (miner_id, recorded_at) index and read the whole month of the
    miner's samples to find the few past the watermark.
    """
    unfolded = (
        select(MinerSample)
        .where(
            col(MinerSample.miner_id) == bindparam("miner_id"),
            col(MinerSample.id) > watermark_sql(),
        )
        .cte("unfolded")
        .prefix_with("MATERIALIZED")
    )
    return _per_bucket(dialect_name, ClauseAdapter(unfolded).traverse, "first_at", "end_at")


@cache
def _sample_query(dialect_name: str) -> Select[Any]:
    """A miner's samples in [since, until), aggregated per bucket like rollup rows."""
    return _per_bucket(dialect_name, lambda column: column, "since", "until").where(
        col(MinerSample.miner_id) == bindparam("miner_id")
    )


def _per_bucket(
    dialect_name: str, source: Callable[[Any], Any], since: str, until: str
) -> Select[Any]:
    """Sample rows (minersample's columns as `source` maps them: the table itself, or a CTE
    of its rows) in [`since`, `until`) (bound parameters of those names), aggregated per
    bucket of the series grid like rollup rows."""
    recorded_at = col(MinerSample.recorded_at)
    seconds = epoch_seconds_sql(recorded_at, dialect_name)
    origin = bindparam("origin", type_=BigInteger)
    width = bindparam("seconds", type_=BigInteger)
    # Whole seconds suffice: buckets start on whole seconds, and samples are never before
    # the origin, so the integer division is the floor.
    bucket = source(cast((seconds - origin) // width, BigInteger)).label("bucket")
    in_range = and_(
        recorded_at >= bindparam(since, type_=UTCDateTime()),
        recorded_at < bindparam(until, type_=UTCDateTime()),
    )
    return (
        select(bucket, *(source(aggregate) for aggregate in sample_aggregates()))
        .where(source(in_range))
        .group_by(bucket)
    )


def _merged(rows: Iterable[BucketRow], plan: BucketPlan) -> tuple[list[float], dict[str, Any]]:
    """Merge bucket rows (a bucket can come from the rollup and from an edge's samples)."""
    merged: dict[int, list[Any]] = {}
    for row in rows:
        bucket, values = int(row[0]), row[1:]
        if bucket in merged:
            merge_aggregates(merged[bucket], values)
        else:
            merged[bucket] = list(values)
    buckets = sorted(merged)
    t = [float(plan.origin + bucket * plan.seconds) for bucket in buckets]
    # One tuple per aggregate column, across the buckets in time order.
    columns = list(zip(*(merged[bucket] for bucket in buckets), strict=True))
    if not columns:
        columns = [()] * (4 * len(SERIES_NAMES))
    series = {}
    for position, name in enumerate(SERIES_NAMES):
        counts, lows, highs, totals = columns[4 * position : 4 * position + 4]
        series[name] = SeriesStats(
            min=list(lows),
            max=list(highs),
            avg=[
                total / count if count else None
                for count, total in zip(counts, totals, strict=True)
            ],
        )
    return t, series


def _raw(
    session: Session, in_window: ColumnElement[bool]
) -> tuple[list[float], dict[str, SeriesStats]]:
    columns = (
        "recorded_at",
        "hashrate_1m",
        "hashrate_15m",
        "temperature_c",
        "shares_accepted",
        "shares_rejected",
        "shares_stale",
        "latency_ms",
        "power_w",
        "fan_rpm",
    )
    query = select(*(col(getattr(MinerSample, name)) for name in columns)).where(in_window)
    rows = session.execute(query.order_by(col(MinerSample.recorded_at))).all()
    values: dict[str, list[float | None]] = {name: [] for name in SERIES_NAMES}
    for _, h1, h15, temperature, accepted, rejected, stale, latency, power, fan in rows:
        effective = effective_hashrate(h1, h15, stale_rate(accepted, stale))
        values["hashrate1m"].append(h1)
        values["hashrate15m"].append(h15)
        values["effectiveHashrate"].append(effective)
        values["temperatureC"].append(temperature)
        values["sharesAccepted"].append(accepted)
        values["sharesRejected"].append(rejected)
        values["sharesStale"].append(stale)
        values["latencyMs"].append(latency)
        values["powerW"].append(power)
        values["fanRpm"].append(fan)
        values["efficiencyJPerTH"].append(efficiency_j_per_th(power, effective))
    t = [round(row[0].timestamp(), 6) for row in rows]
    # One sample per point: its min, max and average are the value itself.
    series = {name: SeriesStats(min=v, max=v, avg=v) for name, v in values.items()}
    return t, series
