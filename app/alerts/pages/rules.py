"""Rule pages: the list and a form per kind (admin creates, edits and deletes; everyone
signed in reads). The forms post plain HTML forms; the page builds the body the API would
get and hands it to the same schemas and service, so a refusal names the same field,
shown next to its control (422, nothing written). A saved rule answers 303."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.alerts import channels as channel_service
from app.alerts import rules
from app.alerts.deps import ClockDep
from app.alerts.kinds import KINDS
from app.alerts.pages import rule_form
from app.alerts.pages.common import FormDep, FormErrors, not_found_page, quoted, url
from app.alerts.schemas import RuleCreate, RuleFields
from app.audit.deps import AuditActorDep
from app.auth.deps import WebAdmin, WebRead
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import ConflictError, NotFoundError, UnprocessableError
from app.core.templating import render
from app.models.alerts import SEVERITIES, AlertRule
from app.runbooks import service as runbooks

router = APIRouter(include_in_schema=False)

RuleIdPath = Annotated[str, Path(max_length=128)]


@router.get("/alerts/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    principal: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, Query(max_length=32)] = "",
    created: Annotated[str, Query(max_length=128)] = "",
    deleted: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    """Every rule by id; with ?kind=, the form for a new rule of that kind (admin)."""
    context = _list_context(session)
    context.update(created=created, deleted=deleted)
    if kind and kind not in KINDS:
        context["kind_error"] = f"kind: choose one of {', '.join(KINDS)}"
        return render(request, "pages/alerts/rules.html", context, status_code=422)
    if kind and principal.allows("admin"):
        context.update(_form_context(session, kind, settings.agent_offline_after))
    context["chosen_kind"] = kind
    return render(request, "pages/alerts/rules.html", context)


@router.post("/alerts/rules", response_class=HTMLResponse, response_model=None)
def create_rule(
    request: Request,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Create a rule from the form of its kind (admin; audited alert_rule.create)."""
    kind = form.get("kind")
    if kind not in KINDS:
        context = _list_context(session)
        context.update(kind_error=f"kind: choose one of {', '.join(KINDS)}", chosen_kind="")
        return render(request, "pages/alerts/rules.html", context, status_code=422)
    errors = FormErrors(rule_form.field_names(kind))
    body = rule_form.rule_body(kind, form, errors)
    if not errors:
        try:
            data = RuleCreate.model_validate(body)
        except ValidationError as exc:
            errors.add_validation(exc)
        else:
            try:
                rule = rules.create_rule(session=session, data=data, actor=actor, now=clock())
            except UnprocessableError as exc:
                errors.add_service(exc)
            except ConflictError as exc:
                errors.add("id", exc.detail)
            else:
                return RedirectResponse(url("/alerts/rules", {"created": rule.id}), 303)
    context = _list_context(session)
    context.update(
        _form_context(session, kind, settings.agent_offline_after),
        chosen_kind=kind,
        values=rule_form.posted_values(kind, form),
        errors=errors.by_field,
        form_errors=errors.general,
    )
    return render(request, "pages/alerts/rules.html", context, status_code=422)


@router.get("/alerts/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(
    request: Request,
    rule_id: RuleIdPath,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    saved: bool = False,
) -> HTMLResponse:
    """One rule: its edit form for admins, its settings for everyone else."""
    rule = _find(session, rule_id)
    if rule is None:
        return _not_found(request, rule_id)
    context = _rule_context(session, rule, settings.agent_offline_after)
    context["saved"] = saved
    return render(request, "pages/alerts/rule.html", context)


