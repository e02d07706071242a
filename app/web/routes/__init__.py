"""Every HTML router (include_in_schema=False: the OpenAPI document is the JSON API's)."""

from fastapi import APIRouter

from app.web.routes import agents, auth, cross, events, miners, overview, runbooks, settings

WEB_ROUTERS: list[APIRouter] = [
    auth.router,
    overview.router,
    agents.router,
    events.router,
    runbooks.router,
    miners.router,
    settings.router,
    cross.router,
]
