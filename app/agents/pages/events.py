"""HTML pages of the events area: the filtered event log, newest first, with a live tail.

The page is a plain filtered list with keyset pages ("Older events"); static/js/live-tail.js
adds events from the ops stream to the first page, reading the filters from the table's data
attributes. Times in the filter form are UTC (datetime-local inputs carry no zone).
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.agents import events as event_service
from app.agents import service as agent_service
from app.agents.events import EventQuery
from app.agents.service import AgentQuery
from app.auth.deps import WebRead
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import datetime_local, isoformat, parse_datetime
from app.models.agent import EVENT_KINDS

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
AGENT_SUGGESTIONS = 500  # agent ids offered in the filter's datalist
PARTIALS = {"events-results": "partials/events/results.html"}


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    _user: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    agent: Annotated[str, Query(max_length=128)] = "",
    kind: Annotated[list[str] | None, Query(max_length=100)] = None,
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Events newest first, filtered by agent, kind and UTC time range; 50 per page."""
    errors: dict[str, str] = {}
    query = _query(agent.strip(), kind or [], since, until, errors)
    rows: list[Any] = []
    next_cursor = None
    if not errors:
        try:
            rows, next_cursor = event_service.list_events(
                session=session,
                query=query,
                limit=PAGE_SIZE,
                cursor=decode_cursor(cursor) if cursor else None,
            )
        except UnprocessableError as exc:
            errors["cursor"] = _message(exc)
    page_params = _page_params(query, since, until, errors)
    page_url = _url(page_params)
    suggestions, _ = agent_service.list_agents(
        session=session,
        query=AgentQuery(sort="id"),
        offline_after=settings.agent_offline_after,
        limit=AGENT_SUGGESTIONS,
    )
    context = {
        "section": "events",
        "page_title": "Events",
        "events": rows,
        "kind_choices": EVENT_KINDS,
        "agent": query.agent_id or "",
        "kinds": query.kinds if "kind" not in errors else tuple(kind or ()),
        "since_value": _input_value(query.since, since, "since" in errors),
        "until_value": _input_value(query.until, until, "until" in errors),
        "agent_ids": [row.id for row in suggestions],
        "errors": errors,
        "filtered": bool(page_params),
        "paged": cursor is not None,
        "live": cursor is None and not errors,
        "live_filters": {
            "agent": query.agent_id or "",
            "kinds": ",".join(query.kinds),
            "since": isoformat(query.since) if query.since else "",
            "until": isoformat(query.until) if query.until else "",
        },
        "page_url": page_url,
        "newest_url": page_url if cursor is not None else None,
        "older_url": _url([*page_params, ("cursor", encode_cursor(next_cursor))])
        if next_cursor
        else None,
        "export_query": urlencode(_export_params(query)) if not errors else "",
    }
    return render(
        request,
        "pages/events/index.html",
        context,
        partials=PARTIALS,
        status_code=422 if errors else 200,
    )


def _query(
    agent: str, kinds: list[str], since: str, until: str, errors: dict[str, str]
) -> EventQuery:
    """The filters as the service takes them; each problem recorded against its field."""
    parsed_kinds: tuple[str, ...] = ()
    try:
        parsed_kinds = event_service.parse_kinds(kinds)
    except UnprocessableError as exc:
        errors["kind"] = _message(exc)
    start, end = _time("since", since, errors), _time("until", until, errors)
    try:
        event_service.check_time_range(start, end)
    except UnprocessableError as exc:
        errors["until"] = _message(exc)
    return EventQuery(agent_id=agent or None, kinds=parsed_kinds, since=start, until=end)


def _time(name: str, text: str, errors: dict[str, str]) -> datetime | None:
    if not text.strip():
        return None
    try:
        # A naive value (what datetime-local sends) is UTC, as the form says.
        return parse_datetime(text)
    except ValueError:
        errors[name] = "must be a date and time, e.g. 2026-01-05T10:00 (UTC)"
        return None


def _message(exc: UnprocessableError) -> str:
    """'kind: x is wrong' → 'x is wrong' (the field is shown by where the message sits)."""
    _, _, message = exc.detail.partition(": ")
    return message or exc.detail


def _input_value(value: datetime | None, text: str, invalid: bool) -> str:
    if invalid or value is None:
        return text if invalid else ""
    return datetime_local(value)


def _page_params(
    query: EventQuery, since: str, until: str, errors: dict[str, str]
) -> list[tuple[str, str]]:
    """The page's filters as query parameters, times in the form's own UTC notation."""
    params: list[tuple[str, str]] = []
    if query.agent_id:
        params.append(("agent", query.agent_id))
    params.extend(("kind", kind) for kind in query.kinds)
    for name, value, text in (("since", query.since, since), ("until", query.until, until)):
        shown = _input_value(value, text, name in errors)
        if shown:
            params.append((name, shown))
    return params


def _export_params(query: EventQuery) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if query.agent_id:
        params.append(("agent", query.agent_id))
    params.extend(("kind", kind) for kind in query.kinds)
    if query.since:
        params.append(("since", isoformat(query.since)))
    if query.until:
        params.append(("until", isoformat(query.until)))
    return params


def _url(params: list[tuple[str, str]]) -> str:
    return f"/events?{urlencode(params)}" if params else "/events"