@router.post("/alerts/rules/{rule_id}", response_class=HTMLResponse, response_model=None)
def update_rule(
    request: Request,
    rule_id: RuleIdPath,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Replace the rule with the form (its kind and id stay; admin; alert_rule.update)."""
    rule = _find(session, rule_id)
    if rule is None:
        return _not_found(request, rule_id)
    kind = rule.kind
    errors = FormErrors(rule_form.field_names(kind))
    body = rule_form.rule_body(kind, form, errors)
    body.pop("id", None)
    if not errors:
        try:
            data = RuleFields.model_validate(body)
        except ValidationError as exc:
            errors.add_validation(exc)
        else:
            try:
                rules.replace_rule(
                    session=session, rule_id=rule.id, data=data, actor=actor, now=clock()
                )
            except UnprocessableError as exc:
                errors.add_service(exc)
            else:
                return RedirectResponse(url(_rule_url(rule.id), {"saved": "1"}), 303)
    context = _rule_context(session, rule, settings.agent_offline_after)
    context.update(
        values=rule_form.posted_values(kind, form),
        errors=errors.by_field,
        form_errors=errors.general,
    )
    return render(request, "pages/alerts/rule.html", context, status_code=422)


@router.get("/alerts/rules/{rule_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, rule_id: RuleIdPath, _: WebAdmin, session: SessionDep
) -> HTMLResponse:
    """Ask before deleting: what goes (its states) and what stays (its incidents)."""
    rule = _find(session, rule_id)
    if rule is None:
        return _not_found(request, rule_id)
    context = {
        "section": "alerts",
        "page_title": f"Delete rule {rule.name}?",
        "view": "rules",
        "rule": rule,
        "rule_url": _rule_url(rule.id),
    }
    return render(request, "pages/alerts/rule_delete.html", context)


@router.post("/alerts/rules/{rule_id}/delete", response_class=HTMLResponse, response_model=None)
def delete_rule(
    request: Request,
    rule_id: RuleIdPath,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """Delete the rule (admin; alert_rule.delete); its open incidents resolve, all stay."""
    try:
        rules.delete_rule(session=session, rule_id=rule_id, actor=actor, now=clock())
    except NotFoundError:
        return _not_found(request, rule_id)
    return RedirectResponse(url("/alerts/rules", {"deleted": rule_id}), 303)


def _find(session: Session, rule_id: str) -> AlertRule | None:
    try:
        return rules.get_rule(session=session, rule_id=rule_id)
    except NotFoundError:
        return None


def _rule_url(rule_id: str) -> str:
    return f"/alerts/rules/{quoted(rule_id)}"


def _not_found(request: Request, rule_id: str) -> HTMLResponse:
    return not_found_page(
        request,
        title="Rule not found",
        what="alert rule",
        missing_id=rule_id,
        back_url="/alerts/rules",
        back_label="All rules",
    )


def _list_context(session: Session) -> dict[str, Any]:
    rows, _ = rules.list_rules(session=session)
    return {
        "section": "alerts",
        "page_title": "Alert rules",
        "view": "rules",
        "rules": rows,
        "kinds": KINDS,
        "chosen_kind": "",
        "kind_error": None,
        "created": "",
        "deleted": "",
        "rule_url": _rule_url,
        "target_text": target_text,
    }


def _form_context(session: Session, kind: str, offline_after: int) -> dict[str, Any]:
    """The form of a rule of `kind`: its parameters, the choices it offers, no errors."""
    known_channels, _ = channel_service.list_channels(session=session)
    known_runbooks, _ = runbooks.list_runbooks(session=session)
    return {
        "form_kind": kind,
        "kind_spec": KINDS[kind],
        "params": rule_form.param_fields(kind, offline_after=offline_after),
        "target_choices": rule_form.target_choices(kind),
        "severities": SEVERITIES,
        "channels": known_channels,
        "runbooks": known_runbooks,
        "values": rule_form.initial_values(kind),
        "errors": {},
        "form_errors": [],
    }


def _rule_context(session: Session, rule: AlertRule, offline_after: int) -> dict[str, Any]:
    context = _form_context(session, rule.kind, offline_after)
    context.update(
        section="alerts",
        page_title=rule.name,
        view="rules",
        rule=rule,
        rule_url=_rule_url(rule.id),
        target_text=target_text,
        values=rule_form.rule_values(rule),
        saved=False,
    )
    return context


def target_text(target: dict[str, list[str]]) -> str:
    """`every subject`, or the list a rule's target names."""
    if not target:
        return "every subject of its kind"
    key, ids = next(iter(target.items()))
    return f"{rule_form.TARGET_LABELS[key].lower()}: {', '.join(ids)}"
