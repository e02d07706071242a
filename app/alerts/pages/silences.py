"""Silence pages: active, upcoming and ended silences; a form to create one (matchers, a
duration or an end, an optional weekly window) and a button to end one early (operate).

The form's controls carry the API's own names (matchers.subject, recurrence.start, ...), so
each refusal of SilenceCreate or of the service lands next to its control. The agent and
miner pages post their "Maintenance…" form here too, with `returnTo` naming their page:
success goes back there, a refusal shows this page's full form with the reason.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.alerts import rules, silences
from app.alerts.deps import ClockDep
from app.alerts.pages.common import FormDep, FormErrors, PostedForm, not_found_page, quoted, url
from app.alerts.schemas import SilenceCreate
from app.audit.deps import AuditActorDep
from app.auth.deps import WebOperate, WebRead
from app.core.deps import SessionDep
from app.core.errors import ConflictError, NotFoundError, UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import parse_datetime
from app.models.alerts import SUBJECT_TYPES, Silence

router = APIRouter(include_in_schema=False)

SHOWN = 200  # active and upcoming silences shown (they are few)
ENDED_PAGE = 50
# The durations the form offers, in hours; empty: the end time given.
DURATIONS = {"1": "1 hour", "4": "4 hours", "24": "1 day", "168": "1 week"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MATCHER_KEYS = ("subjectType", "subject", "domain", "ruleId")
SILENCE_FIELDS = (
    "matchers",
    *(f"matchers.{key}" for key in MATCHER_KEYS),
    "duration",
    "startsAt",
    "endsAt",
    "recurrence",
    "recurrence.weekdays",
    "recurrence.start",
    "recurrence.end",
    "comment",
    "id",
)
Prefill = Annotated[str, Query(max_length=128)]


@router.get("/silences", response_class=HTMLResponse)
def silences_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    clock: ClockDep,
    subject_type: Annotated[str, Query(alias="subjectType", max_length=16)] = "",
    subject: Prefill = "",
    domain: Prefill = "",
    rule_id: Annotated[str, Query(alias="ruleId", max_length=128)] = "",
    created: Prefill = "",
    ended: Prefill = "",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Active, upcoming and ended silences; the create form filled from the query (the
    "Maintenance…" link of an agent or miner page)."""
    now = clock()
    values = _initial_values()
    values.update(
        {
            "matchers.subjectType": subject_type if subject_type in SUBJECT_TYPES else "",
            "matchers.subject": subject,
            "matchers.domain": domain,
            "matchers.ruleId": rule_id,
        }
    )
    context = _context(session, now, cursor=cursor, values=values)
    context.update(created=created, ended=ended)
    return _page(request, context, status_code=422 if context["cursor_error"] else 200)


