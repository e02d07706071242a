"""API schemas of the mobile dashboard (no table: it summarises the others)."""

import pydantic

from app.core.timeutil import UTCDateTime as ApiDateTime
from app.models.alerts import HealthName
from app.models.base import ApiModel
from app.models.metric import MetricTile


class FleetSummary(ApiModel):
    """Counts computed from the fleet at request time."""

    agents_total: int
    agents_online: int
    agents_degraded: int
    agents_offline: int = pydantic.Field(
        description="Agents shown offline, including those silent for longer than "
        "PRISM_AGENT_OFFLINE_AFTER seconds whatever they last reported."
    )
    runbooks: int
    miners_total: int
    miners_reporting: int = pydantic.Field(
        description="Miners with a sample in the last PRISM_AGENT_OFFLINE_AFTER seconds."
    )
    miners_critical: int = pydantic.Field(
        description="Reporting miners whose newest sample has a critical tile."
    )
    miners_warning: int = pydantic.Field(
        description="Reporting miners whose worst tile is a warning."
    )
    miners_stale: int = pydantic.Field(
        description="Miners without a sample for PRISM_AGENT_OFFLINE_AFTER seconds "
        "(state `stale` in /api/miners)."
    )
    fleet_hashrate: float = pydantic.Field(
        description="Sum of the effective hashrate (H/s) of every miner's newest sample."
    )
    agents_health: dict[HealthName, int] = pydantic.Field(
        description="Agents by health (SPEC §11), every health present: what `summary` says."
    )
    miners_health: dict[HealthName, int] = pydantic.Field(
        description="Miners by health, every health present."
    )
    problems: int = pydantic.Field(
        description="Agents and miners whose health is critical, warning, pending or unknown "
        "(GET /api/problems)."
    )
    generated_at: ApiDateTime


class Shortcut(ApiModel):
    id: str
    title: str
    icon: str
    url: str


class MobileDashboard(ApiModel):
    summary: str = pydantic.Field(
        description="One sentence about the fleet, which mobile clients print as it is: "
        '"2 problems: 1 agent offline, 1 miner critical." or "All 8 agents and 4 miners '
        'healthy."',
        examples=["All 8 agents and 4 miners healthy."],
    )
    fleet: FleetSummary = pydantic.Field(
        description="Structured counts: by status and state, and by health (behind `summary`)."
    )
    metrics: list[MetricTile]
    shortcuts: list[Shortcut] = pydantic.Field(
        description="Absolute URLs: PRISM_PUBLIC_URL, else the base URL of the request."
    )
