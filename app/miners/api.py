"""Miners: sample ingest (REST and the miner bridge), latest samples, tiles, list, series."""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlmodel import Session

from app.alerts.health import miner_health
from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, IngestPrincipal, ReadPrincipal
from app.core import downsampling
from app.core.config import Settings
from app.core.deps import ClockDep, GroupWriteDep, MetricsDep, PageDep, SessionDep, SettingsDep
from app.core.errors import UnprocessableError
from app.core.group_commit import GroupKind, GroupWrite
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.telemetry import Metrics
from app.core.timeutil import UTCDateTime, utcnow
from app.core.validators import SafeId
from app.live.broadcaster import Publisher
from app.live.deps import BroadcasterDep, PublisherDep
from app.miners import admin as miner_admin
from app.miners import queries as miner_queries
from app.miners import series
from app.miners.ingest import accept_samples, checked_rows, live_messages, record_samples
from app.models.miner import (
    BatchAccepted,
    BridgeEventIn,
    BridgeSample,
    IngestAccepted,
    LatestSamples,
    MinerFields,
    MinerListItem,
    MinerPage,
    MinerSampleBatchIn,
    MinerSampleIn,
    MinerSeries,
    MinerTiles,
)

# A JSON body without Content-Type is read as JSON, as the earlier service read it (its
# miners and bridge send none; appendix A). No cookie-authenticated write is possible
# without the X-CSRF-Token header, so this opens no cross-site form posts.
router = APIRouter(tags=["miners"], route_class=AuthFirstRoute, strict_content_type=False)

DEFAULT_TILES_MINER = "xmrig"
_TIME_FORMS = "ISO-8601 (Z or offset; naive = UTC), a date, or unix seconds"

MinerFilter = Annotated[
    str | None,
    Query(
        max_length=128,
        description="Only this miner (empty: every miner, as before; unknown: an empty list).",
    ),
]
TilesMiner = Annotated[str, Query(max_length=128, description="The miner shown.")]
# Every ingest can also answer these: a body that is not JSON, over PRISM_MAX_BODY_BYTES or
# over the ingest rate limit, a database that is locked or down.
_INGEST_ERRORS = errors(400, 401, 403, 413, 429, 503)


def _ingest(
    samples: Sequence[tuple[str, MinerSampleIn | BridgeSample]],
    session: Session,
    settings: Settings,
    broadcaster: Publisher,
    metrics: Metrics,
) -> int:
    """Store the samples (all or nothing), count them, then tell the live stream."""
    rows = accept_samples(
        session=session,
        samples=samples,
        now=utcnow(),
        max_skew_seconds=settings.max_clock_skew_seconds,
    )
    _announce(rows, broadcaster, metrics)
    return len(rows)


def _announce(rows: Sequence[Mapping[str, Any]], broadcaster: Publisher, metrics: Metrics) -> None:
    metrics.count_ingest("sample", len(rows))
    # Building the messages (tiles included) cost a tenth of a batch: only for listeners.
    if broadcaster.has_audience:
        for message in live_messages(rows, utcnow()):
            broadcaster.publish(message)


def _write_sample_groups(
    session: Session, groups: Sequence[Sequence[Mapping[str, Any]]]
) -> list[None]:
    # Every request's rows in ONE record_samples(): one insert, one pointer upsert per miner.
    record_samples(session=session, rows=[row for rows in groups for row in rows])
    return [None] * len(groups)


