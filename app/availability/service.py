"""Availability reports (SPEC §13): one subject over a named window with its outages and 90
segments, the fleet worst first, and a calendar month for the SLA export."""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlmodel import Session, col

from app.agents.service import get_agent
from app.availability.agent_sums import WindowMicros, agent_sums, needs_intervals, summary_of
from app.availability.compute import Availability, Summary, availability, segments, summary
from app.availability.history import (
    SubjectTime,
    agent_time,
    agents_time,
    covered,
    miner_time,
    silences_within,
)
from app.availability.intervals import Interval, Intervals
from app.availability.miner_down import miners_down
from app.availability.schemas import (
    AvailabilityReport,
    FleetAvailability,
    FleetAvailabilityItem,
    Outage,
    Segment,
    SubjectKind,
    WindowName,
)
from app.core.errors import UnprocessableError
from app.core.timeutil import isoformat
from app.miners.queries import require_miner
from app.models import Miner

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
# From 1970 (unix time) on: year 0 is no datetime, and nothing was recorded before.
MONTH_PATTERN = r"^(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def window_ending(name: WindowName, now: datetime) -> Interval:
    return Interval(now - WINDOWS[name], now)


def month_window(month: str, now: datetime) -> Interval:
    """The calendar month "YYYY-MM" in UTC, up to `now` if it is the current one."""
    found = _MONTH.match(month)
    if found is None:
        raise UnprocessableError("month: must be YYYY-MM, from 1970-01")
    start = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
    if start > now:
        raise UnprocessableError("month: must not be in the future")
    following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return Interval(start, min(following, now))


def agent_report(
    *, session: Session, agent_id: str, window: WindowName, now: datetime, offline_after: int
) -> AvailabilityReport:
    agent = get_agent(session=session, agent_id=agent_id)
    span = window_ending(window, now)
    return _report(window, span, agent_time(session, agent, span, offline_after))


def miner_report(
    *, session: Session, miner_id: str, window: WindowName, now: datetime, offline_after: int
) -> AvailabilityReport:
    miner = require_miner(session=session, miner_id=miner_id)
    span = window_ending(window, now)
    return _report(window, span, miner_time(session, miner, span, offline_after))


def _report(name: str, span: Interval, time: SubjectTime) -> AvailabilityReport:
    whole = _figures(span, time)
    parts = segments(span, down=time.down, maintenance=time.maintenance, known=time.known)
    return AvailabilityReport(
        window=name,
        start=span.start,
        end=span.end,
        uptime_percent=whole.uptime_percent,
        downtime_seconds=whole.downtime_seconds,
        maintenance_seconds=whole.maintenance_seconds,
        unknown_seconds=whole.unknown_seconds,
        outages=[
            Outage(start=item.start, end=item.end, seconds=item.seconds) for item in whole.outages
        ],
        segments=[
            Segment(
                start=part.window.start, end=part.window.end, uptime_percent=part.uptime_percent
            )
            for part in parts
        ],
    )


def _figures(span: Interval, time: SubjectTime) -> Availability:
    return availability(span, down=time.down, maintenance=time.maintenance, known=time.known)


class SubjectFigures(NamedTuple):
    subject_type: SubjectKind
    subject: str
    name: str
    figures: Summary


def fleet_figures(
    *, session: Session, kind: SubjectKind, span: Interval, offline_after: int
) -> list[SubjectFigures]:
    """Every agent or miner over `span`, worst first (lowest uptime; nothing known last),
    then by id."""
    found = list(_subjects(session, kind, span, offline_after))
    found.sort(
        key=lambda item: (
            item.figures.uptime_percent is None,
            item.figures.uptime_percent or 0.0,
            item.subject,
        )
    )
    return found


def _subjects(
    session: Session, kind: SubjectKind, span: Interval, offline_after: int
) -> Iterator[SubjectFigures]:
    silences = silences_within(session, span)
    if kind == "agent":
        # Summed in SQL for them all; the few agents sums cannot judge exactly (under
        # maintenance, silent now) take the interval path.
        window = WindowMicros.of(span)
        by_intervals = []
        for sums in agent_sums(session, span):
            if needs_intervals(sums, window, offline_after) or (
                silences
                and covered(
                    silences, subject_type="agent", subject=sums.agent_id, domain=sums.domain
                )
            ):
                by_intervals.append(sums.agent_id)
            else:
                figures = summary_of(sums, window)
                yield SubjectFigures("agent", sums.agent_id, sums.name, figures)
        if by_intervals:
            for agent, time in agents_time(session, span, offline_after, by_intervals):
                yield SubjectFigures("agent", agent.id, agent.name, summary(_figures(span, time)))
        return
    # Miners one by one (a few indexed statements each, the rollup saying where to read
    # samples): a fleet's samples over 90 days would be one scan of the whole table.
    for miner in session.execute(select(Miner).order_by(col(Miner.miner_id))).scalars().all():
        time = miner_time(session, miner, span, offline_after, silences)
        yield SubjectFigures(
            "miner", miner.miner_id, miner.name or miner.miner_id, summary(_figures(span, time))
        )


