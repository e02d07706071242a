"""Set-based evaluation: a cycle sends as many statements for 500 subjects as for 50, when
they all fire, when they stay firing and when they all resolve (SQLite and PostgreSQL)."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, update
from sqlmodel import Session

from app.alerts.evaluator import evaluate_once
from app.miners.ingest import record_samples
from app.models import Agent, Channel
from tests.services.alert_fixtures import (
    OFFLINE_AFTER,
    SETTINGS,
    add_rule,
    at,
    emptied,
)
from tests.support.db import engine_for


@pytest.fixture
def own_engine(engine: Engine, db_url: str) -> Iterator[Engine]:
    """An engine of this test alone: the app's background work cannot add to the count."""
    emptied(engine)
    with engine_for(db_url) as mine:
        yield mine


def build_fleet(engine: Engine, size: int) -> None:
    """`size` agents gone silent and `size` miners in every kind of trouble at once."""
    seen = at(-OFFLINE_AFTER - 60)
    with Session(engine) as session:
        session.add(
            Channel(
                id="ops", name="ops", url="json://127.0.0.1:9/x", created_at=at(), updated_at=at()
            )
        )
        session.add_all(
            Agent(id=f"agent-{i:04}", name=f"A{i}", domain="ops", last_seen_at=seen)
            for i in range(size)
        )
        session.commit()
        rows: list[dict[str, Any]] = []
        for i in range(size):
            for minute in range(3):
                rows.append(
                    {
                        "miner_id": f"miner-{i:04}",
                        "recorded_at": at(minutes=minute - 3),
                        "hashrate_1m": 0.0 if minute == 2 else 1000.0,
                        "hashrate_15m": 0.0 if minute == 2 else 1000.0,
                        "shares_accepted": 10,
                        "shares_stale": 5,
                        "temperature_c": 90.0,
                    }
                )
        record_samples(session=session, rows=rows)
    for rule_id, kind, params in (
        ("offline", "agent_offline", {}),
        ("degraded", "agent_status", {}),
        ("errors", "agent_errors", {}),
        ("silent", "miner_silent", {"afterSeconds": 3600}),
        ("hashrate", "miner_hashrate", {}),
        ("hot", "miner_temperature", {}),
        ("stale", "miner_stale_rate", {}),
    ):
        add_rule(engine, rule_id, kind, params=params, channels=["ops"])


def count_statements(engine: Engine, now_seconds: float) -> int:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        evaluate_once(engine, SETTINGS, now=at(now_seconds))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def cycles(engine: Engine, size: int) -> list[int]:
    """Statements of three cycles: everything fires; it stays firing; everything clears."""
    build_fleet(engine, size)
    counts = [count_statements(engine, 0), count_statements(engine, 15)]
    # Later than the stale window, so the stale shares have left it too.
    later = 990
    with Session(engine) as session:
        session.execute(update(Agent).values(last_seen_at=at(later - 10)))
        session.commit()
        healthy = {"hashrate_1m": 1000.0, "temperature_c": 50.0}
        record_samples(
            session=session,
            rows=[
                {"miner_id": f"miner-{i:04}", "recorded_at": at(later - 10), **healthy}
                for i in range(size)
            ],
        )
    counts.append(count_statements(engine, later))
    return counts


def test_the_statements_of_a_cycle_do_not_grow_with_the_fleet(own_engine: Engine) -> None:
    small = cycles(own_engine, 50)
    emptied(own_engine)
    large = cycles(own_engine, 500)
    assert small == large


def test_the_fleet_of_that_test_fires_then_resolves_everywhere(own_engine: Engine) -> None:
    build_fleet(own_engine, 20)
    first = evaluate_once(own_engine, SETTINGS, now=at())
    # Agents offline; miners at 0 H/s, hot and stale.
    assert (first.fired, first.failed) == (20 * 4, 0)
    assert evaluate_once(own_engine, SETTINGS, now=at(15)).fired == 0
    with Session(own_engine) as session:
        session.execute(update(Agent).values(last_seen_at=at(980)))
        session.commit()
        rows = [
            {"miner_id": f"miner-{i:04}", "recorded_at": at(980), "hashrate_1m": 1000.0}
            for i in range(20)
        ]
        record_samples(session=session, rows=rows)
    assert evaluate_once(own_engine, SETTINGS, now=at(990)).resolved == 20 * 4
