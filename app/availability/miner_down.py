"""A miner's down time from its samples (SPEC §13), exact to the sample, without reading
a month of them.

A miner is down from a sample at 0 H/s to the next sample, and from a sample +
offline_after to the next one when they are further apart: both depend only on pairs of
consecutive samples. A month of 10-second samples is 259,200 rows; its one-minute rollup
(43,200 rows, app/models/rollup.py) says where such a pair can be: in a minute whose
hashrate minimum is 0 (or below), or from a minute to the next non-empty one when they
start more than offline_after - 60 s apart. The raw samples are read only in those
stretches, at the window's start and in the newest minutes, through the same window
function a full read uses; within a stretch every sample is read, so its pairs are the
full read's pairs and the answer is the full read's, to the microsecond.

The rollup is trusted to hold every raw sample of the minutes before the oldest sample the
fold has not reached yet (app/miners/fold.py; retention prunes both): from that minute on
the samples are read whole. A miner without rollup rows is read whole, which is exact too.
"""

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlmodel import Session, col

from app.availability.intervals import Interval, Intervals, normalized
from app.availability.sql import joined_text
from app.core.downsampling import epoch_seconds
from app.core.timeutil import as_utc, parse_datetime
from app.miners.rollup import bucket_of, moment, watermark_sql
from app.models import Miner, MinerSample
from app.models.rollup import MINER_SAMPLE_ROLLUP, ROLLUP_WIDTHS
from app.models.types import UTCDateTime

# The finest rollup: one row per minute that holds a sample.
MINUTE = ROLLUP_WIDTHS[0]
# Stretches are one UNION ALL; more than this many (a miner flapping all month) are joined
# across their shortest gaps, which reads more samples but never changes the answer.
MAX_STRETCHES = 64
_ONE_MICROSECOND = timedelta(microseconds=1)
_ROLLUP = MINER_SAMPLE_ROLLUP.c


@dataclass(frozen=True)
class Stretch:
    """[start, end) of raw samples read whole (end None: to the last sample). `open_end`:
    its last sample's next one is the window's end, not a sample outside the stretch."""

    start: datetime
    end: datetime | None
    open_end: bool = False


@dataclass(frozen=True)
class CandidateMinute:
    """A rollup minute where an outage can start: `start` and the next non-empty minute
    (None: the last one read), in unix seconds."""

    start: int
    following: int | None
    first: bool


def miner_down(session: Session, miner_id: str, window: Interval, offline_after: int) -> Intervals:
    """The miner's down time around `window` (clip it to the window), in normal form."""
    return miners_down(session, [miner_id], window, offline_after)[miner_id]


def miners_down(
    session: Session, miner_ids: Sequence[str], window: Interval, offline_after: int
) -> dict[str, Intervals]:
    """miner_down() of several miners (a list page's rows): their edges and their rollup
    minutes are read in one statement each, then one statement of raw samples per miner."""
    ids = list(dict.fromkeys(miner_ids))
    edges = _edges_of_many(session, ids, window)
    minutes: dict[str, tuple[list[int], list[int]]] = {}
    if offline_after >= MINUTE:
        minutes = _rollup_minutes_of_many(
            session,
            ids,
            since=bucket_of(window.start, MINUTE),
            until=rollup_horizon(session, ids, window),
        )
    return {
        miner_id: _down(
            session,
            miner_id,
            window,
            offline_after,
            edges.get(miner_id, (None, None)),
            minutes.get(miner_id, ([], [])) if offline_after >= MINUTE else None,
        )
        for miner_id in ids
    }


def _down(
    session: Session,
    miner_id: str,
    window: Interval,
    offline_after: int,
    edges: tuple[datetime | None, datetime | None],
    minutes: tuple[list[int], list[int]] | None,
) -> Intervals:
    """Down time from the samples on the window's edges and the rollup's minutes (None:
    offline_after is under a minute, every sample is read)."""
    before, after = edges
    head = before if before is not None else window.start
    # The sample at or after the window's end is the last one read.
    tail_end = after + _ONE_MICROSECOND if after is not None else None
    if minutes is None:
        # Two samples of one minute can then be an outage: the rollup cannot rule any out.
        stretches = [Stretch(head, tail_end, open_end=True)]
    else:
        candidates = outage_candidates(*minutes, offline_after=offline_after)
        stretches = _joined(_stretches(candidates, head=head, tail_end=tail_end))
    rows = _outage_starts(session, miner_id, stretches, offline_after)
    return miner_intervals(rows, window=window, offline_after=offline_after)


def rollup_horizon(session: Session, miner_ids: Sequence[str], window: Interval) -> int:
    """Unix seconds from which the raw samples are read whole rather than through the
    rollup: the minute holding the window's end, so the newest minutes never depend on the
    rollup, or the minute of the miners' oldest sample past the fold's watermark when that
    is earlier (the rollup lags ingest by the fold's backlog, usually seconds).

    Read before the rollup's minutes: a fold in between only adds to them, so the minutes
    before the horizon hold every sample there either way."""
    end = bucket_of(window.end, MINUTE)
    oldest = session.execute(
        select(type_coerce(func.min(col(MinerSample.recorded_at)), UTCDateTime())).where(
            col(MinerSample.miner_id).in_(list(miner_ids)),
            col(MinerSample.id) > watermark_sql(),
        )
    ).scalar_one()
    if oldest is None:
        return end
    return min(end, bucket_of(as_utc(oldest), MINUTE))


