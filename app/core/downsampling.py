"""Time-series downsampling in SQL that keeps spikes: min, max and average per bucket.

The window is cut into at most N equal buckets and each bucket keeps the min, the max and
the average of every metric: a one-sample spike stays visible in `max` however far the
chart is zoomed out. Buckets are aligned to multiples of their width in unix time, so a
chart refreshing every few seconds sees the same buckets, not a grid that shifts with now.
Used by the miner series and the agent memory series.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Float, Integer, cast, func
from sqlmodel import Session, select

from app.core.errors import UnprocessableError


class SeriesStats(BaseModel):
    """One downsampled series: min[i], max[i] and avg[i] belong to the chart's t[i]."""

    min: list[float | None]
    max: list[float | None]
    avg: list[float | None]


DEFAULT_WINDOW = timedelta(hours=24)
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class BucketPlan:
    """Bucket i covers [origin + i * seconds, origin + (i + 1) * seconds) in unix seconds."""

    origin: int
    seconds: int


def resolve_window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The window asked for: `until` defaults to now, `since` to 24 hours before `until`."""
    until = until or now
    since = since or until - DEFAULT_WINDOW
    if since >= until:
        raise UnprocessableError("since: must be earlier than until")
    return since, until


def plan_buckets(since: datetime, until: datetime, points: int) -> BucketPlan:
    """Whole-second buckets aligned to their width, at most `points` of them over the window."""
    start, end = since.timestamp(), until.timestamp()
    if points == 1:
        origin = math.floor(start)
        return BucketPlan(origin=origin, seconds=max(1, math.ceil(end - origin)))
    seconds = max(1, math.ceil((end - start) / (points - 1)))
    while True:
        origin = math.floor(start / seconds) * seconds
        # Aligning the grid adds at most one bucket; keep a margin for float rounding in SQL.
        if end - origin <= (points - 0.001) * seconds:
            return BucketPlan(origin=origin, seconds=seconds)
        seconds += 1


def epoch_seconds(column: Any, dialect_name: str) -> ColumnElement[float]:
    """Unix seconds of a UTC datetime column, in the engine's own SQL."""
    if dialect_name == "postgresql":
        # date_part() answers double precision; extract() builds a slower NUMERIC.
        return func.date_part("epoch", column)
    # SQLite stores UTC text; julianday() parses it (to the millisecond).
    return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


def bucket_index(column: Any, dialect_name: str, plan: BucketPlan) -> ColumnElement[int]:
    offset = (epoch_seconds(column, dialect_name) - plan.origin) / plan.seconds
    # The offset is never negative (rows start at `since` ≥ origin), so SQLite's
    # truncating CAST is a floor; PostgreSQL's CAST rounds, hence floor() there.
    if dialect_name == "postgresql":
        return cast(func.floor(offset), Integer)
    return cast(offset, Integer)


def more_rows_than(
    session: Session, *, id_column: Any, where: ColumnElement[bool], limit: int
) -> bool:
    """Whether more than `limit` rows match, counting no further than limit + 1."""
    capped = select(id_column).where(where).limit(limit + 1).subquery()
    return session.exec(select(func.count()).select_from(capped)).one() > limit


def bucketed(
    session: Session,
    *,
    time_column: Any,
    metrics: Sequence[tuple[str, Any]],
    where: ColumnElement[bool],
    plan: BucketPlan,
) -> tuple[list[float], dict[str, SeriesStats]]:
    """min/max/avg of each (name, SQL expression) per bucket; empty buckets are omitted."""
    dialect_name = session.get_bind().dialect.name
    bucket = bucket_index(time_column, dialect_name, plan).label("bucket")
    columns: list[Any] = [bucket]
    for _, value in metrics:
        # avg() of integers is NUMERIC on PostgreSQL: cast so every engine answers floats.
        columns += [func.min(value), func.max(value), cast(func.avg(value), Float)]
    rows = session.exec(select(*columns).where(where).group_by(bucket).order_by(bucket)).all()
    t = [float(plan.origin + row[0] * plan.seconds) for row in rows]
    series = {}
    for position, (name, _) in enumerate(metrics):
        first = 1 + 3 * position
        series[name] = SeriesStats(
            min=[row[first] for row in rows],
            max=[row[first + 1] for row in rows],
            avg=[row[first + 2] for row in rows],
        )
    return t, series
