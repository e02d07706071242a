"""Retention of the audit log: the oldest rows go in batches, their last hash stays.

Rows older than PRISM_RETENTION_AUDIT_DAYS are deleted from the start of the chain, each
batch in its own short transaction that also moves the checkpoint (the chain row's
pruned_id / pruned_hash) to the last row deleted: verification starts there. A batch is
checked before it goes, so retention never erases the evidence of a tampered row: it stops
at the first broken one and says which.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.audit import chain
from app.audit.verify import Verification, verify_chain
from app.models.audit import GENESIS_HASH, AuditChain, AuditEvent

BATCH_SIZE = 5_000
Progress = Callable[[str, int], None]
LABEL = "audit rows"


@dataclass(frozen=True)
class AuditPruneResult:
    deleted: int
    # Set when a broken row stopped the prune (nothing from it on was deleted).
    refused: Verification | None = None


def prune_audit(
    *,
    session: Session,
    now: datetime,
    days: int,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> AuditPruneResult:
    """Delete audit rows older than `days` from the start of the chain; the checkpoint follows."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = now - timedelta(days=days)
    total = 0
    while True:
        deleted, refused = _prune_batch(session, cutoff=cutoff, now=now, batch_size=batch_size)
        session.commit()
        total += deleted
        if deleted and progress is not None:
            progress(LABEL, total)
        if refused is not None or deleted < batch_size:
            return AuditPruneResult(total, refused)


def _prune_batch(
    session: Session, *, cutoff: datetime, now: datetime, batch_size: int
) -> tuple[int, Verification | None]:
    stored = chain.read_chain(session)
    pruned_id = stored.pruned_id if stored is not None else 0
    expected_prev = stored.pruned_hash if stored is not None else GENESIS_HASH
    rows = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.id) > pruned_id)
        .order_by(col(AuditEvent.id))
        .limit(batch_size)
    ).all()
    last: AuditEvent | None = None
    for event in rows:
        if event.at >= cutoff:
            break
        if (
            event.id != pruned_id + 1
            or event.prev_hash != expected_prev
            or (chain.event_hash(event) != event.hash)
        ):
            return _delete_through(session, last, now), _broken(session)
        pruned_id, expected_prev, last = event.id, event.hash, event
    return _delete_through(session, last, now), None


def _delete_through(session: Session, last: AuditEvent | None, now: datetime) -> int:
    """Delete the rows up to `last` and make it the checkpoint; how many went."""
    if last is None:
        return 0
    # Holds the chain row (and makes it, for a database that lost it) before rows go.
    chain.lock_head(session)
    result = session.exec(delete(AuditEvent).where(col(AuditEvent.id) <= last.id))
    session.exec(
        update(AuditChain)
        .where(col(AuditChain.id) == chain.CHAIN_ROW_ID)
        .values(pruned_id=last.id, pruned_hash=last.hash, pruned_at=now)
    )
    return int(result.rowcount or 0)


def _broken(session: Session) -> Verification:
    """What verification says about the chain a prune stopped in (flushed, not committed)."""
    session.flush()
    return verify_chain(session=session)
