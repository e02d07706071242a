"""The current judgement: GET /api/alerts (every pending or firing state) and GET /api/problems
(every agent and miner whose health is not ok), read scope."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.alerts import current, health
from app.alerts.health_schemas import AlertList, ProblemList
from app.auth.deps import AuthFirstRoute, ReadPrincipal
from app.core.deps import SessionDep
from app.core.pagination import MAX_LIMIT
from app.core.responses import errors
from app.core.timeutil import utcnow
from app.core.validators import SafeId
from app.models.alerts import AlertStateName, RuleKind, Severity, SubjectType

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute)

_REPEAT = "repeat the parameter for several"


@router.get(
    "/api/alerts",
    response_model=AlertList,
    responses=errors(401, 403),
    summary="Current alerts: every rule whose condition holds for a subject",
    description="Firing first, then pending, then silenced (a silence or maintenance window "
    "covers it now: still recorded, not notified); each group worst severity first, then "
    "oldest. An ok state has no row, so it is never listed. Filters combine; an unknown "
    "value is 422 naming its parameter.",
)
def list_alerts(
    _: ReadPrincipal,
    session: SessionDep,
    state: Annotated[
        list[AlertStateName] | None, Query(description=f"pending or firing; {_REPEAT}.")
    ] = None,
    severity: Annotated[
        list[Severity] | None, Query(description=f"info, warning or critical; {_REPEAT}.")
    ] = None,
    kind: Annotated[list[RuleKind] | None, Query(description=f"Rule kinds; {_REPEAT}.")] = None,
    subject_type: Annotated[
        SubjectType | None, Query(alias="subjectType", description="agent or miner.")
    ] = None,
    subject: Annotated[SafeId | None, Query(description="Only this agent or miner.")] = None,
    rule_id: Annotated[SafeId | None, Query(alias="ruleId", description="Only this rule.")] = None,
    silenced: Annotated[
        bool | None, Query(description="true: only silenced; false: only those notified.")
    ] = None,
) -> AlertList:
    filters = current.AlertFilters(
        states=tuple(state or ()),
        severities=tuple(severity or ()),
        kinds=tuple(kind or ()),
        subject_type=subject_type,
        subject=subject,
        rule_id=rule_id,
        silenced=silenced,
    )
    return AlertList(items=current.current_alerts(session=session, now=utcnow(), filters=filters))


@router.get(
    "/api/problems",
    response_model=ProblemList,
    responses=errors(401, 403),
    summary="Agents and miners whose health is not ok, worst first",
    description="Health: critical or warning (the worst severity among firing states), "
    "pending (a condition holds, not yet for its forSeconds), unknown (an agent that never "
    "reported). Worst first, then oldest. Subjects in maintenance (an active silence without "
    "ruleId covers them) and info-only states are not problems.",
)
def list_problems(
    _: ReadPrincipal,
    session: SessionDep,
    subject_type: Annotated[
        SubjectType | None, Query(alias="subjectType", description="agent or miner.")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="At most this many (the worst).")
    ] = None,
) -> ProblemList:
    items = health.problems(session=session, now=utcnow(), limit=limit, subject_type=subject_type)
    return ProblemList(items=items)
