"""The mobile dashboard (compatible §5.1 shape)."""

from fastapi import APIRouter, Request

from app.auth.deps import ReadPrincipal
from app.core.deps import SessionDep, SettingsDep
from app.core.responses import errors
from app.core.timeutil import utcnow
from app.dashboard import mobile
from app.models.mobile import MobileDashboard

router = APIRouter(tags=["mobile"])


@router.get(
    "/api/mobile/dashboard",
    response_model=MobileDashboard,
    responses=errors(401, 403, validation=False),
    summary="Fleet summary, metric tiles and shortcuts for the mobile app",
)
def mobile_dashboard(
    request: Request, _principal: ReadPrincipal, session: SessionDep, settings: SettingsDep
) -> MobileDashboard:
    # A phone cannot open "/runbooks": shortcuts are absolute, under PRISM_PUBLIC_URL or
    # else the address this request came to.
    return mobile.dashboard(
        session=session,
        now=utcnow(),
        offline_after=settings.agent_offline_after,
        base_url=settings.public_url or str(request.base_url),
    )