def outage_candidates(
    minutes: list[int], maybe_zero: list[int], *, offline_after: int
) -> list[CandidateMinute]:
    """The minutes where an outage can start, from those read (_rollup_minutes_of_many),
    and always the first and the last non-empty one.

    A pair of samples (s, n) with s in minute m and n in the next non-empty minute m' is
    less than m' + 60 - m apart, so it can be a silence only if m' - m > offline_after -
    60; a sample at 0 H/s makes its minute's hashrate minimum 0 (1 min or 15 min, whichever
    the sample's baseline is).
    """
    if not minutes:
        return []
    longest = offline_after - MINUTE
    last = len(minutes) - 1
    chosen = {0, last}
    chosen.update(
        index
        for index, (start, following) in enumerate(pairwise(minutes))
        if following - start > longest
    )
    for zero in maybe_zero:
        index = bisect_left(minutes, zero)
        if index <= last and minutes[index] == zero:
            chosen.add(index)
    return [
        CandidateMinute(
            minutes[index], minutes[index + 1] if index < last else None, first=index == 0
        )
        for index in sorted(chosen)
    ]


def _split_minutes(found: Sequence[Any]) -> tuple[list[int], list[int]]:
    every, zero = (sorted(map(int, str(text).split(","))) if text else [] for text in found)
    return every, zero


def _rollup_minutes_of_many(
    session: Session, miner_ids: list[str], *, since: int, until: int
) -> dict[str, tuple[list[int], list[int]]]:
    """Per miner: the starts (unix seconds, sorted) of its non-empty minutes in [since,
    until), and of those among them holding a 1-minute or 15-minute hashrate of 0 or below
    (a superset of the minutes with a sample at 0 H/s).

    As two texts per miner from one scan of the rollup's primary key, not a row per minute:
    a month is 43,200 minutes, and measured on SQLite the scan is 13 ms, a window function
    over the same rows 23 ms, the rows through the driver 13 ms plus 50 ms of SQLAlchemy
    rows.
    """
    if not miner_ids:
        return {}
    start = _ROLLUP.bucket_start
    maybe_zero = or_(_ROLLUP.hashrate_1m_min <= 0, _ROLLUP.hashrate_15m_min <= 0)
    joined = joined_text(start, session.get_bind().dialect.name)
    rows = session.execute(
        select(_ROLLUP.miner_id, joined, joined.filter(maybe_zero))
        .where(
            _ROLLUP.miner_id.in_(miner_ids),
            _ROLLUP.width == MINUTE,
            start >= since,
            start < until,
        )
        .group_by(_ROLLUP.miner_id)
    ).all()
    return {row[0]: _split_minutes(row[1:]) for row in rows}


