"""Availability from intervals (SPEC §13): time down, in maintenance and unknown within a
window, the uptime that follows, and the window cut into equal segments for a status bar.

uptime = 1 - down / (known - maintenance): time inside a maintenance window is counted apart
(neither up nor down), and so is time the console knows nothing of (before an agent's first
recorded status, before a miner's first sample). Pure: the queries that build the
intervals are in app/availability/history.py.
"""

from bisect import bisect_left, bisect_right
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


class Availability(NamedTuple):
    """A window's figures. A named tuple: the list pages build 93 a row (figures and bar)."""

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
    return _availability_of_normal(
        window, down=normalized(down), maintenance=normalized(maintenance), known=normalized(known)
    )


def _availability_of_normal(
    window: Interval, *, down: Intervals, maintenance: Intervals, known: Intervals
) -> Availability:
    """availability() of intervals already in normal form (sorted, disjoint)."""
    known_here = clipped(known, window)
    if not down and not maintenance:  # most days of most subjects: nothing to subtract
        counted = total_seconds(known_here)
        return Availability(
            window=window,
            uptime_percent=uptime_percent(0.0, counted),
            downtime_seconds=0.0,
            maintenance_seconds=0.0,
            unknown_seconds=window.seconds - counted,
            outages=[],
        )
    in_maintenance = intersection(clipped(maintenance, window), known_here)
    outages = difference(intersection(clipped(down, window), known_here), in_maintenance)
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
    """`window` cut into `count` equal parts, oldest first, each with its own figures.

    The lists are put in normal form once and each part reads only the intervals that can
    overlap it (found by bisection: normal forms have sorted ends too). The lists pages show
    a bar per row, so this runs 90 times a row: measured, 8 ms a row before, well under one.
    """
    step = (window.end - window.start) / count
    bounds = [window.start + step * index for index in range(count)] + [window.end]
    lists = [normalized(down), normalized(maintenance), normalized(known)]
    if not lists[0] and not lists[1] and len(lists[2]) == 1:
        # Never down nor in maintenance, known from one moment on (most subjects): a day is
        # 100 % where known throughout, and computed only where the known time begins.
        return [
            Availability(part, 100.0, 0.0, 0.0, 0.0, [])
            if lists[2][0].start <= part.start and lists[2][0].end >= part.end
            else _availability_of_normal(part, down=[], maintenance=[], known=lists[2])
            for part in (Interval(start, end) for start, end in pairwise(bounds))
            if part.end - part.start > timedelta(0)
        ]
    ends = [[item.end for item in intervals] for intervals in lists]
    starts = [[item.start for item in intervals] for intervals in lists]
    parts = []
    for start, end in pairwise(bounds):
        if end - start <= timedelta(0):
            continue
        # Intervals ending after `start` and starting before `end`: a contiguous run.
        near = [
            intervals[bisect_right(ending, start) : bisect_left(beginning, end)]
            for intervals, ending, beginning in zip(lists, ends, starts, strict=True)
        ]
        part = Interval(start, end)
        down_near, maintenance_near, known_near = near
        if (
            not down_near
            and not maintenance_near
            and len(known_near) == 1
            and known_near[0].start <= start
            and known_near[0].end >= end
        ):
            # Known throughout, nothing down nor in maintenance: most days of most rows.
            parts.append(Availability(part, 100.0, 0.0, 0.0, 0.0, []))
            continue
        parts.append(
            _availability_of_normal(
                part, down=down_near, maintenance=maintenance_near, known=known_near
            )
        )
    return parts
