"""The app builds its routes when it is created, not at the first requests (which, many at
once on a fresh replica, raced in pydantic's schema generation: one answered 500)."""

from fastapi.routing import _IncludedRouter

from app.core.config import Settings
from app.main import create_app


def test_every_included_router_is_built_before_the_first_request(app_settings: Settings) -> None:
    app = create_app(app_settings)
    included = [route for route in app.router.routes if isinstance(route, _IncludedRouter)]
    assert included
    # FastAPI's own cache marker: set once a router's effective routes were built.
    assert all(route._effective_candidates_version is not None for route in included)
