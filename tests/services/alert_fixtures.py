"""Rows and clocks for the evaluator tests: rules, agents, samples at chosen times.

Every time is an offset from T0, a fixed moment: tests call evaluate_once(now=...) step by
step, so nothing depends on the wall clock or on how fast the machine is.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.alerts.conditions import find_matches
from app.alerts.kinds import resolve_params
from app.alerts.targets import Match
from app.core.config import Settings
from app.miners.fold import fold_all
from app.miners.ingest import record_samples
from app.models import (
    Agent,
    AgentEvent,
    AgentStatusChange,
    AlertRule,
    AlertState,
    Incident,
    IncidentEvent,
    Miner,
)
from tests.support.db import wipe

# A Monday at noon, on a whole ten minutes (rollup buckets line up with the offsets).
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OFFLINE_AFTER = 300
SETTINGS = Settings(
    agent_offline_after=OFFLINE_AFTER,
    alert_group_seconds=0,
    _env_file=None,  # type: ignore[call-arg]
)


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> datetime:
    """T0 moved by the given amounts (negative: before T0)."""
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


def emptied(engine: Engine) -> Engine:
    """The test database with every table emptied (the default rules too)."""
    wipe(engine)
    return engine


def add_rule(engine: Engine, rule_id: str, kind: str, **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": rule_id.replace("-", " ").capitalize(),
        "kind": kind,
        "params": {},
        "target": {},
        "for_seconds": 0,
        "severity": "critical",
        "channels": [],
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    rule = AlertRule(id=rule_id, **values)
    with Session(engine, expire_on_commit=False) as session:
        session.add(rule)
        session.commit()
    return rule


def add_agent(
    engine: Engine,
    agent_id: str,
    *,
    seen: datetime | None,
    status: str = "online",
    domain: str = "ops",
    registered: datetime | None = None,
) -> None:
    """An agent last seen at `seen` (None: never), with its registration in its history."""
    with Session(engine) as session:
        session.add(
            Agent(
                id=agent_id,
                name=f"Agent {agent_id}",
                domain=domain,
                status=status,
                last_seen_at=seen,
            )
        )
        session.flush()
        session.add(
            AgentStatusChange(agent_id=agent_id, to_status=status, at=registered or at(hours=-1))
        )
        session.commit()


def add_history(engine: Engine, agent_id: str, to_status: str, when: datetime) -> None:
    with Session(engine) as session:
        session.add(AgentStatusChange(agent_id=agent_id, to_status=to_status, at=when))
        session.commit()


def add_events(engine: Engine, agent_id: str, kind: str, *moments: datetime) -> None:
    with Session(engine) as session:
        session.add_all(
            AgentEvent(id=f"{agent_id}-{kind}-{index}", agent_id=agent_id, kind=kind, at=moment)
            for index, moment in enumerate(moments)
        )
        session.commit()


def add_samples(engine: Engine, miner_id: str, *samples: tuple[datetime, dict[str, Any]]) -> None:
    """Samples through record_samples, as ingest stores them (rollups and pointer too)."""
    rows = [{"miner_id": miner_id, "recorded_at": moment, **fields} for moment, fields in samples]
    with Session(engine) as session:
        record_samples(session=session, rows=rows)


def hashrate(rate: float, **fields: Any) -> dict[str, Any]:
    """Sample fields with this 1-minute hashrate and no stale shares."""
    return {"hashrate_1m": rate, "hashrate_15m": rate, **fields}


def set_expected(engine: Engine, miner_id: str, expected: float) -> None:
    with Session(engine) as session:
        miner = session.get(Miner, miner_id)
        assert miner is not None
        miner.expected_hashrate = expected
        session.add(miner)
        session.commit()


def matches(
    engine: Engine,
    kind: str,
    now: datetime,
    params: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Match]:
    """find_matches() of a rule of `kind` at `now` (every match; None would fail)."""
    resolved = resolve_params(kind, params or {}, offline_after=OFFLINE_AFTER)
    fold_all(engine)  # as the evaluator does before it judges
    with Session(engine) as session:
        found = find_matches(
            session,
            kind=kind,
            params=resolved,
            target=target or {},
            now=now,
            offline_after=OFFLINE_AFTER,
            **options,
        )
    assert found is not None
    return found


def states(engine: Engine, rule_id: str | None = None) -> dict[str, AlertState]:
    """The stored states (of one rule), by subject."""
    with Session(engine) as session:
        query = select(AlertState)
        if rule_id is not None:
            query = query.where(col(AlertState.rule_id) == rule_id)
        return {state.subject: state for state in session.exec(query).all()}


def incidents(engine: Engine) -> list[Incident]:
    with Session(engine) as session:
        return list(session.exec(select(Incident).order_by(col(Incident.id))).all())


def timeline(engine: Engine, incident_id: int | None) -> list[tuple[str, datetime]]:
    """(type, at) of an incident's timeline, in order."""
    with Session(engine) as session:
        rows = session.exec(
            select(IncidentEvent)
            .where(col(IncidentEvent.incident_id) == incident_id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
        return [(row.type, row.at) for row in rows]
