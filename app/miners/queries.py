"""Miner reads: the one newest-sample join, tiles, the miner list, the fleet hashrate."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, select
from sqlmodel import Session, col

from app.core.errors import InvalidCursorError, NotFoundError
from app.core.timeutil import as_utc
from app.miners.derived import (
    SAMPLE_COLUMNS,
    efficiency_j_per_th,
    percent_of_expected,
    sample_out,
)
from app.miners.tiles import build_tiles, state_from_tiles
from app.models import Miner, MinerSample
from app.models.miner import MinerPublic, MinerSampleOut, MinerState, MinerTiles

NO_SAMPLES = "No samples recorded"
# The columns the output shows, read as values: loading ORM entities of the newest sample of
# every miner was a quarter of `latest`'s time.
_OUTPUT_COLUMNS: tuple[Any, ...] = tuple(col(getattr(MinerSample, name)) for name in SAMPLE_COLUMNS)


def newest_sample_select(*columns: Any, sampled_only: bool = False) -> Select[Any]:
    """SELECT `columns` from each miner joined to its newest sample: the one such join.

    The `miner` table points at each miner's newest sample, so this stays a primary-key
    join however many samples are stored. Outer (a miner without a sample gets NULL sample
    columns) unless `sampled_only`.
    """
    # The time too: on PostgreSQL's day partitions (app/ops/partitions.py) it lets each
    # lookup visit the one partition holding the sample instead of every partition's
    # index (measured: 18 ms instead of 326 ms for 2,000 miners over 14 days). The miner
    # row always carries its sample's recorded_at (ingest and retention set both).
    pointer = and_(
        col(MinerSample.id) == col(Miner.last_sample_id),
        col(MinerSample.recorded_at) == col(Miner.last_recorded_at),
    )
    return select(*columns).select_from(Miner).join(MinerSample, pointer, isouter=not sampled_only)


def latest_samples(*, session: Session, miner_id: str | None = None) -> list[MinerSampleOut]:
    """The newest sample of every miner (or of one), sorted by miner_id."""
    query = newest_sample_select(*_OUTPUT_COLUMNS, sampled_only=True)
    if miner_id is not None:
        query = query.where(col(Miner.miner_id) == miner_id)
    rows = session.execute(query.order_by(col(Miner.miner_id))).mappings().all()
    return [sample_out(dict(row)) for row in rows]


@dataclass(frozen=True)
class MinerNewest:
    """A miner, when it last reported, and its newest sample (None when it has none)."""

    miner_id: str
    last_seen_at: datetime
    sample: MinerSampleOut | None

    @property
    def hashrate(self) -> float | None:
        """The newest sample's effective hashrate; None without a sample or a rate."""
        return None if self.sample is None else self.sample.effective_hashrate


def newest_per_miner(*, session: Session) -> list[MinerNewest]:
    """Every miner by id with its newest sample (the fleet gauges and summary read this)."""
    query = newest_sample_select(
        col(Miner.miner_id).label("miner"),
        col(Miner.last_recorded_at).label("last_seen_at"),
        *_OUTPUT_COLUMNS,
    ).order_by(col(Miner.miner_id))
    return [
        MinerNewest(
            miner_id=row["miner"],
            last_seen_at=row["last_seen_at"],
            sample=None if row["recorded_at"] is None else sample_out(dict(row)),
        )
        for row in session.execute(query).mappings()
    ]


def fleet_hashrate(miners: Iterable[MinerNewest]) -> float:
    """The fleet's hashrate: each miner's newest effective hashrate, summed (none: 0)."""
    return sum((miner.hashrate or 0.0 for miner in miners), 0.0)


def miner_tiles(*, session: Session, miner_id: str, now: datetime) -> MinerTiles:
    """The tiles of one miner's newest sample; NotFoundError when it has none."""
    samples = latest_samples(session=session, miner_id=miner_id)
    if not samples:
        raise NotFoundError(NO_SAMPLES)
    latest = samples[0]
    return MinerTiles(
        miner_id=miner_id, updated_at=latest.recorded_at, tiles=build_tiles(latest, now)
    )


