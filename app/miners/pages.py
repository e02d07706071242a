"""Miners pages: the fleet's tiles, and one miner's tiles, facts and charts over a time range.

The tiles are the tiles API's own (miner_queries, tiles.build_tiles on each miner's newest
sample), so the page and GET /api/miners/tiles always agree. Charts are drawn in the browser
by static/js/charts.js from /api/miners/{id}/series; the page only says which window and how
many points (bounded: the server downsamples), plus a text summary for readers without JS.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.alerts.health import judge_fleet
from app.alerts.subject_alerts import subject_alerts
from app.auth.deps import WebRead
from app.availability.service import Uptime, miner_uptimes
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import NotFoundError, UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import datetime_local, isoformat, utcnow
from app.dashboard import mobile
from app.miners import queries as miner_queries
from app.miners import summary as miner_summary
from app.miners.tiles import build_tiles, format_hashrate
from app.models.alerts import HealthName
from app.models.miner import MinerPublic, MinerState, Tile

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
# About one point per pixel of a wide chart: small answers, and a spike keeps its own bucket.
CHART_POINTS = 800
FLEET_PARTIALS = {"miners-fleet": "partials/miners/fleet.html"}
DETAIL_PARTIALS = {
    "miner-live": "partials/miners/live.html",
    "miner-charts": "partials/miners/charts.html",
}
FIELD_LABELS = {"range": "Range", "since": "From", "until": "To"}
# Miners with problems named above the cards (worst first); the rest are on /alerts.
PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class MinerCard:
    miner_id: str
    href: str
    state: MinerState
    pool: str | None
    profile: str | None
    last_seen_at: datetime
    tiles: list[Tile]
    health: HealthName
    uptime: Uptime | None


def miner_href(miner_id: str) -> str:
    """The detail page of a miner (its id may hold any character)."""
    return f"/miners/{quote(miner_id, safe='')}"


def _card(item: MinerPublic, now: datetime, health: HealthName, uptime: Uptime | None) -> MinerCard:
    latest = item.latest
    return MinerCard(
        miner_id=item.miner_id,
        href=miner_href(item.miner_id),
        state=item.state,
        pool=latest.pool if latest else None,
        profile=latest.profile if latest else None,
        last_seen_at=item.last_seen_at,
        # Exactly what GET /api/miners/tiles computes for this miner's newest sample.
        tiles=build_tiles(latest, now) if latest else [],
        health=health,
        uptime=uptime,
    )


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


@router.get("/miners", response_class=HTMLResponse)
def miners_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    cursor: str | None = None,
) -> HTMLResponse:
    now = utcnow()
    error = None
    try:
        items, next_cursor = miner_queries.list_miners(
            session=session,
            now=now,
            stale_after=settings.agent_offline_after,
            limit=PAGE_SIZE,
            cursor=decode_cursor(cursor) if cursor else None,
        )
    except UnprocessableError:
        items, next_cursor = [], None
        error = "This page link is not valid any more: start again from the first page."
    # One judgement for the totals, the problems and each card's health.
    judgement = judge_fleet(session, now=now)
    totals = mobile.fleet_summary(
        session=session, now=now, offline_after=settings.agent_offline_after, judgement=judgement
    )
    problems = [problem for problem in judgement.problems if problem.subject_type == "miner"]
    uptimes = miner_uptimes(
        session=session,
        miner_ids=[item.miner_id for item in items],
        now=now,
        offline_after=settings.agent_offline_after,
    )
    this_page = f"/miners?{urlencode({'cursor': cursor})}" if cursor else "/miners"
    return render(
        request,
        "pages/miners/list.html",
        {
            "section": "miners",
            "page_title": "Miners",
            "cards": [
                _card(
                    item,
                    now,
                    judgement.miners.get(item.miner_id, "unknown"),
                    uptimes.get(item.miner_id),
                )
                for item in items
            ],
            "problems": problems[:PROBLEMS_SHOWN],
            "problems_total": len(problems),
            "totals": totals,
            "fleet_hashrate": format_hashrate(totals.fleet_hashrate),
            "reporting_window": _duration(settings.agent_offline_after),
            "error": error,
            "poll_url": this_page,
            "next_url": (
                f"/miners?{urlencode({'cursor': encode_cursor(next_cursor)})}"
                if next_cursor
                else None
            ),
            "first_url": "/miners" if cursor else None,
        },
        partials=FLEET_PARTIALS,
        status_code=422 if error else 200,
    )


def _chart(
    spec: miner_summary.ChartSpec,
    miner_id: str,
    window: miner_summary.Window,
    figures: miner_summary.WindowFigures,
) -> dict[str, Any]:
    """What charts.js needs for one chart, and its text for readers without JavaScript."""
    query = urlencode(
        {"since": isoformat(window.since), "until": isoformat(window.until), "points": CHART_POINTS}
    )
    series = [
        {"key": item.key, "label": item.label, "unit": item.unit}
        | ({"format": spec.value_format} if spec.value_format else {})
        for item in spec.series
    ]
    lines = miner_summary.summary_lines(spec, figures, window)
    return {
        "id": spec.id,
        "title": spec.title,
        "url": f"/api/miners/{quote(miner_id, safe='')}/series?{query}",
        "series_json": json.dumps(series, ensure_ascii=False),
        "aria_label": f"{spec.title} chart over {window.label}. " + "; ".join(lines),
        "lines": lines,
    }


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
        "chart_points": CHART_POINTS,
    }
    try:
        window = miner_summary.resolve_range(preset=range_, since=since, until=until, now=now)
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
    context.update(
        current_range=window.preset,
        window_label=window.label,
        since_value=datetime_local(window.since, to_minute=True),
        until_value=datetime_local(window.until, to_minute=True),
        charts=[_chart(spec, miner_id, window, figures) for spec in miner_summary.CHARTS],
    )
    return render(request, "pages/miners/detail.html", context, partials=DETAIL_PARTIALS)