def _write_samples(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    record_samples(session=session, rows=rows)


# First in a shared transaction (app/agents/api/ingest.py has the others): record_samples
# locks miners in miner order.
SAMPLES = GroupKind("sample", 0, _write_sample_groups, _write_samples)


async def _ingest_one(
    prefix: str,
    sample: MinerSampleIn | BridgeSample,
    settings: Settings,
    broadcaster: Publisher,
    metrics: Metrics,
    writes: GroupWrite,
) -> None:
    """One sample through the group writer: checked here, stored with concurrent others."""
    rows = checked_rows(
        [(prefix, sample)], now=utcnow(), max_skew_seconds=settings.max_clock_skew_seconds
    )
    await writes.write(SAMPLES, rows)
    writes.after_commit(lambda: _announce(rows, broadcaster, metrics))


@router.post(
    "/api/miners/sample",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAccepted,
    responses=_INGEST_ERRORS,
    tags=["ingest"],
    summary="Record one miner sample",
    description="snake_case keys; `timestamp` defaults to now and `shares_stale` to "
    "`shares_rejected`; unknown keys are ignored. A time more than "
    "PRISM_MAX_CLOCK_SKEW_SECONDS in the future is 422.",
)
async def ingest_sample(
    body: MinerSampleIn,
    _: IngestPrincipal,
    settings: SettingsDep,
    broadcaster: BroadcasterDep,
    metrics: MetricsDep,
    writes: GroupWriteDep,
) -> IngestAccepted:
    await _ingest_one("", body, settings, broadcaster, metrics, writes)
    return IngestAccepted()


@router.post(
    "/api/miners/samples",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    responses=_INGEST_ERRORS,
    tags=["ingest"],
    summary="Record a batch of miner samples, all or nothing",
    description="Each sample as for /api/miners/sample. One invalid sample rejects the whole "
    "batch (422 naming its index and field, e.g. `samples.3.timestamp`) and nothing is "
    "stored; more than PRISM_MAX_BATCH_SAMPLES samples is 422 naming `samples`, as for "
    "events.",
)
def ingest_samples(
    body: MinerSampleBatchIn,
    _: IngestPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
    metrics: MetricsDep,
) -> BatchAccepted:
    limit = settings.max_batch_samples
    if len(body.samples) > limit:
        metrics.ingest_rejected.labels(kind="sample", reason="too_large").inc()
        raise UnprocessableError(
            f"samples: at most {limit} samples per request, got {len(body.samples)}"
        )
    samples = [(f"samples.{index}.", sample) for index, sample in enumerate(body.samples)]
    count = _ingest(samples, session, settings, broadcaster, metrics)
    return BatchAccepted(count=count)


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAccepted,
    responses=_INGEST_ERRORS,
    tags=["ingest"],
    summary="The miner bridge's envelope",
    description='`{"topic": "miner.sample", "payload": {"sample": {"miner", "ts", ...}}}`, '
    "stored as a miner sample (`miner` is the miner_id, `ts` the time). The bridge's "
    "`shares_total` and `stale_rate` are ignored: the console derives them. An unknown "
    "topic is 422.",
)
async def bridge_event(
    body: BridgeEventIn,
    _: IngestPrincipal,
    settings: SettingsDep,
    broadcaster: BroadcasterDep,
    metrics: MetricsDep,
    writes: GroupWriteDep,
) -> IngestAccepted:
    await _ingest_one(
        "payload.sample.", body.payload.sample, settings, broadcaster, metrics, writes
    )
    return IngestAccepted()


@router.get(
    "/api/miners/latest",
    response_model=LatestSamples,
    responses=errors(401, 403),
    summary="The newest sample of every miner, by miner_id",
)
def latest(_: ReadPrincipal, session: SessionDep, miner_id: MinerFilter = None) -> LatestSamples:
    # `?miner_id=` (empty) meant no filter to the earlier service's clients (appendix A).
    samples = miner_queries.latest_samples(session=session, miner_id=miner_id or None)
    return LatestSamples(samples=samples, generated_at=utcnow())


def _tiles(session: Session, miner_id: str) -> MinerTiles:
    return miner_queries.miner_tiles(session=session, miner_id=miner_id, now=utcnow())


@router.get(
    "/api/miners/tiles",
    response_model=MinerTiles,
    responses=errors(401, 403, 404),
    summary="Dashboard tiles of a miner's newest sample",
)
def tiles(
    _: ReadPrincipal, session: SessionDep, miner_id: TilesMiner = DEFAULT_TILES_MINER
) -> MinerTiles:
    return _tiles(session, miner_id)


