"""FastAPI dependency for the workflow gateway (PRISM_GATEWAY_URL)."""

from typing import Annotated

from fastapi import Depends

from app.core.deps import SettingsDep
from app.runbooks.gateway import WorkflowGateway


def get_gateway(settings: SettingsDep) -> WorkflowGateway | None:
    """The workflow gateway from PRISM_GATEWAY_URL, or None (runs are then only queued)."""
    if not settings.gateway_url:
        return None
    return WorkflowGateway(settings.gateway_url, timeout=settings.gateway_timeout)


GatewayDep = Annotated[WorkflowGateway | None, Depends(get_gateway)]
