"""Query dependencies of the alerts routes: the incident filters, shared by the list and the
export, and the clock every alerts write reads."""

from typing import Annotated

from fastapi import Depends, Query

from app.alerts.incidents import IncidentQuery
from app.alerts.schemas import IncidentState
from app.core.deps import ClockDep, get_clock
from app.core.timeutil import UTCDateTime
from app.models.alerts import Severity

_TIME_FORMS = "ISO-8601 (Z or offset; naive = UTC), a date, or unix seconds"


async def incident_query(
    state: Annotated[
        IncidentState,
        Query(description="open (not resolved), resolved, or all (the default)."),
    ] = "all",
    rule_id: Annotated[
        str | None, Query(alias="ruleId", max_length=128, description="Only this rule's.")
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=128, description="Only this agent's or miner's.")
    ] = None,
    severity: Annotated[Severity | None, Query(description="Only this severity.")] = None,
    since: Annotated[
        UTCDateTime | None, Query(description=f"Started at or after: {_TIME_FORMS}.")
    ] = None,
    until: Annotated[
        UTCDateTime | None, Query(description=f"Started before: {_TIME_FORMS}.")
    ] = None,
) -> IncidentQuery:
    """The incident filters, shared by GET /api/incidents and the incident exports."""
    query = IncidentQuery(
        state=state, rule_id=rule_id, subject=subject, severity=severity, since=since, until=until
    )
    return query


IncidentQueryDep = Annotated[IncidentQuery, Depends(incident_query)]


# The clock every alerts write reads: app.core.deps's, which tests override.
__all__ = ["ClockDep", "get_clock"]
