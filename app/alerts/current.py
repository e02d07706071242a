"""GET /api/alerts: every current (pending or firing) state, filtered, firing first."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col

from app.alerts import health
from app.alerts.health import read_states, states_select
from app.alerts.health_schemas import AlertItem
from app.alerts.silence_match import SilenceIndex
from app.models import AlertRule, AlertState


@dataclass(frozen=True)
class AlertFilters:
    """What GET /api/alerts narrows to; None or empty: no filter on that field."""

    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    subject_type: str | None = None
    subject: str | None = None
    rule_id: str | None = None
    silenced: bool | None = None


def current_alerts(
    session: Session, *, now: datetime, filters: AlertFilters | None = None
) -> list[AlertItem]:
    """Every current (pending or firing) state: firing, then pending, then silenced; each
    group worst severity first, then oldest. Silenced is judged at `now` from the silences,
    not from the evaluator's last mark, so ending a silence shows at once. Two queries."""
    filters = filters or AlertFilters()
    query = states_select(filters.subject_type, None)
    if filters.states:
        query = query.where(col(AlertState.state).in_(filters.states))
    if filters.severities:
        query = query.where(col(AlertRule.severity).in_(filters.severities))
    if filters.kinds:
        query = query.where(col(AlertRule.kind).in_(filters.kinds))
    if filters.subject is not None:
        query = query.where(col(AlertState.subject) == filters.subject)
    if filters.rule_id is not None:
        query = query.where(col(AlertState.rule_id) == filters.rule_id)
    rows = read_states(session, query)
    index = SilenceIndex.load(session, now)
    items = []
    for state in rows:
        silenced = index.covers(
            rule_id=state.rule_id,
            subject_type=state.subject_type,
            subject=state.subject,
            domain=state.domain,
        )
        if filters.silenced is not None and silenced != filters.silenced:
            continue
        items.append(
            AlertItem(
                rule_id=state.rule_id,
                rule_name=state.rule_name,
                kind=state.kind,
                severity=state.severity,
                subject_type=state.subject_type,
                subject=state.subject,
                state=state.state,
                since=state.since,
                value=state.value,
                silenced=silenced,
                incident_id=state.incident_id,
            )
        )
    items.sort(key=_alert_order)
    return items


def _alert_order(item: AlertItem) -> tuple[Any, ...]:
    return (
        item.silenced,
        item.state != "firing",
        health.SEVERITY_RANK.get(item.severity, 9),
        item.since,
        item.rule_id,
        item.subject_type,
        item.subject,
    )