def require_miner(*, session: Session, miner_id: str) -> Miner:
    """The miner's row; NotFoundError when it never sent a sample."""
    miner = session.get(Miner, miner_id)
    if miner is None:
        raise NotFoundError(NO_SAMPLES)
    return miner


def miner_state(
    latest: MinerSampleOut | None, last_seen_at: datetime, now: datetime, stale_after: int
) -> MinerState:
    """`stale` after `stale_after` seconds without a sample, else the worst tile intent."""
    if latest is None or as_utc(last_seen_at) < as_utc(now) - timedelta(seconds=stale_after):
        return "stale"
    return state_from_tiles(build_tiles(latest, now))


def list_miners(
    *,
    session: Session,
    now: datetime,
    stale_after: int,
    limit: int,
    cursor: list[Any] | None = None,
) -> tuple[list[MinerPublic], list[Any] | None]:
    """Miners by id with their newest sample and state; the cursor is [last miner_id]."""
    query = newest_sample_select(Miner, MinerSample)
    if cursor is not None:
        if len(cursor) != 1 or not isinstance(cursor[0], str):
            raise InvalidCursorError()
        query = query.where(col(Miner.miner_id) > cursor[0])
    rows = session.execute(query.order_by(col(Miner.miner_id)).limit(limit + 1)).all()
    items = [
        miner_public(miner, sample, now=now, stale_after=stale_after)
        for miner, sample in rows[:limit]
    ]
    next_cursor = [items[-1].miner_id] if len(rows) > limit else None
    return items, next_cursor


# What the Miners page's rows show of every miner and its newest sample, read as values:
# ORM entities and API models of 1,000 miners cost more than the rest of the page.
FLEET_COLUMNS: tuple[Any, ...] = (
    col(Miner.miner_id),
    col(Miner.name),
    col(Miner.location),
    col(Miner.expected_hashrate),
    col(Miner.last_recorded_at),
    col(MinerSample.id).label("sample_id"),
    col(MinerSample.profile),
    col(MinerSample.pool),
    col(MinerSample.hashrate_1m),
    col(MinerSample.hashrate_15m),
    col(MinerSample.shares_accepted),
    col(MinerSample.shares_stale),
    col(MinerSample.temperature_c),
    col(MinerSample.power_w),
)


def fleet_columns(*, session: Session) -> list[Any]:
    """FLEET_COLUMNS of every miner by id (sample columns None once retention pruned it)."""
    query = newest_sample_select(*FLEET_COLUMNS).order_by(col(Miner.miner_id))
    return list(session.execute(query).all())


def one_miner(*, session: Session, miner_id: str, now: datetime, stale_after: int) -> MinerPublic:
    """One miner as the list shows it; NotFoundError when it never sent a sample."""
    query = newest_sample_select(Miner, MinerSample).where(col(Miner.miner_id) == miner_id)
    row = session.execute(query).first()
    if row is None:
        raise NotFoundError(NO_SAMPLES)
    return miner_public(row[0], row[1], now=now, stale_after=stale_after)


def miner_public(
    miner: Miner, sample: MinerSample | None, *, now: datetime, stale_after: int
) -> MinerPublic:
    """A miner row and its newest sample, with the figures derived from them (SPEC §14)."""
    latest = sample_out(sample) if sample is not None else None
    effective = latest.effective_hashrate if latest is not None else None
    power = sample.power_w if sample is not None else None
    return MinerPublic(
        miner_id=miner.miner_id,
        name=miner.name,
        location=miner.location,
        expected_hashrate=miner.expected_hashrate,
        first_seen_at=miner.first_seen_at,
        last_seen_at=miner.last_recorded_at,
        latest=latest,
        state=miner_state(latest, miner.last_recorded_at, now, stale_after),
        power_w=power,
        fan_rpm=sample.fan_rpm if sample is not None else None,
        efficiency_j_per_th=efficiency_j_per_th(power, effective),
        percent_of_expected=percent_of_expected(effective, miner.expected_hashrate),
    )
