"""The overview page: the fleet at a glance, refreshed in place every few seconds."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import WebRead
from app.core.deps import SessionDep, SettingsDep
from app.core.templating import render
from app.core.timeutil import utcnow
from app.dashboard import overview as overview_service
from app.miners.tiles import format_hashrate, format_temperature, temperature_intent

router = APIRouter(include_in_schema=False)

# The live region polls the page itself; HX-Target selects just this partial.
LIVE_PARTIALS = {"overview-live": "partials/overview/live.html"}
REFRESH_SECONDS = 15
# Problems named on the page (worst first); the rest are counted, and listed on /alerts.
PROBLEMS_SHOWN = 20


@router.get("/", response_class=HTMLResponse)
def overview_page(
    request: Request, _: WebRead, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The fleet at a glance, its problems named first; only the live region for HX-Target
    "overview-live"."""
    now = utcnow()
    snapshot = overview_service.fleet_overview(
        session=session, now=now, offline_after=settings.agent_offline_after
    )
    hottest = snapshot.hottest
    return render(
        request,
        "pages/overview/index.html",
        {
            "section": "overview",
            "page_title": "Overview",
            "now": now,
            "overview": snapshot,
            "problems": snapshot.problems[:PROBLEMS_SHOWN],
            "problems_more": max(0, len(snapshot.problems) - PROBLEMS_SHOWN),
            "down": snapshot.down[:PROBLEMS_SHOWN],
            "down_more": max(0, len(snapshot.down) - PROBLEMS_SHOWN),
            # Per profile: kH/s of one algorithm never added to TH/s of another.
            "format_hashrate": format_hashrate,
            "hottest_value": format_temperature(hottest.temperature_c if hottest else None),
            "hottest_intent": temperature_intent(hottest.temperature_c) if hottest else None,
            "offline_after": settings.agent_offline_after,
            "refresh_seconds": REFRESH_SECONDS,
        },
        partials=LIVE_PARTIALS,
    )
