"""Answers of the availability API (SPEC §13), camelCase."""

from typing import Literal

from pydantic import Field

from app.core.timeutil import UTCDateTime
from app.models.base import ApiModel

WindowName = Literal["24h", "7d", "30d", "90d"]
SubjectKind = Literal["agent", "miner"]


class Span(ApiModel):
    """[from, to) (`from` is a Python keyword: the fields are start and end)."""

    start: UTCDateTime = Field(serialization_alias="from")
    end: UTCDateTime = Field(serialization_alias="to")


class Outage(Span):
    seconds: float


class Segment(Span):
    uptime_percent: float | None = Field(description="null: nothing known in this segment")


class AvailabilityReport(ApiModel):
    window: str
    start: UTCDateTime = Field(serialization_alias="from")
    end: UTCDateTime = Field(serialization_alias="to")
    uptime_percent: float | None = Field(
        description="3 decimals; null when nothing is known outside maintenance"
    )
    downtime_seconds: float
    maintenance_seconds: float
    unknown_seconds: float = Field(
        description="Time the console knows nothing of (before the first status or sample)"
    )
    outages: list[Outage]
    segments: list[Segment]


class FleetAvailabilityItem(ApiModel):
    subject_type: SubjectKind
    subject: str
    name: str
    uptime_percent: float | None
    downtime_seconds: float
    maintenance_seconds: float
    outage_count: int


class FleetAvailability(ApiModel):
    window: str
    start: UTCDateTime = Field(serialization_alias="from")
    end: UTCDateTime = Field(serialization_alias="to")
    total: int
    items: list[FleetAvailabilityItem]
