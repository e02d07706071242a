"""Availability from intervals (SPEC §13): time down, in maintenance and unknown within a
window, the uptime that follows, and the window cut into equal segments for a status bar.

uptime = 1 - down / (known - maintenance): time inside a maintenance window is counted apart
(neither up nor down), and so is time the console knows nothing of (before an agent's first
recorded status, before a miner's first sample). Pure: the queries that build the
intervals are in app/availability/history.py.
"""

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
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


def _segments_known_once(
    bounds: list[datetime], *, down: Intervals, known: Interval
) -> list[Availability]:
    """segments() of a subject never in maintenance and known from one moment on (most
    rows of the lists): one pass over its outages, in time order with the parts; a part
    known throughout that no outage touches is 100 % without interval arithmetic."""
    parts = []
    index = 0
    for start, end in pairwise(bounds):
        if end <= start:
            continue
        part = Interval(start, end)
        if known.start >= end or known.end <= start:
            # Before the subject was known (a miner's days before its first sample): nothing
            # is counted there, whatever its outages.
            parts.append(Availability(part, None, 0.0, 0.0, part.seconds, []))
            continue
        while index < len(down) and down[index].end <= start:
            index += 1
        touched = index < len(down) and down[index].start < end
        if not touched and known.start <= start and known.end >= end:
            parts.append(Availability(part, 100.0, 0.0, 0.0, 0.0, []))
            continue
        last = index
        while last < len(down) and down[last].start < end:
            last += 1
        parts.append(
            _availability_of_normal(part, down=down[index:last], maintenance=[], known=[known])
        )
    return parts


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
    if not lists[1] and len(lists[2]) == 1:
        return _segments_known_once(bounds, down=lists[0], known=lists[2][0])
    down_list, maintenance_list, known_list = lists
    down_ends, down_starts = [item.end for item in down_list], [i.start for i in down_list]
    held_ends = [item.end for item in maintenance_list]
    held_starts = [item.start for item in maintenance_list]
    known_ends, known_starts = [item.end for item in known_list], [i.start for i in known_list]
    parts = []
    for start, end in pairwise(bounds):
        if end - start <= timedelta(0):
            continue
        part = Interval(start, end)
        # Intervals ending after `start` and starting before `end`: a contiguous run.
        down_from, down_to = bisect_right(down_ends, start), bisect_left(down_starts, end)
        held_from, held_to = bisect_right(held_ends, start), bisect_left(held_starts, end)
        known_from, known_to = bisect_right(known_ends, start), bisect_left(known_starts, end)
        if (
            down_from == down_to
            and held_from == held_to
            and known_to - known_from == 1
            and known_list[known_from].start <= start
            and known_list[known_from].end >= end
        ):
            # Known throughout, nothing down nor in maintenance: most days of most rows.
            parts.append(Availability(part, 100.0, 0.0, 0.0, 0.0, []))
            continue
        parts.append(
            _availability_of_normal(
                part,
                down=down_list[down_from:down_to],
                maintenance=maintenance_list[held_from:held_to],
                known=known_list[known_from:known_to],
            )
        )
    return parts
