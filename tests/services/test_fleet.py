"""Shown status: the Python rule and the SQL rule agree."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.agents.status import effective_status, effective_status_column
from app.core.timeutil import utcnow
from app.models import Agent
from tests.support.db import wipe
from tests.support.factories import make_agent


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine) as session:
        yield session


def test_silent_agents_show_offline_whatever_they_reported(session: Session) -> None:
    now = utcnow()
    session.add_all(
        [
            make_agent("fresh", name="F", domain="ops", status="degraded", last_seen_at=now),
            make_agent(
                "silent",
                name="S",
                domain="ops",
                status="online",
                last_seen_at=now - timedelta(seconds=301),
            ),
            make_agent("never", name="N", domain="ops", status="online", last_seen_at=None),
        ]
    )
    session.commit()
    shown = effective_status_column(now, 300)
    rows = session.exec(select(Agent.id, shown).order_by(Agent.id)).all()  # type: ignore[call-overload]
    from_sql = {agent_id: status for agent_id, status in rows}
    assert from_sql == {"fresh": "degraded", "never": "offline", "silent": "offline"}
    for agent in session.exec(select(Agent)).all():
        assert effective_status(agent, now, 300) == from_sql[agent.id]
