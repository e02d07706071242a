"""Test rows: `make_*` build one row (a default for every required column, keyword overrides),
`add_*` store rows, and the readers below look at what the database holds."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, func, select

from app.core.timeutil import utcnow
from app.models import (
    Agent,
    AgentEvent,
    AgentStatusChange,
    AlertRule,
    AlertState,
    Miner,
    MinerSample,
    Silence,
)


def make_agent(agent_id: str = "agent-1", **fields: Any) -> Agent:
    """An agent with the model's own defaults; `name` and `domain` made up unless given."""
    values: dict[str, Any] = {"name": f"Agent {agent_id}", "domain": "ops"}
    values.update(fields)
    return Agent(id=agent_id, **values)


def make_event(agent_id: str = "agent-1", **fields: Any) -> AgentEvent:
    """One event of `agent_id`, a heartbeat now unless told otherwise."""
    values: dict[str, Any] = {"id": f"ev-{agent_id}-{uuid.uuid4().hex[:12]}", "kind": "heartbeat"}
    values.update(fields)
    values.setdefault("at", utcnow())
    return AgentEvent(agent_id=agent_id, **values)


def make_sample(miner_id: str = "rig-1", **fields: Any) -> MinerSample:
    """One miner sample recorded now; every metric at the model's default unless given."""
    values: dict[str, Any] = {"recorded_at": utcnow()}
    values.update(fields)
    return MinerSample(miner_id=miner_id, **values)


def add_agent(session: Session, agent_id: str, **fields: Any) -> Agent:
    """An agent seen now (unless `last_seen_at` is given), reporting online."""
    values: dict[str, Any] = {
        "name": f"Agent {agent_id}",
        "domain": "ops",
        "status": "online",
        "memory_used_mb": 100.0,
        "last_seen_at": utcnow(),
        "version": "1.0.0",
    }
    values.update(fields)
    agent = make_agent(agent_id, **values)
    session.add(agent)
    session.commit()
    return agent


def add_events(
    session: Session,
    agent_id: str,
    count: int,
    *,
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
    kind: str = "heartbeat",
    prefix: str = "ev",
) -> list[AgentEvent]:
    """`count` events of one agent, one `step` apart from `start` (oldest first)."""
    start = start or utcnow() - step * count
    rows = [
        make_event(
            agent_id,
            id=f"{prefix}-{agent_id}-{index:05d}",
            kind=kind,
            at=start + step * index,
            message=f"message {index}",
        )
        for index in range(count)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def count_rows(session: Session, model: type[Any]) -> int:
    """Rows of a table as the database has them now."""
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(model)).one())


def status_changes(session: Session, agent_id: str) -> list[tuple[str | None, str]]:
    """(from, to) of an agent's recorded status changes, oldest first."""
    session.expire_all()
    rows = session.exec(
        select(AgentStatusChange)
        .where(AgentStatusChange.agent_id == agent_id)
        .order_by(AgentStatusChange.at, AgentStatusChange.id)  # type: ignore[arg-type]
    ).all()
    return [(row.from_status, row.to_status) for row in rows]


# --- alerts: rules, their states and silences, as the evaluator and the API leave them ----


def add_rule(session: Session, rule_id: str, **fields: Any) -> AlertRule:
    """An enabled rule (miner_temperature, critical unless told otherwise), stored."""
    now = utcnow()
    values: dict[str, Any] = {
        "name": f"Rule {rule_id}",
        "kind": "miner_temperature",
        "severity": "critical",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    rule = AlertRule(id=rule_id, **values)
    session.add(rule)
    session.commit()
    return rule


def add_state(
    session: Session,
    rule_id: str,
    subject: str,
    *,
    subject_type: str = "miner",
    state: str = "firing",
    since: datetime | None = None,
    **fields: Any,
) -> AlertState:
    """One rule x subject state (firing since a minute ago unless told otherwise), stored."""
    since = since or utcnow() - timedelta(minutes=1)
    values: dict[str, Any] = {"evaluated_at": utcnow()}
    if state == "firing":
        values["fired_at"] = since
    values.update(fields)
    row = AlertState(
        rule_id=rule_id,
        subject_type=subject_type,
        subject=subject,
        state=state,
        since=since,
        **values,
    )
    session.add(row)
    session.commit()
    return row


def add_silence(
    session: Session, silence_id: str, matchers: dict[str, Any], **fields: Any
) -> Silence:
    """A silence applying from an hour ago to an hour from now unless told otherwise, stored."""
    now = utcnow()
    values: dict[str, Any] = {
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(hours=1),
        "created_by": "test",
        "created_at": now,
    }
    values.update(fields)
    silence = Silence(id=silence_id, matchers=matchers, **values)
    session.add(silence)
    session.commit()
    return silence


def add_miner(session: Session, miner_id: str, **fields: Any) -> Miner:
    """A miner that reported now, with one sample, stored (as ingest leaves it)."""
    sample = make_sample(miner_id)
    session.add(sample)
    session.flush()
    values: dict[str, Any] = {
        "first_seen_at": sample.recorded_at,
        "last_recorded_at": sample.recorded_at,
        "last_sample_id": sample.id,
    }
    values.update(fields)
    miner = Miner(miner_id=miner_id, **values)
    session.add(miner)
    session.commit()
    return miner
