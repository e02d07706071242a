"""Heartbeats racing each other: one registration, one recorded change, no error."""

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from app.agents.service import StatusOutcome, record_heartbeat
from app.models import Agent, AgentStatusChange
from app.models.agent import Heartbeat
from tests.support.db import wipe

RACERS = 4


@pytest.fixture
def empty(engine: Engine) -> Iterator[Engine]:
    wipe(engine)
    yield engine


def _race(engine: Engine, agent_id: str, report: Heartbeat) -> list[StatusOutcome]:
    barrier = threading.Barrier(RACERS)
    outcomes: list[StatusOutcome] = []
    failures: list[BaseException] = []

    def beat() -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                outcomes.append(
                    record_heartbeat(
                        session=session, agent_id=agent_id, report=report, offline_after=300
                    )
                )
            except BaseException as exc:  # surfaced by the assertion below
                failures.append(exc)

    threads = [threading.Thread(target=beat) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return outcomes


def test_concurrent_first_heartbeats_register_the_agent_once(empty: Engine) -> None:
    report = Heartbeat(name="Racer", domain="ops", status="degraded")
    outcomes = _race(empty, "racer", report)
    assert len(outcomes) == RACERS
    assert sum(outcome.registered for outcome in outcomes) == 1
    with Session(empty) as session:
        assert session.exec(select(func.count()).select_from(Agent)).one() == 1
        changes = session.exec(select(AgentStatusChange)).all()
    assert [(row.from_status, row.to_status) for row in changes] == [(None, "degraded")]


def test_concurrent_status_reports_record_the_change_once(empty: Engine) -> None:
    _race(empty, "racer", Heartbeat(name="Racer", domain="ops", status="online"))
    _race(empty, "racer", Heartbeat(status="degraded"))
    with Session(empty) as session:
        changes = session.exec(
            select(AgentStatusChange).order_by(AgentStatusChange.id)  # type: ignore[arg-type]
        ).all()
    assert [(row.from_status, row.to_status) for row in changes] == [
        (None, "online"),
        ("online", "degraded"),
    ]
