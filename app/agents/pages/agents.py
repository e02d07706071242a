"""Agent pages: the filterable list, one agent's detail, its timeline pages and status history.

Filters are query parameters, so every view is a URL that works without JavaScript; bad
values come back as the page with the field named (422), never as a JSON error.
"""

import math
from datetime import timedelta
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.agents import memory as agent_memory
from app.agents import rows as agent_rows
from app.agents import service as agent_service
from app.agents.pages.list_order import (
    AgentFacts,
    health_ordered,
    ordered,
)
from app.agents.pages.list_view import PAGE_SIZE, parse_list, sort_headers
from app.agents.service import AgentQuery
from app.agents.status import effective_status
from app.alerts import health as alert_health
from app.alerts.subject_alerts import subject_alerts
from app.auth.deps import WebRead
from app.availability.service import Uptime, agent_uptimes
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import NotFoundError, UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import isoformat, utcnow
from app.maindb.agent_timeline import AgentTimelinePage, agent_timeline
from app.maindb.convert import json_text
from app.maindb.deps import MainDbDep
from app.models.agent import AGENT_STATUSES, AgentPublic
from app.runbooks import service as runbook_service

router = APIRouter(include_in_schema=False)

TABLE_PARTIALS = {"agents-table": "partials/agents/table.html"}
# Agents with problems named above the table (worst first); the rest are on /alerts.
PROBLEMS_SHOWN = 10
EVENT_PARTIALS = {"events-more": "partials/agents/events_page.html"}
EVENTS_PER_PAGE = 20
HISTORY_ON_DETAIL = 10
HISTORY_PER_PAGE = 50
MEMORY_WINDOW = timedelta(hours=24)


@router.get("/agents", response_class=HTMLResponse)
def agents_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    q: str = "",
    status: str = "",
    domain: str = "",
    sort: str = "",
    order: str = "",
    limit: str = "",
    page: str = "",
) -> HTMLResponse:
    """The agents with problems first (named, worst first), then the agent table with its
    filters, sort and pages and each agent's health; only the table for HX-Target."""
    view, errors = parse_list(q, status, domain, sort, order, limit, page)
    now = utcnow()
    offline_after = settings.agent_offline_after
    # The problems order the list by health and are named above it; they read the alert
    # states, not every agent, so a large healthy fleet costs little.
    problems = alert_health.problems(session, now=now, subject_type="agent")
    shown: list[AgentPublic] = []
    total = pages = 0
    uptimes: dict[str, Uptime] = {}
    query = AgentQuery(status=view.status or None, domain=view.domain or None, q=view.q or None)
    facts = AgentFacts(problems={problem.subject: problem for problem in problems}, uptimes={})
    if not errors and view.sort == "health":
        # The default order needs only the ids: read those for the whole fleet, then the
        # rows of the page shown (10,000 rows cost the page 30 ms, their ids a few).
        ids = agent_rows.list_agent_ids(
            session=session, query=query, offline_after=offline_after, now=now
        )
        total = len(ids)
        pages = max(1, math.ceil(total / view.limit))
        if view.page > pages:
            errors["page"] = f"page: a whole number from 1 to {pages}"
        else:
            start = (view.page - 1) * view.limit
            page_ids = health_ordered(ids, order=view.order, facts=facts)[
                start : start + view.limit
            ]
            shown = [
                row.public()
                for row in agent_rows.rows_by_id(
                    session=session, agent_ids=page_ids, offline_after=offline_after, now=now
                )
            ]
    elif not errors:
        matching = agent_rows.list_agent_rows(
            session=session, query=query, offline_after=offline_after, now=now
        )
        total = len(matching)
        pages = max(1, math.ceil(total / view.limit))
        if view.page > pages:
            errors["page"] = f"page: a whole number from 1 to {pages}"
        else:
            if view.sort == "uptime":
                # Uptime is read from each agent's history: only this order reads it for all.
                uptimes = agent_uptimes(
                    session=session,
                    agent_ids=[agent.id for agent in matching],
                    now=now,
                    offline_after=offline_after,
                )
            facts = AgentFacts(problems=facts.problems, uptimes=uptimes)
            start = (view.page - 1) * view.limit
            shown = [
                row.public()
                for row in ordered(matching, sort=view.sort, order=view.order, facts=facts)[
                    start : start + view.limit
                ]
            ]
    shown_ids = [agent.id for agent in shown]
    if view.sort != "uptime":
        uptimes = agent_uptimes(
            session=session, agent_ids=shown_ids, now=now, offline_after=offline_after
        )
    healths = alert_health.agent_health(session, now=now, agent_ids=shown_ids)
    domains = agent_service.agent_domains(session=session)
    if view.domain and view.domain not in domains:
        domains.append(view.domain)  # keep an unknown choice visible rather than dropping it
    return render(
        request,
        "pages/agents/list.html",
        {
            "section": "agents",
            "page_title": "Agents",
            "now": now,
            "view": view,
            "errors": errors,
            "agents": shown,
            "healths": healths,
            "uptimes": uptimes,
            "problems": problems[:PROBLEMS_SHOWN],
            "problems_total": len(problems),
            "total": total,
            "pages": pages,
            "statuses": AGENT_STATUSES,
            "domains": domains,
            "sort_headers": sort_headers(view),
            "page_size": PAGE_SIZE,
            "previous_url": view.url(page=view.page - 1) if 1 < view.page <= pages else None,
            "next_url": view.url(page=view.page + 1) if view.page < pages else None,
        },
        status_code=422 if errors else 200,
        partials=TABLE_PARTIALS,
    )


def _agent_url(agent_id: str, suffix: str = "") -> str:
    return f"/agents/{quote(agent_id, safe='')}{suffix}"


