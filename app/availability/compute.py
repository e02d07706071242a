"""Availability from intervals (SPEC §13): time down, in maintenance and unknown within a
window, the uptime that follows, and the window cut into equal segments for a status bar.

uptime = 1 - down / (known - maintenance): time inside a maintenance window is counted apart
(neither up nor down), and so is time the console knows nothing of (before an agent's first
recorded status, before a miner's first sample). Pure: the queries that build the
intervals are in app/availability/history.py.
"""

from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import NamedTuple

from app.availability.intervals import (
    Interval,
    Intervals,
    clipped,
    difference,
    intersection,
    normalized,
    total_seconds,
)

SEGMENTS = 90


@dataclass(frozen=True)
class Availability:
    window: Interval
    uptime_percent: float | None  # None: no known time outside maintenance
    downtime_seconds: float
    maintenance_seconds: float
    unknown_seconds: float
    outages: Intervals  # down and not in maintenance, clipped to the window


def availability(
    window: Interval, *, down: Intervals, maintenance: Intervals, known: Intervals
) -> Availability:
    """The figures of `window` from the subject's down, maintenance and known time."""
    known_here = clipped(normalized(known), window)
    in_maintenance = intersection(clipped(normalized(maintenance), window), known_here)
    outages = difference(
        intersection(clipped(normalized(down), window), known_here), in_maintenance
    )
    counted = total_seconds(known_here) - total_seconds(in_maintenance)
    downtime = total_seconds(outages)
    return Availability(
        window=window,
        uptime_percent=uptime_percent(downtime, counted),
        downtime_seconds=downtime,
        maintenance_seconds=total_seconds(in_maintenance),
        unknown_seconds=window.seconds - total_seconds(known_here),
        outages=outages,
    )


def uptime_percent(downtime_seconds: float, counted_seconds: float) -> float | None:
    """1 - down / counted, in percent to 3 decimals; None when nothing is counted."""
    if counted_seconds <= 0:
        return None
    return round(100.0 * (1.0 - downtime_seconds / counted_seconds), 3)


class Summary(NamedTuple):
    """What a list shows of a subject's window: the figures, the outages only counted (a
    tuple: the fleet list builds 10,000)."""

    uptime_percent: float | None
    downtime_seconds: float
    maintenance_seconds: float
    unknown_seconds: float
    outage_count: int


def summary(figures: Availability) -> Summary:
    return Summary(
        uptime_percent=figures.uptime_percent,
        downtime_seconds=figures.downtime_seconds,
        maintenance_seconds=figures.maintenance_seconds,
        unknown_seconds=figures.unknown_seconds,
        outage_count=len(figures.outages),
    )


def segments(
    window: Interval,
    *,
    down: Intervals,
    maintenance: Intervals,
    known: Intervals,
    count: int = SEGMENTS,
) -> list[Availability]:
    """`window` cut into `count` equal parts, oldest first, each with its own figures."""
    step = (window.end - window.start) / count
    bounds = [window.start + step * index for index in range(count)] + [window.end]
    return [
        availability(Interval(start, end), down=down, maintenance=maintenance, known=known)
        for start, end in pairwise(bounds)
        if end - start > timedelta(0)
    ]
