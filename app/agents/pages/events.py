"""HTML pages of the events area: the filtered event log, newest first, with a live tail.

The page is a plain filtered list with keyset pages ("Older events"); static/js/live-tail.js
adds events from the ops stream to the first page, reading the filters from the table's data
attributes. Times in the filter form are UTC (datetime-local inputs carry no zone; with the
local-time preference static/js/time.js converts them both ways).

The agent filter takes an agent's exact id (what the suggestions offer), else an id prefix
or a part of a name; `q` searches the messages; `range` (15m, 1h, 24h, 7d) is a quick
"since", used when neither since nor until is given.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.agents import events as event_service
from app.agents import service as agent_service
from app.agents.events import EventQuery
from app.agents.service import AgentQuery
from app.auth.deps import WebRead
from app.core.deps import ClockDep, SessionDep, SettingsDep
from app.core.errors import UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import datetime_local, isoformat, parse_datetime
from app.models.agent import EVENT_KINDS

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
AGENT_SUGGESTIONS = 500  # agent ids offered in the filter's datalist
NAMED_AGENTS_FOR_TAIL = 500  # agents whose name matches, told to the live tail
COUNT_CAP = 10_000  # the total is counted up to here ("more than 10,000" beyond)
PARTIALS = {"events-results": "partials/events/results.html"}
QUICK_RANGES = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    _user: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    agent: Annotated[str, Query(max_length=128)] = "",
    kind: Annotated[list[str] | None, Query(max_length=100)] = None,
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=event_service.MAX_SEARCH_LENGTH)] = "",
    range_: Annotated[str, Query(alias="range", max_length=8)] = "",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Events newest first, filtered by agent, kind, message text and UTC time range (or a
    quick range); 50 per page, with the total count of matching events."""
    errors: dict[str, str] = {}
    agent_text = agent.strip()
    quick_range = _quick_range(range_.strip(), errors) if not (since or until) else ""
    if quick_range:
        since = datetime_local(clock() - QUICK_RANGES[quick_range])
    # An exact id (what the suggestions offer) is that one agent, not every id it prefixes.
    exact_agent = bool(agent_text) and event_service.agent_exists(
        session=session, agent_id=agent_text
    )
    query = _query(agent_text, exact_agent, q.strip(), kind or [], since, until, errors)
    rows: list[Any] = []
    next_cursor = None
    total: int | None = None
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
        else:
            total = event_service.count_events(session=session, query=query, cap=COUNT_CAP)
    page_params = _page_params(query, quick_range, since, until, errors)
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
        "agent_names": event_service.agent_names(
            session=session, agent_ids=[row.agent_id for row in rows]
        ),
        "total": total,
        "count_cap": COUNT_CAP,
        "kind_choices": EVENT_KINDS,
        "agent": agent_text,
        "q": q.strip(),
        "quick_range": quick_range,
        "quick_ranges": list(QUICK_RANGES),
        "quick_range_urls": {
            name: _url([*_page_params(query, name, "", "", {}, times=False)])
            for name in QUICK_RANGES
        },
        "kinds": query.kinds if "kind" not in errors else tuple(kind or ()),
        "since_value": "" if quick_range else _input_value(query.since, since, "since" in errors),
        "until_value": _input_value(query.until, until, "until" in errors),
        "agents": [(row.id, row.name) for row in suggestions],
        "errors": errors,
        "filtered": bool(page_params),
        "paged": cursor is not None,
        "live": cursor is None and not errors,
        "live_filters": {
            "agent": query.agent_id or "",
            "agent_match": (query.agent_match or "").lower(),
            # The live tail cannot look names up: the agents whose name matches.
            "agent_named": ",".join(
                event_service.agents_named(
                    session=session, match=query.agent_match, limit=NAMED_AGENTS_FOR_TAIL
                )
                if query.agent_match
                else ()
            ),
            "q": (query.text or "").lower(),
            "kinds": ",".join(query.kinds),
            "since": isoformat(query.since) if query.since else "",
            "until": isoformat(query.until) if query.until else "",
        },
        "page_url": page_url,
        "newest_url": page_url if cursor is not None else None,
        "older_url": _url([*page_params, ("cursor", encode_cursor(next_cursor))])
        if next_cursor
        else None,
        # The export takes an exact agent, kinds and times: not the searches of this page.
        "exportable": not errors and query.agent_match is None and query.text is None,
        "export_query": urlencode(_export_params(query)) if not errors else "",
    }
    return render(
        request,
        "pages/events/index.html",
        context,
        partials=PARTIALS,
        status_code=422 if errors else 200,
    )


def _quick_range(name: str, errors: dict[str, str]) -> str:
    if name and name not in QUICK_RANGES:
        errors["range"] = f"must be one of {', '.join(QUICK_RANGES)}"
        return ""
    return name


def _query(
    agent: str,
    exact_agent: bool,
    text: str,
    kinds: list[str],
    since: str,
    until: str,
    errors: dict[str, str],
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
    return EventQuery(
        agent_id=agent if exact_agent else None,
        agent_match=agent if agent and not exact_agent else None,
        text=text or None,
        kinds=parsed_kinds,
        since=start,
        until=end,
    )


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
    query: EventQuery,
    quick_range: str,
    since: str,
    until: str,
    errors: dict[str, str],
    *,
    times: bool = True,
) -> list[tuple[str, str]]:
    """The page's filters as query parameters, times in the form's own UTC notation; a
    quick range stays a range (its "since" moves with the clock)."""
    params: list[tuple[str, str]] = []
    agent = query.agent_id or query.agent_match
    if agent:
        params.append(("agent", agent))
    if query.text:
        params.append(("q", query.text))
    params.extend(("kind", kind) for kind in query.kinds)
    if quick_range:
        params.append(("range", quick_range))
    elif times:
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