def fleet_report(
    *,
    session: Session,
    kind: SubjectKind,
    window: WindowName,
    now: datetime,
    offline_after: int,
    limit: int,
) -> FleetAvailability:
    span = window_ending(window, now)
    found = fleet_figures(session=session, kind=kind, span=span, offline_after=offline_after)
    return FleetAvailability(
        window=window,
        start=span.start,
        end=span.end,
        total=len(found),
        items=[
            FleetAvailabilityItem(
                subject_type=item.subject_type,
                subject=item.subject,
                name=item.name,
                uptime_percent=item.figures.uptime_percent,
                downtime_seconds=item.figures.downtime_seconds,
                maintenance_seconds=item.figures.maintenance_seconds,
                outage_count=item.figures.outage_count,
            )
            for item in found[:limit]
        ],
    )


SLA_COLUMNS = (
    "subjectType",
    "subject",
    "name",
    "month",
    "from",
    "to",
    "uptimePercent",
    "downtimeSeconds",
    "maintenanceSeconds",
    "unknownSeconds",
    "outages",
)


def sla_rows(
    *, session: Session, month: str, now: datetime, offline_after: int
) -> list[dict[str, object]]:
    """The month's figures of every agent, then every miner, worst first within each."""
    span = month_window(month, now)
    rows: list[dict[str, object]] = []
    for kind in ("agent", "miner"):
        for item in fleet_figures(
            session=session, kind=kind, span=span, offline_after=offline_after
        ):
            figures = item.figures
            rows.append(
                {
                    "subjectType": item.subject_type,
                    "subject": item.subject,
                    "name": item.name,
                    "month": month,
                    "from": isoformat(span.start),
                    "to": isoformat(span.end),
                    "uptimePercent": figures.uptime_percent,
                    "downtimeSeconds": figures.downtime_seconds,
                    "maintenanceSeconds": figures.maintenance_seconds,
                    "unknownSeconds": figures.unknown_seconds,
                    "outages": figures.outage_count,
                }
            )
    return rows


@dataclass(frozen=True)
class Uptime:
    """What the lists and detail pages show of a subject: uptime over the last 24 h and
    30 d, and the 90-day status bar (90 one-day segments), from one read of its history."""

    day: Availability
    month: Availability
    quarter: Availability
    bar: list[Availability]
    # For each bar segment, the index in quarter.outages of the first outage it holds.
    bar_outages: list[int | None]


def uptime_of(time: SubjectTime, now: datetime) -> Uptime:
    """Figures of the sub-windows of a 90-day read (availability() clips to each)."""
    quarter = window_ending("90d", now)
    whole = _figures(quarter, time)
    bar = segments(quarter, down=time.down, maintenance=time.maintenance, known=time.known)
    return Uptime(
        day=_figures(window_ending("24h", now), time),
        month=_figures(window_ending("30d", now), time),
        quarter=whole,
        bar=bar,
        bar_outages=[_first_outage(whole.outages, part.window) for part in bar],
    )


def _first_outage(outages: Intervals, segment: Interval) -> int | None:
    for index, outage in enumerate(outages):
        if outage.start < segment.end and outage.end > segment.start:
            return index
    return None


def agent_uptimes(
    *, session: Session, agent_ids: Sequence[str], now: datetime, offline_after: int
) -> dict[str, Uptime]:
    """Uptime of these agents (three statements, whatever their number)."""
    if not agent_ids:
        return {}
    quarter = window_ending("90d", now)
    return {
        agent.id: uptime_of(time, now)
        for agent, time in agents_time(session, quarter, offline_after, agent_ids)
    }


def miner_uptimes(
    *, session: Session, miner_ids: Sequence[str], now: datetime, offline_after: int
) -> dict[str, Uptime]:
    """Uptime of these miners (a few indexed statements each)."""
    if not miner_ids:
        return {}
    quarter = window_ending("90d", now)
    miners = (
        session.execute(select(Miner).where(col(Miner.miner_id).in_(list(miner_ids))))
        .scalars()
        .all()
    )
    silences = silences_within(session, quarter)
    down = miners_down(session, [miner.miner_id for miner in miners], quarter, offline_after)
    return {
        miner.miner_id: uptime_of(
            miner_time(session, miner, quarter, offline_after, silences, down[miner.miner_id]),
            now,
        )
        for miner in miners
    }
