"""Availability (SPEC §13), read scope: one agent or miner over a window, the fleet worst
first, and the monthly SLA report as CSV."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.auth.deps import AuthFirstRoute, ReadPrincipal
from app.availability import service
from app.availability.schemas import AvailabilityReport, FleetAvailability, SubjectKind, WindowName
from app.core.deps import ClockDep, SessionDep, SettingsDep
from app.core.downloads import CSV_NOTE, CSVStream, csv_answer, download
from app.core.responses import errors
from app.core.validators import SafeId
from app.ops import exports

router = APIRouter(tags=["availability"], route_class=AuthFirstRoute)

_HOW = (
    "Exact, by interval arithmetic over the history (not by sampling): an agent is down while "
    "its shown status is offline, a miner while it is silent longer than "
    "PRISM_AGENT_OFFLINE_AFTER or reports 0 H/s. Time in a maintenance window (a silence "
    "without ruleId covering the subject) is counted apart, and so is time the console knows "
    "nothing of: uptime = 1 - down / (known - maintenance). `segments` cut the window into 90 "
    "equal parts for a status bar."
)
WindowQuery = Annotated[WindowName, Query(description="24h, 7d, 30d or 90d, ending now.")]


@router.get(
    "/api/agents/{agent_id}/availability",
    response_model=AvailabilityReport,
    responses=errors(401, 403, 404),
    summary="An agent's availability over a window",
    description=_HOW,
)
def agent_availability(
    agent_id: SafeId,
    _: ReadPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    window: WindowQuery = "30d",
) -> AvailabilityReport:
    return service.agent_report(
        session=session,
        agent_id=agent_id,
        window=window,
        now=clock(),
        offline_after=settings.agent_offline_after,
    )


@router.get(
    "/api/miners/{miner_id}/availability",
    response_model=AvailabilityReport,
    responses=errors(401, 403, 404),
    summary="A miner's availability over a window",
    description=f"{_HOW} 404 when the miner never sent a sample.",
)
def miner_availability(
    miner_id: SafeId,
    _: ReadPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    window: WindowQuery = "30d",
) -> AvailabilityReport:
    return service.miner_report(
        session=session,
        miner_id=miner_id,
        window=window,
        now=clock(),
        offline_after=settings.agent_offline_after,
    )


@router.get(
    "/api/availability",
    response_model=FleetAvailability,
    responses=errors(401, 403),
    summary="Every agent's or miner's availability, worst first",
    description=f"{_HOW} Lowest uptime first (subjects with nothing known last), then by id; "
    "`total` counts them all, `items` holds the first `limit`.",
)
def fleet_availability(
    _: ReadPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    subject_type: Annotated[SubjectKind, Query(alias="type", description="agent or miner.")],
    window: WindowQuery = "30d",
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many items.")] = 100,
) -> FleetAvailability:
    return service.fleet_report(
        session=session,
        kind=subject_type,
        window=window,
        now=clock(),
        offline_after=settings.agent_offline_after,
        limit=limit,
    )


@router.get(
    "/api/export/availability.csv",
    response_class=CSVStream,
    responses=csv_answer(service.SLA_COLUMNS, 422),
    summary="The SLA report: every agent's and miner's availability in a calendar month",
    description=f"{CSV_NOTE} The month in UTC (the current month up to now); agents first, "
    "then miners, each worst first.",
)
def availability_csv(
    _: ReadPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    month: Annotated[
        str,
        Query(description="YYYY-MM (UTC).", examples=["2026-11"], pattern=service.MONTH_PATTERN),
    ],
) -> StreamingResponse:
    rows = service.sla_rows(
        session=session, month=month, now=clock(), offline_after=settings.agent_offline_after
    )
    return download(
        CSVStream, exports.csv_chunks(rows, service.SLA_COLUMNS), f"availability-{month}.csv"
    )
