"""The audit service: one hash-chained row per action, in the caller's transaction, secrets
masked, one chain under concurrent writers (both engines)."""

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.audit import chain
from app.audit.redact import mask_url
from app.audit.service import Actor, cli_actor, record
from app.audit.verify import verify_chain
from app.models import Setting
from app.models.audit import GENESIS_HASH, AuditEvent
from tests.support.db import wipe
from tests.support.waits import WAIT

ACTOR = Actor(name="ci", actor_id="tok1", scope="admin", ip="10.0.0.7", request_id="req-1")
NOW = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def session(client: TestClient, engine: Engine) -> Iterator[Session]:
    """A session on an empty database (the client fixture empties it)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _rows(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def test_a_row_hashes_its_canonical_json_after_the_previous_hash(
    session: Session, engine: Engine
) -> None:
    record(
        session,
        actor=ACTOR,
        action="setting.set",
        target_type="setting",
        target_id="site.name",
        summary="Changed setting site.name",
        detail={"value": "B", "key": "site.name"},
        now=NOW,
    )
    session.commit()
    [row] = _rows(engine)
    canonical = (
        '{"action":"setting.set","actor":"ci","actorId":"tok1",'
        '"at":"2026-12-03T10:00:00.123456Z","detail":{"key":"site.name","value":"B"},'
        '"id":1,"ip":"10.0.0.7","requestId":"req-1","scope":"admin",'
        '"summary":"Changed setting site.name","targetId":"site.name","targetType":"setting"}'
    )
    assert chain.canonical_json(row) == canonical
    assert row.prev_hash == GENESIS_HASH
    assert row.hash == hashlib.sha256((GENESIS_HASH + canonical).encode()).hexdigest()


def test_each_row_links_to_the_one_before_and_the_chain_verifies(
    session: Session, engine: Engine
) -> None:
    for number in range(3):
        record(
            session,
            actor=ACTOR,
            action="metric.update",
            target_type="metric",
            target_id=f"m{number}",
            summary="Réglage ☃ changé",
            detail={"nested": {"list": [1, 2.5, None, True], "when": NOW}, "ключ": "значение"},
        )
    session.commit()
    rows = _rows(engine)
    assert [row.id for row in rows] == [1, 2, 3]
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
    assert rows[0].detail == {
        "nested": {"list": [1, 2.5, None, True], "when": chain.format_at(NOW)},
        "ключ": "значение",
    }
    assert rows[0].summary == "Réglage ☃ changé"
    result = verify_chain(session=session)
    assert (result.ok, result.rows) == (True, 3)


def test_the_row_is_part_of_the_callers_transaction(session: Session, engine: Engine) -> None:
    session.add(Setting(key="site.name", value="A", updated_at=NOW))
    record(
        session,
        actor=ACTOR,
        action="setting.set",
        target_type="setting",
        target_id="site.name",
        summary="s",
    )
    session.rollback()
    assert _rows(engine) == []
    with Session(engine) as fresh:
        assert fresh.get(Setting, "site.name") is None
    # The chain goes on from where the committed rows end: no gap for the rolled-back one.
    record(
        session, actor=ACTOR, action="setting.set", target_type=None, target_id=None, summary="s"
    )
    session.commit()
    assert [row.id for row in _rows(engine)] == [1]


def test_secrets_in_detail_and_summary_are_masked(session: Session, engine: Engine) -> None:
    token = "prism_" + "A" * 43
    record(
        session,
        actor=ACTOR,
        action="channel.update",
        target_type="channel",
        target_id="ops",
        summary=f"sent {token} to json://bob:hunter2@hooks.example:8443/x",
        detail={
            "token": token,
            "csrfToken": "csrf-value-1",
            "password": "hunter2",
            "session_cookie": "cookie-value-1",
            "url": "json://bob:hunter2@hooks.example:8443/path/secret?key=s3cr3t",
            "tokenId": "tok1",
            "nested": [{"Authorization": "Bearer xyz"}, {"note": f"uses {token}"}],
        },
    )
    session.commit()
    [row] = _rows(engine)
    stored = json.dumps(row.detail) + row.summary
    for secret in (token, "hunter2", "csrf-value-1", "cookie-value-1", "s3cr3t", "xyz", "bob"):
        assert secret not in stored
    assert row.detail is not None
    assert row.detail["url"] == "json://***@hooks.example:8443/***?***"
    assert row.detail["tokenId"] == "tok1"  # ids are not secrets
    assert mask_url("https://hooks.example/") == "https://hooks.example/"


def test_a_database_that_lost_its_chain_row_continues_from_its_last_row(
    session: Session, engine: Engine
) -> None:
    record(session, actor=ACTOR, action="a.b", target_type=None, target_id=None, summary="1")
    session.commit()
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM auditchain")
    record(session, actor=ACTOR, action="a.b", target_type=None, target_id=None, summary="2")
    session.commit()
    assert [row.id for row in _rows(engine)] == [1, 2]
    assert verify_chain(session=session).ok


def test_concurrent_writers_make_one_chain_without_a_fork(
    client: TestClient, engine: Engine
) -> None:
    """Writers released together by a barrier, each in its own transaction with a change of
    its own: every row gets its own id and links to the one before.

    On PostgreSQL every transaction has written its change before the race for the head;
    on SQLite a flushed change holds the one write lock, so they race from the start.
    """
    writers = 12
    barrier = threading.Barrier(writers, timeout=WAIT)
    failures: list[BaseException] = []
    change_first = engine.dialect.name == "postgresql"

    def write(number: int) -> None:
        try:
            with Session(engine) as own:
                if not change_first:
                    barrier.wait()
                own.add(Setting(key=f"k{number}", value="v", updated_at=NOW))
                own.flush()
                if change_first:
                    barrier.wait()
                record(
                    own,
                    actor=cli_actor(),
                    action="setting.set",
                    target_type="setting",
                    target_id=f"k{number}",
                    summary="s",
                )
                own.commit()
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert failures == []
    rows = _rows(engine)
    assert [row.id for row in rows] == list(range(1, writers + 1))
    assert sorted(row.target_id or "" for row in rows) == sorted(f"k{n}" for n in range(writers))
    with Session(engine) as session:
        assert verify_chain(session=session).ok
    wipe(engine)
