"""The Agents page's default order read from bare ids (health_ordered) is the order of the
full rows (ordered, sort="health"), in both directions."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.pages.list_order import AgentFacts, health_ordered, ordered
from app.agents.rows import AgentRow
from app.alerts.health_schemas import Problem

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_ids_alone_order_as_the_rows_do(seed: int, order: str) -> None:
    rng = random.Random(seed)
    ids = [f"agent-{rng.randrange(10_000):05}" for _ in range(300)]
    problems = {
        agent_id: Problem(
            subject_type="agent",
            subject=agent_id,
            name=agent_id,
            health=rng.choice(["critical", "warning", "pending", "unknown"]),
            since=rng.choice([None, T0 - timedelta(minutes=rng.randrange(5))]),
            reasons=[],
        )
        for agent_id in rng.sample(sorted(set(ids)), 40)
    }
    facts = AgentFacts(problems=problems, uptimes={})
    rows = [AgentRow(agent_id, agent_id, "ops", "online", 1.0, T0, "1") for agent_id in set(ids)]
    expected = [row.id for row in ordered(rows, sort="health", order=order, facts=facts)]  # type: ignore[arg-type]
    assert health_ordered(ids, order=order, facts=facts) == expected  # type: ignore[arg-type]