def _edges_of_many(
    session: Session, miner_ids: list[str], window: Interval
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """The samples on either side of the window, per miner (an indexed max and min each, in
    one statement): the one before says whether the window starts inside an outage, the one
    at or after its end where the last one ends. Read through the `miner` rows, which ingest
    keeps for every miner that sent a sample."""
    if not miner_ids:
        return {}
    recorded_at = col(MinerSample.recorded_at)
    this_miner = col(MinerSample.miner_id) == col(Miner.miner_id)
    before = (
        select(type_coerce(func.max(recorded_at), UTCDateTime()))
        .where(this_miner, recorded_at < window.start)
        .scalar_subquery()
    )
    after = (
        select(type_coerce(func.min(recorded_at), UTCDateTime()))
        .where(this_miner, recorded_at >= window.end)
        .scalar_subquery()
    )
    rows = session.execute(
        select(col(Miner.miner_id), before, after).where(col(Miner.miner_id).in_(miner_ids))
    ).all()
    return {miner_id: (first, last) for miner_id, first, last in rows}


def _stretches(
    candidates: Sequence[CandidateMinute], *, head: datetime, tail_end: datetime | None
) -> list[Stretch]:
    """The raw samples to read: each candidate minute up to the end of the next non-empty
    one (so its last sample meets its successor), from the sample before the window to the
    end of the first minute, and from the last minute on to the end."""
    if not candidates:
        return [Stretch(head, tail_end, open_end=True)]
    found: list[Stretch] = []
    for minute in candidates:
        if minute.first:
            found.append(Stretch(min(head, moment(minute.start)), moment(minute.start + MINUTE)))
        if minute.following is None:
            found.append(Stretch(moment(minute.start), tail_end, open_end=True))
        else:
            found.append(Stretch(moment(minute.start), moment(minute.following + MINUTE)))
    return found


def _joined(stretches: list[Stretch]) -> list[Stretch]:
    """Overlapping or touching stretches as one, sorted; at most MAX_STRETCHES of them."""
    merged: list[Stretch] = []
    for stretch in sorted(stretches, key=lambda item: item.start):
        last = merged[-1] if merged else None
        if last is not None and (last.end is None or stretch.start <= last.end):
            merged[-1] = Stretch(
                last.start,
                None if last.end is None or stretch.end is None else max(last.end, stretch.end),
                last.open_end or stretch.open_end,
            )
        else:
            merged.append(stretch)
    if len(merged) <= MAX_STRETCHES:
        return merged
    # Keep the widest gaps apart and read through the others.
    gaps = sorted(
        range(1, len(merged)),
        key=lambda index: merged[index].start - _end_of(merged[index - 1]),
        reverse=True,
    )
    cuts = sorted(gaps[: MAX_STRETCHES - 1])
    joined: list[Stretch] = []
    begin = 0
    for cut in [*cuts, len(merged)]:
        group = merged[begin:cut]
        joined.append(Stretch(group[0].start, group[-1].end, any(item.open_end for item in group)))
        begin = cut
    return joined


def _end_of(stretch: Stretch) -> datetime:
    assert stretch.end is not None  # only the last stretch is unbounded
    return stretch.end


def _outage_starts(
    session: Session, miner_id: str, stretches: Sequence[Stretch], offline_after: int
) -> list[tuple[datetime | str, datetime | str | None, bool]]:
    """(sample time, next sample time or None, reported 0 H/s) of every sample that starts
    an outage, from the raw samples of `stretches` (one statement)."""
    dialect = session.get_bind().dialect.name
    bounded = tuple(stretch.end is not None for stretch in stretches)
    params: dict[str, Any] = {"miner_id": miner_id, "offline_after": offline_after}
    for index, stretch in enumerate(stretches):
        params[f"start_{index}"] = stretch.start
        if stretch.end is not None:
            params[f"end_{index}"] = stretch.end
    found = session.execute(_outage_starts_query(dialect, bounded), params).all()
    # A stretch's last sample meets its successor outside the stretch: that pair is read
    # by the stretch holding it, unless the stretch runs to the end.
    return [
        (start, following, bool(zero))
        for start, following, zero, part in found
        if following is not None or stretches[int(part)].open_end
    ]


# The statement is built once per engine with bound parameters (as app/miners/series.py
# does): the lists pages read 100 miners a request, and building and compiling it
# anew cost more than running it.


@cache
def _outage_starts_query(dialect: str, bounded: tuple[bool, ...]) -> Select[Any]:
    """The statement of _outage_starts for stretches of which `bounded` have an end: one
    per shape (a miner has one to MAX_STRETCHES stretches, the last often open)."""
    recorded_at = col(MinerSample.recorded_at)
    parts = []
    for index, has_end in enumerate(bounded):
        bounds: list[ColumnElement[bool]] = [
            col(MinerSample.miner_id) == bindparam("miner_id"),
            recorded_at >= bindparam(f"start_{index}", type_=UTCDateTime()),
        ]
        if has_end:
            bounds.append(recorded_at < bindparam(f"end_{index}", type_=UTCDateTime()))
        parts.append(
            select(
                recorded_at.label("at"),
                zero_hashrate(MinerSample).label("zero"),
                literal(index).label("part"),
            ).where(and_(*bounds))
        )
    samples = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    paired = select(
        samples.c.at,
        func.lead(samples.c.at)
        .over(partition_by=samples.c.part, order_by=samples.c.at)
        .label("next_at"),
        samples.c.zero,
        samples.c.part,
    ).subquery()
    at, next_at = paired.c.at, paired.c.next_at
    gap = epoch_seconds(next_at, dialect) - epoch_seconds(at, dialect)
    return (
        select(at, next_at, paired.c.zero, paired.c.part)
        .where(or_(paired.c.zero, next_at.is_(None), gap > bindparam("offline_after")))
        .order_by(at)
    )


def miner_intervals(
    rows: list[tuple[datetime | str, datetime | str | None, bool]],
    *,
    window: Interval,
    offline_after: int,
) -> Intervals:
    """Down time from (sample time, next sample time or None, reported 0 H/s) rows."""
    down: Intervals = []
    for at, next_at, zero in rows:
        start = _moment(at)
        until = _moment(next_at) if next_at is not None else window.end
        if zero:
            down.append(Interval(start, until))
        silent_from = start + timedelta(seconds=offline_after)
        if until > silent_from:
            down.append(Interval(silent_from, until))
    return normalized(down)


def _moment(value: datetime | str) -> datetime:
    # A window function's or an aggregate's result loses the column type on SQLite: text.
    return as_utc(value) if isinstance(value, datetime) else parse_datetime(value)


def zero_hashrate(table: type[MinerSample]) -> Any:
    """Whether a sample reports 0 H/s: its baseline (hashrate_1m if non-zero, else
    hashrate_15m) is zero; a sample with no hashrate at all says nothing."""
    h1, h15 = col(table.hashrate_1m), col(table.hashrate_15m)
    return func.coalesce(func.nullif(h1, 0), h15, h1) == literal_column("0")
