"""Verification of the chain: every row's hash, every link, the checkpoint and the head.

A row changed by hand no longer matches its hash; a row deleted breaks the next row's link
(or, the last one, the head); a row inserted by hand has a hash or a link that does not fit.
Verification starts from the retention checkpoint, so pruned rows are not missed.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.audit import chain
from app.models.audit import GENESIS_HASH, AuditEvent

BATCH_SIZE = 1_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Verification:
    """The outcome: `rows` verified, or the first broken row and what is wrong with it."""

    rows: int
    broken_id: int | None = None
    problem: str | None = None
    pruned_id: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    *, session: Session, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> Verification:
    """Walk the whole chain in id order, in batches (a long log never sits in memory)."""
    stored = chain.read_chain(session)
    pruned_id = stored.pruned_id if stored is not None else 0
    expected_prev = stored.pruned_hash if stored is not None else GENESIS_HASH
    expected_id = pruned_id + 1
    rows = 0
    last_id = pruned_id
    inside = session.exec(
        select(col(AuditEvent.id))
        .where(col(AuditEvent.id) <= pruned_id)
        .order_by(col(AuditEvent.id))
    ).first()
    if inside is not None:
        inside_problem = f"row {inside} lies in the pruned part of the chain (up to {pruned_id})"
        return Verification(0, inside, inside_problem, pruned_id)
    while True:
        batch = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.id) > last_id)
            .order_by(col(AuditEvent.id))
            .limit(batch_size)
        ).all()
        for event in batch:
            row_problem = _problem(event, expected_id=expected_id, expected_prev=expected_prev)
            if row_problem is not None:
                return Verification(rows, event.id, row_problem, pruned_id)
            expected_prev, expected_id, last_id = event.hash, event.id + 1, event.id
            rows += 1
        if progress is not None and batch:
            progress(rows)
        if len(batch) < batch_size:
            break
    if stored is not None:
        end_problem = _head_problem(stored.head_id, stored.head_hash, last_id, expected_prev)
        if end_problem is not None:
            broken_id, message = end_problem
            return Verification(rows, broken_id, message, pruned_id)
    return Verification(rows, pruned_id=pruned_id)


def _head_problem(
    head_id: int, head_hash: str, last_id: int, last_hash: str
) -> tuple[int, str] | None:
    """The chain's end against the head its writers advanced (None: they agree)."""
    if last_id > head_id:
        return head_id + 1, (
            f"row {head_id + 1} comes after the chain's head (row {head_id}): "
            "written without the audit service"
        )
    if last_id < head_id:
        return last_id + 1, (
            f"rows {last_id + 1}..{head_id} are missing at the end of the chain (its head is "
            f"row {head_id})"
        )
    if head_hash != last_hash:
        return head_id, f"row {head_id} is not the row the chain's head recorded"
    return None


def _problem(event: AuditEvent, *, expected_id: int, expected_prev: str) -> str | None:
    if event.id > expected_id:
        return f"rows {expected_id}..{event.id - 1} are missing before row {event.id}"
    if event.prev_hash != expected_prev:
        return f"row {event.id} does not link to the row before it (prevHash differs)"
    if chain.event_hash(event) != event.hash:
        return f"row {event.id} was changed after it was written (its hash does not match)"
    return None
