"""Audit retention: the oldest rows go in batches, the checkpoint follows, the chain still
verifies; a broken row stops the prune before it; the scheduled retention job prunes too."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from app.audit.retention import prune_audit
from app.audit.service import Actor, record
from app.audit.verify import verify_chain
from app.core.config import Settings
from app.models.audit import AuditChain, AuditEvent
from app.ops.scheduler import retention_job

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ACTOR = Actor(name="ci", actor_id=None, scope="admin")


@pytest.fixture
def session(client: TestClient, engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _write(session: Session, count: int, days_ago: int) -> None:
    for _ in range(count):
        record(
            session,
            actor=ACTOR,
            action="a.b",
            target_type=None,
            target_id=None,
            summary="s",
            now=NOW - timedelta(days=days_ago),
        )
    session.commit()


def _ids(session: Session) -> list[int]:
    session.expire_all()
    return list(session.exec(select(AuditEvent.id).order_by(col(AuditEvent.id))).all())


def test_old_rows_go_in_batches_and_the_chain_verifies_from_the_checkpoint(
    session: Session,
) -> None:
    _write(session, 7, days_ago=400)
    _write(session, 2, days_ago=10)
    progress: list[int] = []
    result = prune_audit(
        session=session,
        now=NOW,
        days=365,
        batch_size=3,
        progress=lambda _label, total: progress.append(total),
    )
    assert (result.deleted, result.refused) == (7, None)
    assert progress == [3, 6, 7]
    assert _ids(session) == [8, 9]
    checkpoint = session.get(AuditChain, 1)
    assert checkpoint is not None
    assert (checkpoint.pruned_id, checkpoint.pruned_at) == (7, NOW)
    verified = verify_chain(session=session)
    assert (verified.ok, verified.rows, verified.pruned_id) == (True, 2, 7)
    # New rows continue the chain after the prune.
    _write(session, 1, days_ago=0)
    assert _ids(session) == [8, 9, 10]
    assert verify_chain(session=session).ok
    # Pruning everything keeps the head: the next row is 11, and verification still holds.
    assert prune_audit(session=session, now=NOW + timedelta(days=800), days=1).deleted == 3
    assert verify_chain(session=session).ok
    _write(session, 1, days_ago=0)
    assert _ids(session) == [11]
    assert verify_chain(session=session).ok


def test_a_tampered_row_stops_the_prune_and_stays(session: Session, engine: Engine) -> None:
    _write(session, 5, days_ago=400)
    with engine.begin() as connection:
        connection.execute(text("UPDATE auditevent SET summary = 'edited' WHERE id = 4"))
    result = prune_audit(session=session, now=NOW, days=365, batch_size=2)
    assert result.deleted == 3
    assert result.refused is not None and result.refused.broken_id == 4
    assert _ids(session) == [4, 5]
    assert not verify_chain(session=session).ok


def test_the_scheduled_retention_prunes_the_audit_log(session: Session, engine: Engine) -> None:
    _write(session, 3, days_ago=40)
    _write(session, 1, days_ago=1)
    settings = Settings(retention_audit_days=30, _env_file=None)
    retention_job(engine, settings, clock=lambda: NOW)(threading.Event())
    assert _ids(session) == [4]
    assert verify_chain(session=session).ok
