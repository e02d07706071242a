"""The hash chain: canonical form of a row, its hash, and the head every writer appends to.

hash = SHA-256(prevHash + canonical JSON of the row), the row being every column but
prevHash and hash (id included: a row renumbered by hand breaks too), with sorted keys,
no whitespace and one datetime format.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.core.timeutil import as_utc
from app.models.audit import GENESIS_HASH, AuditChain, AuditEvent

CHAIN_ROW_ID = 1
_CHAIN: Table = AuditChain.__table__  # type: ignore[attr-defined]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_at(at: datetime) -> str:
    return as_utc(at).strftime(_AT_FORMAT)


def canonical_json(event: AuditEvent) -> str:
    body: dict[str, Any] = {
        "id": event.id,
        "at": format_at(event.at),
        "actor": event.actor,
        "actorId": event.actor_id,
        "scope": event.scope,
        "action": event.action,
        "targetType": event.target_type,
        "targetId": event.target_id,
        "summary": event.summary,
        "detail": event.detail,
        "ip": event.ip,
        "requestId": event.request_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def event_hash(event: AuditEvent, prev_hash: str | None = None) -> str:
    prev = event.prev_hash if prev_hash is None else prev_hash
    return hashlib.sha256((prev + canonical_json(event)).encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    id: int
    hash: str


def lock_head(session: Session) -> Head:
    """The chain's last row, read while holding the chain row for this transaction.

    The UPDATE is the lock on both engines. On PostgreSQL it waits for the row lock of any
    writer in flight, and RETURNING gives the row as that writer committed it (READ
    COMMITTED re-reads it). On SQLite it is a write: pysqlite begins the transaction at its
    first write, so this statement either is that first write (taking the database's write
    lock and reading under it, in one statement) or comes after one (the lock is held
    already); either way the head it returns cannot move before this transaction commits.
    A SELECT first would read a snapshot another writer may still move.

    Core statements on the table, not ORM ones: the ORM's bulk-update bookkeeping cost more
    than the statements themselves.
    """
    # The caller's change goes first, so locks are taken change-first by every writer.
    session.flush()
    locked = session.execute(
        update(_CHAIN)
        .where(_CHAIN.c.id == CHAIN_ROW_ID)
        .values(head_id=_CHAIN.c.head_id)
        .returning(_CHAIN.c.head_id, _CHAIN.c.head_hash)
    ).first()
    if locked is None:
        _create_chain_row(session)
        return lock_head(session)
    return Head(id=int(locked[0]), hash=str(locked[1]))


def _create_chain_row(session: Session) -> None:
    """The chain row of a database that lost it (emptied tables): head = the last event."""
    last = session.exec(
        select(col(AuditEvent.id), col(AuditEvent.hash)).order_by(col(AuditEvent.id).desc())
    ).first()
    head_id, head_hash = (int(last[0]), str(last[1])) if last is not None else (0, GENESIS_HASH)
    values = {"id": CHAIN_ROW_ID, "head_id": head_id, "head_hash": head_hash}
    dialect = session.get_bind().dialect.name
    insert_ignoring = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_ignoring(_CHAIN).values(**values).on_conflict_do_nothing())


def append(session: Session, event: AuditEvent) -> None:
    """INSERT the row (a Core statement: see lock_head) and make it the chain's head."""
    values = {column.name: getattr(event, column.name) for column in _EVENTS.columns}
    session.execute(insert(_EVENTS).values(**values))
    advance_head(session, event)


def advance_head(session: Session, event: AuditEvent) -> None:
    session.execute(
        update(_CHAIN)
        .where(_CHAIN.c.id == CHAIN_ROW_ID)
        .values(head_id=event.id, head_hash=event.hash)
    )


def read_chain(session: Session) -> AuditChain | None:
    return session.get(AuditChain, CHAIN_ROW_ID)
