"""Alert rules: list, create, replace, update, delete; every change audited in its transaction.

A rule is checked whole before it is stored: its params against its kind, its target
against the kind's subject, its channels and runbook against the rows that exist. So a
rule the API accepted always evaluates, and each refusal is a 422 naming the field.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.alerts import incidents
from app.alerts.kinds import KINDS, parse_params
from app.alerts.schemas import (
    TARGET_KEYS,
    RuleCreate,
    RuleFields,
    RulePublic,
    RuleUpdate,
    generated_id,
    integral,
)
from app.audit import service as audit
from app.audit.service import Actor
from app.core.errors import ConflictError, InvalidCursorError, NotFoundError, UnprocessableError
from app.models import Runbook
from app.models.alerts import AlertRule, AlertState, Channel

RULE_NOT_FOUND = "Alert rule not found"


def get_rule(*, session: Session, rule_id: str) -> AlertRule:
    """The rule, or NotFoundError."""
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFoundError(RULE_NOT_FOUND)
    return rule


def list_rules(
    *,
    session: Session,
    kind: str | None = None,
    enabled: bool | None = None,
    limit: int | None = None,
    after: Sequence[Any] | None = None,
) -> tuple[list[AlertRule], list[Any] | None]:
    """Rules by id; with `limit`, one page and the cursor [id] to continue after."""
    statement = select(AlertRule)
    if kind is not None:
        statement = statement.where(col(AlertRule.kind) == kind)
    if enabled is not None:
        statement = statement.where(col(AlertRule.enabled) == enabled)
    if after is not None:
        if len(after) != 1 or not isinstance(after[0], str):
            raise InvalidCursorError()
        statement = statement.where(col(AlertRule.id) > after[0])
    statement = statement.order_by(col(AlertRule.id))
    if limit is None:
        return list(session.exec(statement).all()), None
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], [rows[limit - 1].id]


def rule_public(rule: AlertRule) -> RulePublic:
    return RulePublic.model_validate(rule)


def check_rule(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """The rule's column values once every cross-field and cross-row rule holds.

    `values` are the columns (snake_case) with `target` already a plain dict. Params are
    stored as sent (validated, defaults not filled in): a default then follows the code
    and the PRISM_AGENT_OFFLINE_AFTER setting.
    """
    kind = values["kind"]
    spec = KINDS[kind]
    # 60.0 is the integer 60 to JSON Schema, which the kinds' strict ints would refuse.
    params = {key: integral(value) for key, value in values["params"].items()}
    try:
        parsed = parse_params(kind, params)
    except ValidationError as exc:
        raise UnprocessableError(_params_problem(kind, exc)) from None
    values["params"] = parsed.model_dump(mode="json", exclude_unset=True)
    allowed = TARGET_KEYS[spec.subject_type]
    for key in values["target"]:
        if key not in allowed:
            raise UnprocessableError(
                f"target.{key}: a {kind} rule judges {spec.subject_type}s; "
                f"target one of {', '.join(allowed)} (or {{}} for all)"
            )
    channels: list[str] = values["channels"]
    if channels:
        known = set(session.exec(select(Channel.id).where(col(Channel.id).in_(channels))).all())
        unknown = [channel for channel in channels if channel not in known]
        if unknown:
            raise UnprocessableError(f"channels: unknown channel {', '.join(unknown)}")
    runbook_id = values.get("runbook_id")
    if runbook_id is not None and session.get(Runbook, runbook_id) is None:
        raise UnprocessableError(f"runbookId: unknown runbook {runbook_id}")
    return values


def _params_problem(kind: str, exc: ValidationError) -> str:
    allowed = ", ".join(KINDS[kind].params.model_fields) or "none"
    problems = []
    for error in exc.errors():
        where = ".".join(["params", *(str(part) for part in error["loc"])])
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: not a parameter of {kind} (its parameters: {allowed})")
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _columns(data: RuleFields) -> dict[str, Any]:
    values = data.model_dump(exclude={"id", "target"})
    values["target"] = data.target.stored()
    return values


def _audit_detail(rule: AlertRule) -> dict[str, Any]:
    return rule_public(rule).model_dump(mode="json", by_alias=True)


def create_rule(*, session: Session, data: RuleCreate, actor: Actor, now: datetime) -> AlertRule:
    """Store a new rule (ConflictError when its id is taken), audited as alert_rule.create."""
    values = check_rule(session, _columns(data))
    rule_id = data.id or generated_id(data.name)
    if session.get(AlertRule, rule_id) is not None:
        raise ConflictError(f"Alert rule {rule_id} already exists")
    rule = AlertRule(id=rule_id, created_at=now, updated_at=now, **values)
    session.add(rule)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # created by a concurrent request since the check above
        raise ConflictError(f"Alert rule {rule_id} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="alert_rule.create",
        target_type="alert_rule",
        target_id=rule.id,
        summary=f"Created alert rule {rule.id} ({rule.kind}, {rule.severity})",
        detail=_audit_detail(rule),
        now=now,
    )
    session.commit()
    return rule


def replace_rule(
    *, session: Session, rule_id: str, data: RuleFields, actor: Actor, now: datetime
) -> AlertRule:
    """PUT: every field as sent, defaults for those left out."""
    rule = get_rule(session=session, rule_id=rule_id)
    return _apply(session, rule, check_rule(session, _columns(data)), actor=actor, now=now)


def update_rule(
    *, session: Session, rule_id: str, data: RuleUpdate, actor: Actor, now: datetime
) -> AlertRule:
    """PATCH: the fields sent change; the rule is checked whole as it would then be."""
    rule = get_rule(session=session, rule_id=rule_id)
    changes = data.model_dump(exclude_unset=True, exclude={"target"})
    if "target" in data.model_fields_set and data.target is not None:
        changes["target"] = data.target.stored()
    if changes.get("runbook_id", rule.runbook_id) is None and "runbook_input" not in changes:
        changes["runbook_input"] = None  # unlinking the runbook drops its input too
    current = rule.model_dump(include=set(RuleFields.model_fields))
    values = check_rule(session, {**current, **changes})
    return _apply(session, rule, values, actor=actor, now=now)


def _apply(
    session: Session, rule: AlertRule, values: dict[str, Any], *, actor: Actor, now: datetime
) -> AlertRule:
    before = _audit_detail(rule)
    if rule.enabled and not values["enabled"]:
        _stop_judging(session, rule.id, now=now, reason="rule disabled")
    rule.sqlmodel_update(values)
    rule.updated_at = now
    session.add(rule)
    session.flush()
    after = _audit_detail(rule)
    changed = {key: after[key] for key in after if before[key] != after[key] and key != "updatedAt"}
    audit.record(
        session,
        actor=actor,
        action="alert_rule.update",
        target_type="alert_rule",
        target_id=rule.id,
        summary=f"Changed alert rule {rule.id}: {', '.join(changed) or 'nothing'}",
        detail={"changed": changed},
        now=now,
    )
    session.commit()
    return rule


def delete_rule(*, session: Session, rule_id: str, actor: Actor, now: datetime) -> None:
    """Delete the rule and its current states; its incidents stay (they are history), the
    open ones resolved now."""
    rule = get_rule(session=session, rule_id=rule_id)
    detail = _audit_detail(rule)
    _stop_judging(session, rule_id, now=now, reason="rule deleted")
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="alert_rule.delete",
        target_type="alert_rule",
        target_id=rule_id,
        summary=f"Deleted alert rule {rule_id}",
        detail=detail,
        now=now,
    )
    session.commit()


def _stop_judging(session: Session, rule_id: str, *, now: datetime, reason: str) -> None:
    """A rule that no longer judges holds no state: its subjects are ok for it from now.

    The evaluator only visits enabled rules, so states left behind would keep subjects
    firing (and incidents open) for a rule nobody evaluates any more.
    """
    # Explicit, not left to ON DELETE CASCADE alone: SQLite enforces it only with the pragma.
    session.exec(delete(AlertState).where(col(AlertState.rule_id) == rule_id))
    incidents.resolve_open(session, rule_id=rule_id, now=now, reason=reason)


def count_rules(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(AlertRule)).one()