@router.get(
    "/miners/tiles",
    response_model=MinerTiles,
    responses=errors(404),
    summary="Dashboard tiles of a miner's newest sample (public, no token)",
    description="Public for wall displays, as in the earlier service; same answer as "
    "/api/miners/tiles.",
)
def public_tiles(session: SessionDep, miner_id: TilesMiner = DEFAULT_TILES_MINER) -> MinerTiles:
    return _tiles(session, miner_id)


@router.get(
    "/api/miners",
    response_model=MinerPage,
    responses=errors(401, 403),
    summary="Miners by id, each with its newest sample, state and health",
    description="state: `stale` when no sample arrived for PRISM_AGENT_OFFLINE_AFTER "
    "seconds; otherwise the worst tile intent (`critical`, `warning`), else `ok`. health: "
    "the alert rules' judgement (SPEC §11), as every page and count shows it. Keyset "
    "pages: pass `nextCursor` as `cursor`.",
)
def list_miners(
    _: ReadPrincipal, session: SessionDep, settings: SettingsDep, page: PageDep
) -> MinerPage:
    now = utcnow()
    items, next_cursor = miner_queries.list_miners(
        session=session,
        now=now,
        stale_after=settings.agent_offline_after,
        limit=page.limit or DEFAULT_LIMIT,
        cursor=page.cursor,
    )
    # One judgement for the whole page: a fixed number of queries, not one per miner.
    healths = miner_health(session, now=now, miner_ids=[item.miner_id for item in items])
    return MinerPage(
        items=[MinerListItem(**dict(item), health=healths[item.miner_id]) for item in items],
        next_cursor=encode_cursor(next_cursor) if next_cursor else None,
    )


@router.put(
    "/api/miners/{miner_id}",
    response_model=MinerListItem,
    responses=errors(400, 401, 403, 404),
    summary="Set a miner's expected hashrate, name and location",
    description="Replaces all three (a field left out or null is cleared; an unknown key is "
    "422). `expectedHashrate` (H/s, above 0) is what `percentOfExpected` and the hashrate "
    "rule compare against. 404 when the miner never sent a sample. Audited as "
    "`miner.update`.",
)
def update_miner(
    miner_id: SafeId,
    body: MinerFields,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> MinerListItem:
    now = clock()
    miner_admin.update_miner(session=session, miner_id=miner_id, data=body, actor=actor, now=now)
    item = miner_queries.one_miner(
        session=session, miner_id=miner_id, now=now, stale_after=settings.agent_offline_after
    )
    health = miner_health(session, now=now, miner_ids=[miner_id])[miner_id]
    return MinerListItem(**dict(item), health=health)


@router.get(
    "/api/miners/{miner_id}/series",
    response_model=MinerSeries,
    responses=errors(401, 403, 404),
    summary="A miner's metrics over time, downsampled for charts",
    description="At most `points` points per metric over [since, until) (default: the last "
    "24 hours). Each point is a time bucket with the min, max and average of its samples, "
    "so spikes survive downsampling; empty buckets are left out; with no more samples "
    "than `points` the raw samples are returned (`bucketSeconds` null). `t` holds unix "
    "seconds (uPlot's x axis). 404 when the miner never sent a sample; 422 when since is "
    "not before until.",
)
def miner_series(
    miner_id: SafeId,
    _: ReadPrincipal,
    session: SessionDep,
    since: Annotated[
        UTCDateTime | None, Query(description=f"Start (inclusive): {_TIME_FORMS}.")
    ] = None,
    until: Annotated[
        UTCDateTime | None, Query(description=f"End (exclusive; default now): {_TIME_FORMS}.")
    ] = None,
    points: Annotated[
        int, Query(ge=1, le=series.MAX_POINTS, description="Most points per metric.")
    ] = series.DEFAULT_POINTS,
) -> MinerSeries:
    since, until = downsampling.resolve_window(since, until, utcnow())
    return series.miner_series(
        session=session, miner_id=miner_id, since=since, until=until, points=points
    )
