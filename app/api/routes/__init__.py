"""Every JSON router, in the order they are mounted."""

from fastapi import APIRouter

from app.api.routes import (
    agents,
    events,
    exports,
    health,
    maindb,
    metric_tiles,
    miners,
    mobile,
    runbooks,
    settings,
    stream,
    tokens,
)

API_ROUTERS: list[APIRouter] = [
    health.router,
    agents.router,
    events.router,
    runbooks.router,
    metric_tiles.router,
    settings.router,
    tokens.router,
    miners.router,
    mobile.router,
    exports.router,
    stream.router,
    maindb.router,
]
