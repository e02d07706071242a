"""The one list of routers, in the order they are mounted.

API_ROUTERS are the JSON routers (the OpenAPI document is theirs); WEB_ROUTERS the HTML
pages (include_in_schema=False). Routers mounted by another router (agent ingest under
the agents API, the cross-service users and RoadChain pages) are not listed again.
"""

from fastapi import APIRouter

from app.agents.api.agents import router as agents_api
from app.agents.api.events import router as agents_events_api
from app.agents.pages.agents import router as agents_pages
from app.agents.pages.events import router as agents_events_pages
from app.auth.api import router as auth_api
from app.auth.pages import router as auth_pages
from app.dashboard.api.metric_tiles import router as dashboard_metric_tiles_api
from app.dashboard.api.mobile import router as dashboard_mobile_api
from app.dashboard.api.stream import router as dashboard_stream_api
from app.dashboard.pages import router as dashboard_pages
from app.maindb.api import router as maindb_api
from app.maindb.pages.cross import router as maindb_cross_pages
from app.miners.api import router as miners_api
from app.miners.pages import router as miners_pages
from app.ops.api.exports import router as ops_exports_api
from app.ops.api.health import router as ops_health_api
from app.runbooks.api import router as runbooks_api
from app.runbooks.pages import router as runbooks_pages
from app.settings.api import router as settings_api
from app.settings.pages import router as settings_pages

API_ROUTERS: list[APIRouter] = [
    ops_health_api,
    agents_api,
    agents_events_api,
    runbooks_api,
    dashboard_metric_tiles_api,
    settings_api,
    auth_api,
    miners_api,
    dashboard_mobile_api,
    ops_exports_api,
    dashboard_stream_api,
    maindb_api,
]

WEB_ROUTERS: list[APIRouter] = [
    auth_pages,
    dashboard_pages,
    agents_pages,
    agents_events_pages,
    runbooks_pages,
    miners_pages,
    settings_pages,
    maindb_cross_pages,
]