@router.post("/silences", response_class=HTMLResponse, response_model=None)
def create_silence(
    request: Request,
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Create a silence or maintenance window (operate; audited silence.create)."""
    now = clock()
    errors = FormErrors(SILENCE_FIELDS)
    body = _body(form, now, errors)
    if not errors:
        try:
            data = SilenceCreate.model_validate(body)
        except ValidationError as exc:
            errors.add_validation(exc)
        else:
            try:
                silence = silences.create_silence(
                    session=session,
                    data=data,
                    created_by=principal.name,
                    actor=actor,
                    now=now,
                )
            except UnprocessableError as exc:
                errors.add_service(exc)
            except ConflictError as exc:
                errors.add("id", exc.detail)
            else:
                back = _local_path(form.get("returnTo"))
                return RedirectResponse(back or url("/silences", {"created": silence.id}), 303)
    context = _context(session, now, values=_posted(form))
    context.update(errors=errors.by_field, form_errors=errors.general, open_form=True)
    return _page(request, context, status_code=422)


@router.post("/silences/{silence_id}/end", response_class=HTMLResponse, response_model=None)
def end_silence(
    request: Request,
    silence_id: Annotated[str, Path(max_length=128)],
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """End a silence now (operate; audited silence.end); it stays in the history as ended."""
    now = clock()
    try:
        silences.end_silence(
            session=session, silence_id=silence_id, by=principal.name, actor=actor, now=now
        )
    except NotFoundError:
        return not_found_page(
            request,
            title="Silence not found",
            what="silence",
            missing_id=silence_id,
            back_url="/silences",
            back_label="All silences",
        )
    except ConflictError as exc:
        context = _context(session, now, values=_initial_values())
        context["action_error"] = exc.detail
        return _page(request, context, status_code=409)
    back = _local_path(form.get("returnTo"))
    return RedirectResponse(back or url("/silences", {"ended": silence_id}), 303)


def _page(request: Request, context: dict[str, Any], *, status_code: int) -> HTMLResponse:
    return render(request, "pages/alerts/silences.html", context, status_code=status_code)


def _context(
    session: Session, now: datetime, *, values: dict[str, Any], cursor: str | None = None
) -> dict[str, Any]:
    active, _ = silences.list_silences(session=session, status="active", now=now, limit=SHOWN)
    upcoming, _ = silences.list_silences(session=session, status="upcoming", now=now, limit=SHOWN)
    ended: list[Silence] = []
    last = None
    cursor_error = None
    try:
        ended, last = silences.list_silences(
            session=session,
            status="ended",
            now=now,
            limit=ENDED_PAGE,
            cursor=decode_cursor(cursor) if cursor else None,
        )
    except UnprocessableError as exc:
        cursor_error = exc.detail
    known_rules, _ = rules.list_rules(session=session)
    return {
        "section": "alerts",
        "page_title": "Silences",
        "view": "silences",
        "now": now,
        "groups": [
            ("active", "Active", active),
            ("upcoming", "Upcoming", upcoming),
            ("ended", "Ended", ended),
        ],
        "ended_next_url": url("/silences", {"cursor": encode_cursor(last)}) + "#silences-ended"
        if last
        else None,
        "ended_first_url": "/silences#silences-ended" if cursor else None,
        "cursor_error": cursor_error,
        "rule_choices": [(rule.id, rule.name) for rule in known_rules],
        "subject_types": SUBJECT_TYPES,
        "durations": DURATIONS,
        "weekdays": WEEKDAYS,
        "values": values,
        "errors": {},
        "form_errors": [],
        "open_form": bool(values.get("matchers.subject") or values.get("matchers.domain")),
        "action_error": None,
        "created": "",
        "ended": "",
        "recurrence_text": recurrence_text,
        "matcher_link": _matcher_link,
        "silence_anchor": lambda silence_id: f"silence-{quoted(silence_id)}",
    }


def _initial_values() -> dict[str, Any]:
    values: dict[str, Any] = {f"matchers.{key}": "" for key in MATCHER_KEYS}
    values.update(
        {
            "duration": "4",
            "startsAt": "",
            "endsAt": "",
            "recurrence.weekdays": [],
            "recurrence.start": "",
            "recurrence.end": "",
            "comment": "",
            "returnTo": "",
        }
    )
    return values


def _posted(form: PostedForm) -> dict[str, Any]:
    values: dict[str, Any] = {
        f"matchers.{key}": form.get(f"matchers.{key}") for key in MATCHER_KEYS
    }
    values.update(
        {
            "duration": form.get("duration"),
            "startsAt": form.get("startsAt"),
            "endsAt": form.get("endsAt"),
            "recurrence.weekdays": form.getlist("recurrence.weekdays"),
            "recurrence.start": form.get("recurrence.start"),
            "recurrence.end": form.get("recurrence.end"),
            "comment": form.raw("comment"),
            "returnTo": _local_path(form.get("returnTo")) or "",
        }
    )
    return values


def _body(form: PostedForm, now: datetime, errors: FormErrors) -> dict[str, Any]:
    """The body POST /api/silences would get; unreadable times go into `errors`."""
    matchers = {key: form.get(f"matchers.{key}") for key in MATCHER_KEYS}
    body: dict[str, Any] = {
        "matchers": {key: value for key, value in matchers.items() if value},
        "comment": form.raw("comment"),
    }
    starts_at = _time(form.get("startsAt"), "startsAt", errors)
    if starts_at is not None:
        body["startsAt"] = starts_at
    duration = form.get("duration")
    if duration:
        if duration not in DURATIONS:
            errors.add("duration", f"choose one of {', '.join(DURATIONS.values())}, or an end")
        else:
            body["endsAt"] = (starts_at or now) + timedelta(hours=int(duration))
    elif form.get("endsAt"):
        ends_at = _time(form.get("endsAt"), "endsAt", errors)
        if ends_at is not None:
            body["endsAt"] = ends_at
    else:
        errors.add("endsAt", "choose a duration, or give the end")
    weekdays = form.getlist("recurrence.weekdays")
    start, end = form.get("recurrence.start"), form.get("recurrence.end")
    if weekdays or start or end:
        body["recurrence"] = {
            "weekdays": [int(day) if day.isdigit() else day for day in weekdays],
            "start": start,
            "end": end,
        }
    return body


def _time(text: str, name: str, errors: FormErrors) -> datetime | None:
    if not text:
        return None
    try:
        return parse_datetime(text)  # datetime-local: UTC, as the form says
    except ValueError:
        errors.add(name, "must be a date and time, e.g. 2026-01-05T10:00 (UTC)")
        return None


def _local_path(path: str) -> str | None:
    """Only a path of this site: never send the browser elsewhere after a form."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    if any(ord(character) < 32 for character in path):
        return None
    return path


def recurrence_text(recurrence: dict[str, Any] | None) -> str:
    """`Mon, Tue 22:00-02:00 UTC` (a window past midnight ends the next day)."""
    if not recurrence:
        return ""
    days = ", ".join(WEEKDAYS[day] for day in recurrence.get("weekdays", []) if 0 <= day <= 6)
    return f"{days} {recurrence.get('start')}-{recurrence.get('end')} UTC"


def _matcher_link(key: str, value: str) -> str | None:
    """The page of what a matcher names, where there is one."""
    if key == "ruleId":
        return f"/alerts/rules/{quoted(value)}"
    if key == "domain":
        return url("/agents", {"domain": value})
    return None
