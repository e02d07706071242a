"""The Audit page (admins): the log newest first, filtered, paged, live.

Filters are query parameters (GET form, htmx swaps the results); times are UTC. The first
page of a valid filter is live: static/js/audit-live.js hears {"type": "audit"} on the ops
stream and asks /audit/rows for the rows after the newest one shown, so each row is
rendered here, by the same partial, never in JavaScript.
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.audit import queries
from app.audit.queries import AuditQuery
from app.auth.deps import WebAdmin
from app.core.deps import SessionDep
from app.core.errors import UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import datetime_local, isoformat, parse_datetime
from app.models.audit import AuditEvent

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LIVE_BATCH = 100  # rows one live refresh adds at most (the newest ones)
PARTIALS = {"audit-results": "partials/audit/results.html"}
Text = Annotated[str, Query(max_length=256)]


def target_url(event: AuditEvent) -> str | None:
    """The page of what a row acted on, where the console has one."""
    target = event.target_id
    if target is None:
        return None
    quoted = quote(target, safe="")
    pages = {
        "agent": f"/agents/{quoted}",
        "runbook": f"/runbooks/{quoted}",
        "setting": f"/settings?{urlencode({'show': target})}",
        "token": f"/settings?{urlencode({'show_token': target})}#tokens",
    }
    return pages.get(event.target_type or "")


def actor_url(event: AuditEvent) -> str:
    """This page filtered to the row's actor: by token id when there is one (names repeat)."""
    if event.actor_id:
        return "/audit?" + urlencode({"actorId": event.actor_id})
    return "/audit?" + urlencode({"actor": event.actor})


def target_filter_url(event: AuditEvent) -> str | None:
    if event.target_type is None:
        return None
    params = {"targetType": event.target_type}
    if event.target_id is not None:
        params["targetId"] = event.target_id
    return "/audit?" + urlencode(params)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    _admin: WebAdmin,
    session: SessionDep,
    actor: Text = "",
    actor_id: Annotated[str, Query(alias="actorId", max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target_type: Annotated[str, Query(alias="targetType", max_length=64)] = "",
    target_id: Annotated[str, Query(alias="targetId", max_length=256)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """The audit log, newest first, 50 rows a page; the first page follows new rows live."""
    errors: dict[str, str] = {}
    query = _query(errors, actor, actor_id, action, target_type, target_id, since, until)
    rows: list[AuditEvent] = []
    last: list[Any] | None = None
    if not errors:
        try:
            rows, last = queries.list_events(
                session=session,
                query=query,
                limit=PAGE_SIZE,
                after=decode_cursor(cursor) if cursor else None,
            )
        except UnprocessableError as exc:
            errors["cursor"] = exc.detail
    params = _page_params(query, since, until, errors)
    page_url = "/audit?" + urlencode(params) if params else "/audit"
    separator = "&" if params else "?"
    context = {
        "section": "audit",
        "page_title": "Audit log",
        "events": rows,
        "errors": errors,
        "values": {
            "actor": actor,
            "actorId": actor_id,
            "action": action,
            "targetType": target_type,
            "targetId": target_id,
            "since": _input_value(query.since, since, "since" in errors),
            "until": _input_value(query.until, until, "until" in errors),
        },
        "filtered": bool(params),
        "paged": cursor is not None,
        "live": cursor is None and not errors,
        "page_url": page_url,
        "rows_url": "/audit/rows" + ("?" + urlencode(params) if params else ""),
        "newest_url": page_url if cursor is not None else None,
        "older_url": f"{page_url}{separator}cursor={encode_cursor(last)}" if last else None,
        "export_query": urlencode(_export_params(query)) if not errors else "",
        **_row_helpers(),
    }
    return render(
        request,
        "pages/audit/index.html",
        context,
        partials=PARTIALS,
        status_code=422 if errors else 200,
    )


@router.get("/audit/rows", response_class=HTMLResponse)
def audit_rows(
    request: Request,
    _admin: WebAdmin,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    actor: Text = "",
    actor_id: Annotated[str, Query(alias="actorId", max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target_type: Annotated[str, Query(alias="targetType", max_length=64)] = "",
    target_id: Annotated[str, Query(alias="targetId", max_length=256)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The rows newer than `after` matching the filters, newest first (the live page's
    refresh): table rows only."""
    errors: dict[str, str] = {}
    query = _query(errors, actor, actor_id, action, target_type, target_id, since, until)
    rows = (
        []
        if errors
        else queries.events_after(session=session, query=query, after_id=after, limit=LIVE_BATCH)
    )
    context = {"events": rows, "page_title": "Audit rows", **_row_helpers()}
    return render(request, "partials/audit/rows.html", context, status_code=422 if errors else 200)


def _row_helpers() -> dict[str, Any]:
    return {
        "target_url": target_url,
        "actor_url": actor_url,
        "target_filter_url": target_filter_url,
    }


def _query(
    errors: dict[str, str],
    actor: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    since: str,
    until: str,
) -> AuditQuery:
    start, end = _time("since", since, errors), _time("until", until, errors)
    if start is not None and end is not None and end <= start:
        errors["until"] = "must be later than since"
    return AuditQuery(
        actor=actor.strip() or None,
        actor_id=actor_id.strip() or None,
        action=action.strip() or None,
        target_type=target_type.strip() or None,
        target_id=target_id.strip() or None,
        since=start,
        until=end,
    )


def _time(name: str, text: str, errors: dict[str, str]) -> datetime | None:
    if not text.strip():
        return None
    try:
        return parse_datetime(text)  # naive (datetime-local) is UTC, as the form says
    except ValueError:
        errors[name] = "must be a date and time, e.g. 2026-01-05T10:00 (UTC)"
        return None


def _input_value(value: datetime | None, text: str, invalid: bool) -> str:
    if invalid:
        return text
    return datetime_local(value) if value is not None else ""


def _page_params(
    query: AuditQuery, since: str, until: str, errors: dict[str, str]
) -> list[tuple[str, str]]:
    params = [
        (name, value)
        for name, value in (
            ("actor", query.actor),
            ("actorId", query.actor_id),
            ("action", query.action),
            ("targetType", query.target_type),
            ("targetId", query.target_id),
        )
        if value
    ]
    for name, value, text in (("since", query.since, since), ("until", query.until, until)):
        shown = _input_value(value, text, name in errors)
        if shown:
            params.append((name, shown))
    return params


def _export_params(query: AuditQuery) -> list[tuple[str, str]]:
    params = _page_params(query, "", "", {})
    params = [(name, value) for name, value in params if name not in ("since", "until")]
    if query.since:
        params.append(("since", isoformat(query.since)))
    if query.until:
        params.append(("until", isoformat(query.until)))
    return params