def _not_found(request: Request, agent_id: str) -> HTMLResponse:
    return render(
        request,
        "pages/agents/not_found.html",
        {"section": "agents", "page_title": "Agent not found", "agent_id": agent_id},
        status_code=404,
    )


def _bad_cursor(request: Request, agent_id: str, detail: str) -> HTMLResponse:
    return render(
        request,
        "pages/agents/bad_request.html",
        {
            "section": "agents",
            "page_title": "Bad link",
            "detail": detail,
            "back_url": _agent_url(agent_id),
        },
        status_code=422,
    )


def _timeline_page(
    session: SessionDep, main_db: MainDbDep, agent_id: str, cursor: str
) -> tuple[AgentTimelinePage, str | None]:
    """Events, status changes and main agent_logs merged; the main logs degrade to a note."""
    page = agent_timeline(
        session=session,
        main_db=main_db,
        agent_id=agent_id,
        limit=EVENTS_PER_PAGE,
        cursor=decode_cursor(cursor) if cursor else None,
    )
    next_url = (
        _agent_url(agent_id, f"/events?{urlencode({'cursor': page.next_cursor})}")
        if page.next_cursor
        else None
    )
    return page, next_url


@router.get("/agents/{agent_id}", response_class=HTMLResponse)
def agent_page(
    agent_id: str,
    request: Request,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    main_db: MainDbDep,
) -> HTMLResponse:
    """One agent: its health and alerts ("Maintenance…" for operate), facts, status history,
    timeline, memory chart and the runbooks that apply."""
    try:
        agent = agent_service.get_agent(session=session, agent_id=agent_id)
    except NotFoundError:
        return _not_found(request, agent_id)
    now = utcnow()
    since = (now - MEMORY_WINDOW).replace(microsecond=0)
    history, history_cursor = agent_service.status_history(
        session=session, agent_id=agent_id, limit=HISTORY_ON_DETAIL
    )
    timeline, timeline_next = _timeline_page(session, main_db, agent_id, "")
    applicable = runbook_service.runbooks_for_agent(session=session, agent=agent)
    return render(
        request,
        "pages/agents/detail.html",
        {
            "section": "agents",
            "page_title": agent.name or agent.id,
            "now": now,
            "agent": agent,
            "agent_url": _agent_url(agent.id),
            "shown_status": effective_status(agent, now, settings.agent_offline_after),
            "subject_alerts": subject_alerts(
                session, subject_type="agent", subject=agent.id, domain=agent.domain, now=now
            ),
            "history": history,
            "history_more_url": _agent_url(
                agent.id, f"/history?cursor={encode_cursor(history_cursor)}"
            )
            if history_cursor
            else None,
            "timeline": timeline,
            "timeline_next_url": timeline_next,
            "json_text": json_text,
            "memory": agent_memory.memory_summary(session=session, agent_id=agent.id, since=since),
            "memory_url": "/api"
            + _agent_url(agent.id, f"/memory?{urlencode({'since': isoformat(since)})}"),
            "uptime": agent_uptimes(
                session=session,
                agent_ids=[agent.id],
                now=now,
                offline_after=settings.agent_offline_after,
            )[agent.id],
            "runbooks": applicable.runbooks,
            "runbooks_specific": applicable.specific,
            "general_tag": runbook_service.GENERAL_RUNBOOK_TAG,
        },
    )


@router.get("/agents/{agent_id}/events", response_class=HTMLResponse)
def agent_events_page(
    agent_id: str,
    request: Request,
    _: WebRead,
    session: SessionDep,
    main_db: MainDbDep,
    cursor: str = "",
) -> HTMLResponse:
    """One page of an agent's timeline: the infinite-scroll partial, or a page of its own."""
    try:
        agent = agent_service.get_agent(session=session, agent_id=agent_id)
    except NotFoundError:
        return _not_found(request, agent_id)
    try:
        timeline, next_url = _timeline_page(session, main_db, agent_id, cursor)
    except UnprocessableError as exc:
        return _bad_cursor(request, agent_id, exc.detail)
    return render(
        request,
        "pages/agents/events.html",
        {
            "section": "agents",
            "page_title": f"Timeline of {agent.name or agent.id}",
            "agent": agent,
            "agent_url": _agent_url(agent.id),
            "timeline": timeline,
            "timeline_next_url": next_url,
            "json_text": json_text,
            "first_url": _agent_url(agent.id, "/events") if cursor else None,
        },
        partials=EVENT_PARTIALS,
    )


@router.get("/agents/{agent_id}/history", response_class=HTMLResponse)
def agent_history_page(
    agent_id: str, request: Request, _: WebRead, session: SessionDep, cursor: str = ""
) -> HTMLResponse:
    """An agent's status changes, newest first, a page at a time."""
    try:
        agent = agent_service.get_agent(session=session, agent_id=agent_id)
    except NotFoundError:
        return _not_found(request, agent_id)
    try:
        history, next_cursor = agent_service.status_history(
            session=session,
            agent_id=agent_id,
            limit=HISTORY_PER_PAGE,
            cursor=decode_cursor(cursor) if cursor else None,
        )
    except UnprocessableError as exc:
        return _bad_cursor(request, agent_id, exc.detail)
    return render(
        request,
        "pages/agents/history.html",
        {
            "section": "agents",
            "page_title": f"Status history of {agent.name or agent.id}",
            "agent": agent,
            "agent_url": _agent_url(agent.id),
            "history": history,
            "next_url": _agent_url(agent.id, f"/history?cursor={encode_cursor(next_cursor)}")
            if next_cursor
            else None,
            "first_url": _agent_url(agent.id, "/history") if cursor else None,
        },
    )
