"""Alert rules (SPEC §11): read scope lists them, admin changes them (each change audited)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.alerts import rules
from app.alerts.deps import ClockDep
from app.alerts.schemas import RuleCreate, RuleFields, RulePage, RulePublic, RuleUpdate
from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, ReadPrincipal
from app.core.deps import PageDep, SessionDep
from app.core.pagination import encode_cursor
from app.core.responses import errors
from app.core.validators import SafeId
from app.models.alerts import RuleKind

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute, strict_content_type=False)

RuleId = Annotated[SafeId, Path(description="The rule's id.")]


@router.get(
    "/api/alerts/rules",
    response_model=RulePage,
    responses=errors(401, 403),
    summary="List alert rules by id",
    description="Every rule when no `limit` is given, else one page (`nextCursor`).",
)
def list_rules(
    _principal: ReadPrincipal,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[RuleKind | None, Query(description="Only rules of this kind.")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (or disabled) rules.")] = None,
) -> RulePage:
    rows, last = rules.list_rules(
        session=session, kind=kind, enabled=enabled, limit=page.limit, after=page.cursor
    )
    return RulePage(
        items=[rules.rule_public(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.post(
    "/api/alerts/rules",
    response_model=RulePublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Create an alert rule (admin)",
    description="A 422 names the field: a bad kind, an unknown or out-of-range parameter "
    "(`params.<key>`), a target that is not of the kind's subject, an unknown channel or "
    "runbook. Without `id`, one is made from the name.",
)
def create_rule(
    body: RuleCreate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> RulePublic:
    rule = rules.create_rule(session=session, data=body, actor=actor, now=clock())
    return rules.rule_public(rule)


@router.get(
    "/api/alerts/rules/{rule_id}",
    response_model=RulePublic,
    responses=errors(401, 403, 404),
    summary="One alert rule",
)
def get_rule(rule_id: RuleId, _principal: ReadPrincipal, session: SessionDep) -> RulePublic:
    return rules.rule_public(rules.get_rule(session=session, rule_id=rule_id))


@router.put(
    "/api/alerts/rules/{rule_id}",
    response_model=RulePublic,
    responses=errors(400, 401, 403, 404),
    summary="Replace an alert rule (admin): fields left out take their defaults",
)
def replace_rule(
    rule_id: RuleId,
    body: RuleFields,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> RulePublic:
    rule = rules.replace_rule(session=session, rule_id=rule_id, data=body, actor=actor, now=clock())
    return rules.rule_public(rule)


@router.patch(
    "/api/alerts/rules/{rule_id}",
    response_model=RulePublic,
    responses=errors(400, 401, 403, 404),
    summary="Change some fields of an alert rule (admin)",
    description="Disabling a rule clears its current states and resolves its open incidents.",
)
def update_rule(
    rule_id: RuleId,
    body: RuleUpdate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> RulePublic:
    rule = rules.update_rule(session=session, rule_id=rule_id, data=body, actor=actor, now=clock())
    return rules.rule_public(rule)


@router.delete(
    "/api/alerts/rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete an alert rule (admin); its incidents stay, the open ones resolved",
)
def delete_rule(
    rule_id: RuleId,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> None:
    rules.delete_rule(session=session, rule_id=rule_id, actor=actor, now=clock())
