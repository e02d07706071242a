"""A miner's time series for charts, downsampled in SQL so spikes survive (downsampling.py).

Windows holding no more samples than N return the raw samples instead.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, func
from sqlmodel import Session, col, select

from app.models import MinerSample
from app.models.base import SeriesStats
from app.models.miner import MinerSeries
from app.services.downsampling import (
    bucketed,
    more_rows_than,
    plan_buckets,
)
from app.services.miner_derived import effective_hashrate, stale_rate
from app.services.miner_queries import require_miner

DEFAULT_POINTS = 500
MAX_POINTS = 5000


def _effective_hashrate_sql() -> ColumnElement[Any]:
    """effective_hashrate() of miner_derived, as SQL over a sample row."""
    h1, h15 = col(MinerSample.hashrate_1m), col(MinerSample.hashrate_15m)
    accepted, stale = col(MinerSample.shares_accepted), col(MinerSample.shares_stale)
    baseline = case((and_(h1.is_not(None), h1 != 0), h1), else_=func.coalesce(h15, h1))
    rate = case(
        (accepted + stale > 0, cast(stale, Float) / (accepted + stale)), else_=cast(0, Float)
    )
    return baseline * (1 - rate)


SERIES_NAMES = (
    "hashrate1m",
    "hashrate15m",
    "effectiveHashrate",
    "temperatureC",
    "sharesAccepted",
    "sharesRejected",
    "sharesStale",
    "latencyMs",
)


def metric_expressions() -> list[Any]:
    """The SQL of each series, in the order of SERIES_NAMES."""
    return [
        col(MinerSample.hashrate_1m),
        col(MinerSample.hashrate_15m),
        _effective_hashrate_sql(),
        col(MinerSample.temperature_c),
        col(MinerSample.shares_accepted),
        col(MinerSample.shares_rejected),
        col(MinerSample.shares_stale),
        col(MinerSample.latency_ms),
    ]


def miner_series(
    *, session: Session, miner_id: str, since: datetime, until: datetime, points: int
) -> MinerSeries:
    """At most `points` points of every metric over [since, until); 404 for unknown miners."""
    require_miner(session=session, miner_id=miner_id)
    in_window = and_(
        col(MinerSample.miner_id) == miner_id,
        col(MinerSample.recorded_at) >= since,
        col(MinerSample.recorded_at) < until,
    )
    if not more_rows_than(session, id_column=col(MinerSample.id), where=in_window, limit=points):
        t, series = _raw(session, in_window)
        bucket_seconds = None
    else:
        plan = plan_buckets(since, until, points)
        metrics = list(zip(SERIES_NAMES, metric_expressions(), strict=True))
        t, series = bucketed(
            session,
            time_column=col(MinerSample.recorded_at),
            metrics=metrics,
            where=in_window,
            plan=plan,
        )
        bucket_seconds = plan.seconds
    return MinerSeries(
        miner_id=miner_id,
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        points=len(t),
        t=t,
        series=series,
    )


def _raw(
    session: Session, in_window: ColumnElement[bool]
) -> tuple[list[float], dict[str, SeriesStats]]:
    query = select(  # type: ignore[call-overload]
        MinerSample.recorded_at,
        MinerSample.hashrate_1m,
        MinerSample.hashrate_15m,
        MinerSample.temperature_c,
        MinerSample.shares_accepted,
        MinerSample.shares_rejected,
        MinerSample.shares_stale,
        MinerSample.latency_ms,
    ).where(in_window)
    rows = session.exec(query.order_by(col(MinerSample.recorded_at))).all()
    values: dict[str, list[float | None]] = {name: [] for name in SERIES_NAMES}
    for _, h1, h15, temperature, accepted, rejected, stale, latency in rows:
        values["hashrate1m"].append(h1)
        values["hashrate15m"].append(h15)
        values["effectiveHashrate"].append(effective_hashrate(h1, h15, stale_rate(accepted, stale)))
        values["temperatureC"].append(temperature)
        values["sharesAccepted"].append(accepted)
        values["sharesRejected"].append(rejected)
        values["sharesStale"].append(stale)
        values["latencyMs"].append(latency)
    t = [round(row[0].timestamp(), 6) for row in rows]
    # One sample per point: its min, max and average are the value itself.
    series = {name: SeriesStats(min=v, max=v, avg=v) for name, v in values.items()}
    return t, series
