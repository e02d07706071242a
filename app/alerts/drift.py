"""The fleet_drift condition (SPEC §8 reconciliation): agents the console's and the main
API's registries disagree about, judged outside SQL (one query on each database)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from app.agents.status import effective_status
from app.alerts.targets import Match, in_target
from app.maindb.database import MainDatabase
from app.maindb.fleet import MAX_MAIN_AGENTS, ConsoleAgent, reconcile
from app.maindb.schemas import ReconciliationRow, Unavailable
from app.models import Agent


def drift_matches(
    session: Session,
    params: Mapping[str, Any],
    target: Mapping[str, Any],
    *,
    now: datetime,
    offline_after: int,
    main_db: MainDatabase | None,
) -> dict[str, Match] | None:
    """Agents the two registries disagree about, from the §8 reconciliation: one query on
    each database. A main-only agent is named by its slug, else its id."""
    if main_db is None:
        return {}
    rows = session.execute(select(Agent).order_by(col(Agent.id))).scalars().all()
    domains = {agent.id: agent.domain for agent in rows}
    console = [
        ConsoleAgent(agent.id, agent.name, effective_status(agent, now, offline_after))
        for agent in rows
    ]
    view = reconcile(main_db=main_db, console=console, limit=len(console) + MAX_MAIN_AGENTS)
    if isinstance(view, Unavailable):
        return None
    wanted = {str(kind) for kind in params["kinds"]}
    matches: dict[str, Match] = {}
    for row in view.items:
        if _drift_kind(row) not in wanted:
            continue
        subject = row.console_id or row.main_slug or str(row.main_id)
        domain = domains.get(row.console_id) if row.console_id else None
        if in_target(target, "agent", subject, domain):
            matches[subject] = Match(subject, None, now, domain)
    return matches


def _drift_kind(row: ReconciliationRow) -> str | None:
    if row.category == "in_both":
        return "status_disagreement" if row.status_disagrees else None
    return row.category
