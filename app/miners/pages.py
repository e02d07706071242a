"""Miners pages: the fleet's tiles, and one miner's tiles, facts and charts over a time range.

The tiles are the tiles API's own (miner_queries, tiles.build_tiles on each miner's newest
sample), so the page and GET /api/miners/tiles always agree. Charts are drawn in the browser
by static/js/charts.js from /api/miners/{id}/series; the page only says which window and how
many points (bounded: the server downsamples), plus a text summary for readers without JS.
"""

import dataclasses
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from app.alerts.health import miner_health
from app.alerts.health import problems as health_problems
from app.alerts.subject_alerts import subject_alerts
from app.auth.deps import WebRead
from app.availability.service import miner_uptimes
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import NotFoundError, UnprocessableError
from app.core.templating import format_si, render
from app.core.timeutil import datetime_local, utcnow
from app.miners import chart_page, fleet
from app.miners import queries as miner_queries
from app.miners import summary as miner_summary
from app.miners.tiles import (
    format_hashrate,
    format_percent,
    format_temperature,
    stale_intent,
    temperature_intent,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
FLEET_PARTIALS = {"miners-fleet": "partials/miners/fleet.html"}
DETAIL_PARTIALS = {
    "miner-live": "partials/miners/live.html",
    "miner-charts": "partials/miners/charts.html",
}
FIELD_LABELS = {"range": "Range", "since": "From", "until": "To", "reset": "Reset zoom"}
# Miners with problems named above the table (worst first); the rest are on /alerts.
PROBLEMS_SHOWN = 10


def miner_href(miner_id: str) -> str:
    """The detail page of a miner (its id may hold any character)."""
    return f"/miners/{quote(miner_id, safe='')}"


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


@router.get("/miners", response_class=HTMLResponse)
def miners_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    # Plain strings: a bad value is shown on the page, not answered with JSON.
    sort: str | None = None,
    order: str | None = None,
    health: str | None = None,
    profile: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    now = utcnow()
    stale_after = settings.agent_offline_after
    error = None
    try:
        sort_key, sort_order = fleet.resolve_sort(sort, order)
        page_number = _page_number(page)
        health_filter = fleet.resolve_health(health)
    except UnprocessableError as exc:
        error = exc.detail
        sort_key, sort_order, page_number, health_filter = fleet.DEFAULT_SORT, "asc", 1, None
    # The miners' health and problems only: judging the agents too (judge_fleet) cost more
    # than the rest of the page with 10,000 agents.
    healths = miner_health(session, now=now)
    problems = health_problems(session, now=now, subject_type="miner")
    # Uptime costs a read of each miner's history: only the rows shown, unless the order
    # itself is by uptime.
    rows = fleet.miner_rows(
        miner_queries.fleet_columns(session=session),
        healths=healths,
        problems=problems,
        now=now,
        stale_after=stale_after,
    )
    totals = fleet.profile_totals(rows)
    profiles = [total.profile for total in totals]
    shown = fleet.filter_rows(rows, health=health_filter, profile=profile or None)
    if sort_key == "uptime":
        shown = _with_uptimes(session, shown, now, stale_after)
    shown = fleet.sort_rows(shown, sort_key, sort_order)
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page_number = min(page_number, pages)
    page_rows = shown[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]
    if sort_key != "uptime":
        page_rows = _with_uptimes(session, page_rows, now, stale_after)
    query = {
        key: value
        for key, value in (
            ("sort", sort if sort else None),
            ("order", order if order else None),
            ("health", health_filter),
            ("profile", profile or None),
        )
        if value
    }
    return render(
        request,
        "pages/miners/list.html",
        {
            "section": "miners",
            "page_title": "Miners",
            "rows": page_rows,
            "rows_total": len(shown),
            "miners_total": len(rows),
            "reporting": sum(not row.stale for row in rows),
            "totals": totals,
            "profiles": profiles,
            "columns": fleet.COLUMNS,
            "sort": sort_key,
            "order": sort_order,
            "health_filter": health_filter or "",
            "health_filters": fleet.HEALTH_FILTERS,
            "profile_filter": profile or "",
            "sort_urls": {
                column.key: _list_url(
                    query, sort=column.key, order=_next_order(column.key, sort_key, sort_order)
                )
                for column in fleet.COLUMNS
            },
            "problems": problems[:PROBLEMS_SHOWN],
            "problems_total": len(problems),
            "reporting_window": _duration(stale_after),
            "error": error,
            "poll_url": _list_url(query, page=str(page_number) if page_number > 1 else None),
            "page_number": page_number,
            "pages": pages,
            "next_url": _list_url(query, page=str(page_number + 1))
            if page_number < pages
            else None,
            "first_url": _list_url(query) if page_number > 1 else None,
            **ROW_FORMATS,
        },
        partials=FLEET_PARTIALS,
        status_code=422 if error else 200,
    )


def _with_unit(value: float | None, unit: str) -> str:
    """3.25 kW, 812 W, 31.6 J/TH: three significant digits and an SI prefix."""
    if value is None:
        return "—"
    shown = format_si(value)
    return f"{shown}{unit}" if shown[-1].isalpha() else f"{shown} {unit}"


# What the rows format with: the tiles' own rules (thresholds, units), so a row and the
# miner's tiles never disagree.
ROW_FORMATS = {
    "miner_href": miner_href,
    "format_hashrate": format_hashrate,
    "format_temperature": format_temperature,
    "format_percent": format_percent,
    "temperature_intent": temperature_intent,
    "stale_intent": stale_intent,
    "format_power": lambda watts: _with_unit(watts, "W"),
    "format_efficiency": lambda joules: _with_unit(joules, "J/TH"),
}


def _page_number(page: str | None) -> int:
    if not page:
        return 1
    if not page.isdigit() or not 1 <= int(page) <= 1_000_000:
        raise UnprocessableError(f"page: a page number from 1, not {page[:20]!r}")
    return int(page)


def _next_order(key: str, current: str, order: str) -> str:
    """A header link's direction: the other one when the column is the sort, else its first."""
    if key == current:
        return "asc" if order == "desc" else "desc"
    return "desc" if fleet.COLUMN_BY_KEY[key].descending_first else "asc"


def _list_url(query: dict[str, str], **changes: str | None) -> str:
    merged = {**query, **changes}
    kept = {key: value for key, value in merged.items() if value}
    return f"/miners?{urlencode(kept)}" if kept else "/miners"


def _with_uptimes(
    session: Session, rows: list[fleet.MinerRow], now: datetime, stale_after: int
) -> list[fleet.MinerRow]:
    uptimes = miner_uptimes(
        session=session,
        miner_ids=[row.miner_id for row in rows],
        now=now,
        offline_after=stale_after,
    )
    return [dataclasses.replace(row, uptime=uptimes.get(row.miner_id)) for row in rows]


@router.get("/miners/{miner_id}", response_class=HTMLResponse)
def miner_page(
    request: Request,
    miner_id: str,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    # Plain strings: a bad value is shown next to the form, not answered with JSON.
    range_: Annotated[str | None, Query(alias="range")] = None,
    since: str | None = None,
    until: str | None = None,
    # Set by a zoom: the window "Reset zoom" goes back to (chart_page.resolve_reset).
    reset: str | None = None,
) -> HTMLResponse:
    now = utcnow()
    try:
        tiles = miner_queries.miner_tiles(session=session, miner_id=miner_id, now=now)
        miner = miner_queries.require_miner(session=session, miner_id=miner_id)
    except NotFoundError:
        return render(
            request,
            "pages/miners/not_found.html",
            {"section": "miners", "page_title": "Miner not found", "miner_id": miner_id},
            status_code=404,
        )
    latest = miner_queries.latest_samples(session=session, miner_id=miner_id)[0]
    base_url = miner_href(miner_id)
    context: dict[str, Any] = {
        "section": "miners",
        "page_title": f"Miner {miner_id}",
        "miner_id": miner_id,
        "miner": miner,
        "latest": latest,
        "tiles": tiles.tiles,
        "state": miner_queries.miner_state(
            latest, miner.last_recorded_at, now, settings.agent_offline_after
        ),
        "subject_alerts": subject_alerts(
            session, subject_type="miner", subject=miner_id, domain=None, now=now
        ),
        "uptime": miner_uptimes(
            session=session,
            miner_ids=[miner_id],
            now=now,
            offline_after=settings.agent_offline_after,
        ).get(miner_id),
        "base_url": base_url,
        "export_query": urlencode({"miner_id": miner_id}),
        "ranges": [(key, label) for key, (label, _span) in miner_summary.RANGES.items()],
        "errors": {},
        "charts": [],
        "chart_points": chart_page.CHART_POINTS,
        "chart_incidents": [],
        "incidents_island": chart_page.INCIDENTS_ISLAND,
        # Samples further apart than a miner may stay silent before it is stale are missing
        # data: the charts break their lines there.
        "chart_gap_seconds": settings.agent_offline_after,
        "zoom_reset": None,
        "reset_value": None,
    }
    try:
        window = miner_summary.resolve_range(preset=range_, since=since, until=until, now=now)
        zoom_reset = chart_page.resolve_reset(reset, base_url=base_url, now=now)
    except UnprocessableError as exc:
        field, _sep, message = exc.detail.partition(": ")
        context.update(
            errors={field: f"{FIELD_LABELS.get(field, field)}: {message}"},
            current_range=None,
            window_label=None,
            since_value=since or "",
            until_value=until or "",
        )
        return render(
            request, "pages/miners/detail.html", context, partials=DETAIL_PARTIALS, status_code=422
        )
    figures = miner_summary.window_figures(
        session=session, miner_id=miner_id, since=window.since, until=window.until
    )
    incidents = chart_page.chart_incidents(session=session, miner_id=miner_id, window=window)
    context.update(
        current_range=window.preset,
        window_label=window.label,
        since_value=datetime_local(window.since, to_minute=True),
        until_value=datetime_local(window.until, to_minute=True),
        charts=[
            chart_page.chart_view(spec, miner_id, window, figures) for spec in miner_summary.CHARTS
        ],
        chart_incidents=incidents,
        chart_annotations=[incident.island() for incident in incidents],
        zoom_reset=zoom_reset,
        # A zoom from a zoomed view still resets to where the first zoom started.
        reset_value=zoom_reset.value if zoom_reset else chart_page.reset_value(window),
    )
    return render(request, "pages/miners/detail.html", context, partials=DETAIL_PARTIALS)
