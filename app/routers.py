"""The one list of routers, in the order they are mounted.

API_ROUTERS are the JSON routers (the OpenAPI document is theirs); WEB_ROUTERS the HTML
pages (include_in_schema=False). Routers mounted by another router (agent ingest under
the agents API, the cross-service users and RoadChain pages) are not listed again.
The counts the nav shows (app/core/templating.py NAV_COUNTS) are registered here too:
core renders the frame, the feature that counts is named only here.
"""

from fastapi import APIRouter

from app.agents.api.agents import router as agents_api
from app.agents.api.events import router as agents_events_api
from app.agents.pages.agents import router as agents_pages
from app.agents.pages.events import router as agents_events_pages
from app.alerts.api.channels import router as alerts_channels_api
from app.alerts.api.exports import router as alerts_exports_api
from app.alerts.api.health import router as alerts_health_api
from app.alerts.api.incidents import router as alerts_incidents_api
from app.alerts.api.notifications import router as alerts_notifications_api
from app.alerts.api.rules import router as alerts_rules_api
from app.alerts.api.silences import router as alerts_silences_api
from app.alerts.pages.alerts import router as alerts_pages
from app.alerts.pages.channels import router as alerts_channels_pages
from app.alerts.pages.common import nav_firing_count
from app.alerts.pages.incidents import router as alerts_incidents_pages
from app.alerts.pages.rules import router as alerts_rules_pages
from app.alerts.pages.silences import router as alerts_silences_pages
from app.audit.api import router as audit_api
from app.audit.pages import router as audit_pages
from app.auth.api import router as auth_api
from app.auth.pages import router as auth_pages
from app.availability.api import router as availability_api
from app.availability.bar import bar_html
from app.core.templating import add_nav_count, add_template_global
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

# Requests are matched against the routes in this order: the ingest paths most traffic takes
# (miner samples, heartbeats) come early, after the health probes.
API_ROUTERS: list[APIRouter] = [
    ops_health_api,
    miners_api,
    agents_api,
    agents_events_api,
    runbooks_api,
    dashboard_metric_tiles_api,
    settings_api,
    auth_api,
    dashboard_mobile_api,
    ops_exports_api,
    dashboard_stream_api,
    maindb_api,
    alerts_health_api,
    alerts_rules_api,
    alerts_silences_api,
    alerts_channels_api,
    alerts_incidents_api,
    alerts_exports_api,
    alerts_notifications_api,
    audit_api,
    availability_api,
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
    audit_pages,
    alerts_pages,
    alerts_incidents_pages,
    alerts_rules_pages,
    alerts_channels_pages,
    alerts_silences_pages,
]

# The numbers the nav shows next to its entries, on every signed-in page.
add_nav_count("alerts", nav_firing_count, label="firing")
add_template_global("uptime_bar_html", bar_html)
