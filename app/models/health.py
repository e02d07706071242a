"""Response bodies of the health endpoints (no tables)."""

from typing import Literal

from pydantic import BaseModel, Field

from app.core.timeutil import UTCDateTime
from app.models.base import ApiModel


class HealthCheck(ApiModel):
    """One measurement of a component, as the IETF health check draft shapes it."""

    component_type: str
    observed_value: float | str | None = None
    observed_unit: str | None = None
    status: Literal["pass", "warn", "fail"]
    time: UTCDateTime
    output: str | None = None


Checks = dict[str, list[HealthCheck]]


class ApiHealth(ApiModel):
    """`application/health+json`: draft-inadarei-api-health-check."""

    status: Literal["pass", "warn", "fail"]
    version: str
    release_id: str
    service_id: str
    description: str
    checks: Checks


class LegacyHealth(BaseModel):
    """The earlier service's /health keys, with real values, plus the same checks."""

    status: Literal["ok", "degraded", "down"]
    uptime: float = Field(description="Seconds since the process started serving.")
    version: str
    db: Literal["connected", "disconnected"]
    mocks: bool = False
    checks: Checks
