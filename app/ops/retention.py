"""Retention: delete old samples (and their rollup), events, status history, alert history
and audit rows in batches; on PostgreSQL, drop the whole day partitions of samples, rollup
and events first (app/ops/partitions.py).

Each batch is its own short transaction, so ingest (which needs the write lock on SQLite, and
row locks on PostgreSQL) waits at most one batch, never the whole prune.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, update
from sqlmodel import Session, col, select

from app.alerts.retention import prune_alert_history
from app.audit.retention import prune_audit
from app.core.batched_delete import delete_in_batches
from app.miners.rollup import prune_rollup
from app.models import AgentEvent, AgentMemorySample, AgentStatusChange, Miner, MinerSample
from app.ops import partitions

BATCH_SIZE = 5_000

# Called after each batch with the table's label and the rows deleted from it so far.
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class PruneResult:
    """What one prune removed, and how the miner pointers were kept consistent."""

    samples: int
    memory_samples: int
    events: int
    status_changes: int
    miners_repointed: int
    miners_removed: int
    rollup_buckets: int = 0
    # Resolved incidents and sent or failed notifications, under the events' retention.
    incidents: int = 0
    notifications: int = 0
    audit_rows: int = 0
    # The first broken audit row, when one stopped the audit prune (app/audit/retention.py).
    audit_refused: int | None = None


def prune(
    *,
    session: Session,
    now: datetime,
    samples_days: int,
    events_days: int,
    audit_days: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> PruneResult:
    """Delete miner and agent-memory samples (and rollup buckets) older than `samples_days`,
    events, status history, resolved incidents and finished notifications older than
    `events_days`, audit rows older than `audit_days`
    (None: keep them all); then re-point (or remove) miners whose newest sample went."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = progress or (lambda _label, _count: None)
    sample_cutoff = now - timedelta(days=samples_days)
    event_cutoff = now - timedelta(days=events_days)
    targets = (
        ("samples", MinerSample.id, MinerSample.recorded_at, sample_cutoff),
        ("memory samples", AgentMemorySample.id, AgentMemorySample.recorded_at, sample_cutoff),
        ("events", AgentEvent.id, AgentEvent.at, event_cutoff),
        ("status history", AgentStatusChange.id, AgentStatusChange.at, event_cutoff),
    )
    whole_days = {
        table: _drop_whole_days(session, table, cutoff, label, report)
        for table, cutoff, label in (
            ("minersample", sample_cutoff, "samples"),
            ("minersamplerollup", sample_cutoff, "rollup buckets"),
            ("agentevent", event_cutoff, "events"),
        )
    }
    samples, memory_samples, events, changes = (
        _delete_older(session, key, moment, cutoff, batch_size, label, report)
        for label, key, moment, cutoff in targets
    )
    samples += whole_days["minersample"]
    events += whole_days["agentevent"]
    # After the samples, so the minute holding the cutoff is rebuilt from what is left.
    rollup_buckets = whole_days["minersamplerollup"] + prune_rollup(
        session=session, cutoff=sample_cutoff, batch_size=batch_size
    )
    if rollup_buckets:
        report("rollup buckets", rollup_buckets)
    repointed, removed = repair_miner_pointers(session=session)
    alerts = prune_alert_history(
        session=session, cutoff=event_cutoff, batch_size=batch_size, progress=report
    )
    audit = (
        prune_audit(
            session=session, now=now, days=audit_days, batch_size=batch_size, progress=report
        )
        if audit_days is not None
        else None
    )
    return PruneResult(
        samples=samples,
        memory_samples=memory_samples,
        events=events,
        status_changes=changes,
        miners_repointed=repointed,
        miners_removed=removed,
        rollup_buckets=rollup_buckets,
        incidents=alerts.incidents,
        notifications=alerts.notifications,
        audit_rows=audit.deleted if audit is not None else 0,
        audit_refused=audit.refused.broken_id if audit and audit.refused else None,
    )


def _drop_whole_days(
    session: Session, table: str, cutoff: datetime, label: str, report: Progress
) -> int:
    """On PostgreSQL, drop `table`'s day partitions wholly older than `cutoff` (one short
    transaction each); the batched delete then only visits the day holding the cutoff and
    the DEFAULT partition. Returns the rows dropped (0 where the table is not partitioned)."""
    total = 0
    for name in partitions.expired_partitions(session.connection(), table, cutoff):
        total += partitions.drop_partition(session.connection(), name)
        session.commit()
        report(label, total)
    session.commit()  # ends the catalog read's transaction when nothing was dropped
    return total


def _delete_older(
    session: Session,
    key: Any,
    moment: Any,
    cutoff: datetime,
    batch_size: int,
    label: str,
    report: Progress,
) -> int:
    return delete_in_batches(
        session, key, moment < cutoff, batch_size=batch_size, on_batch=lambda n: report(label, n)
    )


def repair_miner_pointers(*, session: Session) -> tuple[int, int]:
    """Point each miner whose newest sample is gone at its newest remaining one, or remove it.

    Returns (re-pointed, removed). Each miner is fixed in its own transaction, and only while
    its pointer is still dangling: a sample ingested meanwhile has already moved it.
    """
    pointed = select(col(MinerSample.id)).where(col(MinerSample.id) == col(Miner.last_sample_id))
    dangling_rule = or_(col(Miner.last_sample_id).is_(None), ~exists(pointed))
    dangling = session.exec(select(col(Miner.miner_id)).where(dangling_rule)).all()
    repointed = removed = 0
    for miner_id in dangling:
        newest = session.exec(
            select(col(MinerSample.id), col(MinerSample.recorded_at))
            .where(col(MinerSample.miner_id) == miner_id)
            .order_by(col(MinerSample.recorded_at).desc(), col(MinerSample.id).desc())
            .limit(1)
        ).first()
        this_miner = col(Miner.miner_id) == miner_id
        if newest is None:
            has_samples = exists(
                select(MinerSample.id).where(col(MinerSample.miner_id) == miner_id)
            )
            result = session.exec(delete(Miner).where(this_miner, ~has_samples))
            removed += int(result.rowcount or 0)
        else:
            result = session.exec(
                update(Miner)
                .where(this_miner, dangling_rule)
                .values(last_sample_id=newest[0], last_recorded_at=newest[1])
            )
            repointed += int(result.rowcount or 0)
        session.commit()
    return repointed, removed
