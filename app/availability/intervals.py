"""Interval arithmetic over time: the exact figures of availability (SPEC §13) come from
unions, intersections and differences of half-open intervals [start, end), never from
sampling the history at points.

Every function takes and returns intervals sorted by start and disjoint ("normal form");
`normalized()` makes any list so.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple


class Interval(NamedTuple):
    """[start, end): an empty or reversed interval has no length.

    A named tuple (ordered by start, then end) rather than a frozen dataclass: the list pages
    build tens of thousands a request, and a tuple is made several times faster."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


Intervals = list[Interval]


def normalized(intervals: Iterable[Interval]) -> Intervals:
    """Sorted, non-empty, with overlapping or touching intervals merged."""
    merged: Intervals = []
    for interval in sorted(item for item in intervals if item.end > item.start):
        if merged and interval.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, interval.end))
        else:
            merged.append(interval)
    return merged


def clipped(intervals: Sequence[Interval], window: Interval) -> Intervals:
    """The parts of `intervals` inside `window`."""
    inside = (
        Interval(max(item.start, window.start), min(item.end, window.end)) for item in intervals
    )
    return [item for item in inside if item.end > item.start]


def intersection(left: Sequence[Interval], right: Sequence[Interval]) -> Intervals:
    """Time in both (two normal forms, one pass)."""
    found: Intervals = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(left[i].end, right[j].end)
        if end > start:
            found.append(Interval(start, end))
        if left[i].end < right[j].end:
            i += 1
        else:
            j += 1
    return found


def difference(left: Sequence[Interval], right: Sequence[Interval]) -> Intervals:
    """Time in `left` and not in `right` (two normal forms)."""
    found: Intervals = []
    j = 0
    for interval in left:
        start = interval.start
        while j < len(right) and right[j].end <= start:
            j += 1
        k = j
        while k < len(right) and right[k].start < interval.end:
            if right[k].start > start:
                found.append(Interval(start, right[k].start))
            start = max(start, right[k].end)
            k += 1
        if start < interval.end:
            found.append(Interval(start, interval.end))
    return found


def total_seconds(intervals: Iterable[Interval]) -> float:
    return sum(interval.seconds for interval in intervals)
