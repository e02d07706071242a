"""The condition of each rule kind (SPEC §11 "Rules"): one set-based statement per rule.

find_matches() runs, for a rule, ONE statement that returns every subject of its target for
which the condition holds now, whatever the fleet size, and reads each row as a Match: the
subject, a value worth showing, and `since`, the condition's own start where it is known (an
agent silent since lastSeenAt + afterSeconds went offline then, whenever the evaluator
looked). Time arithmetic is done in Python on the fetched columns: SQLite's date functions
keep milliseconds at best, the stored times keep microseconds.

Choices the spec leaves open, made here once:
- An agent never seen (lastSeenAt null) is `unknown` (§11 Health): no agent kind judges it.
- agent_status compares the status an operator sees (app/agents/status.py): the report of an
  agent silent past PRISM_AGENT_OFFLINE_AFTER is no longer current, so it shows offline,
  not the degraded it last reported.
- Windows ("the last windowSeconds") start at now - windowSeconds inclusive and have no end:
  a sample or event a little ahead of the server's clock (the clock-skew rule allows it) is
  the newest there is. The stale-rate window is read from the rollup in whole minutes, so
  it starts at the beginning of the minute holding now - windowSeconds.
- agent_errors `since` is the count-th OLDEST error of the window: from that moment on the
  window has held at least `count` errors without a break.
- Share counts are each sample's own, as stale_rate() and the tiles read them: the stale
  rate over a window is sum(stale) / (sum(accepted) + sum(stale)) of its samples.
- miner_hashrate's baseline without an expected hashrate is the median of the miner's
  per-minute mean effective hashrate (the minute rollup) over baselineHours, sorted only
  for the miners that could be below it. A newest sample with a 1-minute rate of 0 and no
  15-minute rate is 0 H/s here (the compatible output calls its effective hashrate null).
- A target list that does not apply to the kind's subject matches nothing (miners have no
  domain); B's rule validation refuses such targets anyway.
- Silence (agent_offline, miner_silent) has no value: its `since` says it all, and a value
  growing every cycle would rewrite every silent subject's state each time.
- fleet_drift needs the main database: without PRISM_MAIN_DB_URL nothing matches; when it
  is configured but does not answer, find_matches() returns None (not judged this cycle:
  the states stay as they are rather than resolve and fire again on a network blip).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Row,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.agents.status import effective_status_column, offline_cutoff
from app.alerts.drift import drift_matches
from app.alerts.kinds import KINDS
from app.alerts.targets import Match, Scope, Statement, target_clause
from app.core.timeutil import as_utc
from app.maindb.database import MainDatabase
from app.miners.queries import newest_sample_select
from app.miners.rollup import bucket_of, effective_hashrate_sql
from app.models import MINER_SAMPLE_ROLLUP, Agent, AgentEvent, AgentStatusChange, Miner
from app.models import MinerSample as Sample

# Rollup widths read here: minutes for the baseline and the stale window, ten minutes for
# the rest of the stale window and the peak that picks the miners worth a median.
MINUTE = 60
TEN_MINUTES = 600
_MINUTES = MINER_SAMPLE_ROLLUP.c
_TENS_TABLE = MINER_SAMPLE_ROLLUP.alias("tens")
_TENS = _TENS_TABLE.c


@dataclass(frozen=True)
class ConditionQuery:
    """The one statement of a rule, and how to read each of its rows."""

    statement: Statement
    to_match: Callable[[Row[Any]], Match]


def find_matches(
    session: Session,
    *,
    kind: str,
    params: Mapping[str, Any],
    target: Mapping[str, Any],
    now: datetime,
    offline_after: int,
    main_db: MainDatabase | None = None,
) -> dict[str, Match] | None:
    """Every subject for which the rule holds at `now`, by subject; None: not judged now.

    `params` are resolved (app.alerts.kinds.resolve_params).
    """
    if kind == "fleet_drift":
        return drift_matches(
            session, params, target, now=now, offline_after=offline_after, main_db=main_db
        )
    query = condition_query(kind, params, target, now=now, offline_after=offline_after)
    matches = (query.to_match(row) for row in session.execute(query.statement))
    return {match.subject: match for match in matches}


def condition_query(
    kind: str,
    params: Mapping[str, Any],
    target: Mapping[str, Any],
    *,
    now: datetime,
    offline_after: int,
) -> ConditionQuery:
    """The statement finding every subject of `target` for which `kind` holds at `now`."""
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"no console-database condition for kind {kind!r}")
    subject_type = KINDS[kind].subject_type
    subject: Any = col(Agent.id) if subject_type == "agent" else col(Miner.miner_id)
    domain: Any = col(Agent.domain) if subject_type == "agent" else None
    # Each builder adds it where the agent or miner table is in scope.
    scope = target_clause(target, subject_type, subject, domain)
    return builder(params, Scope(scope), now=as_utc(now), offline_after=offline_after)


# --- Agents ---------------------------------------------------------------------------------


def _newest_change_to_reported_status() -> ColumnElement[Any]:
    """When the agent's history last moved to the status it now reports (None: never)."""
    change = aliased(AgentStatusChange)
    return (
        select(func.max(change.at))
        .where(col(change.agent_id) == col(Agent.id), col(change.to_status) == col(Agent.status))
        .correlate(Agent)
        .scalar_subquery()
    )


def _agent_offline(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """Shown offline: silent longer than afterSeconds, or reporting offline."""
    after = int(params["afterSeconds"])
    last_seen = col(Agent.last_seen_at)
    reported_offline = col(Agent.status) == "offline"
    statement = select(
        col(Agent.id),
        col(Agent.domain),
        last_seen,
        reported_offline.label("reported_offline"),
        # Read only for agents reporting offline: CASE leaves the other branch alone.
        case((reported_offline, _newest_change_to_reported_status()), else_=None).label(
            "reported_at"
        ),
    ).where(last_seen.is_not(None), or_(last_seen < offline_cutoff(now, after), reported_offline))
    statement = scope.apply(statement)

    def to_match(row: Row[Any]) -> Match:
        if row.reported_offline:
            since = row.reported_at or row.last_seen_at
        else:
            since = row.last_seen_at + timedelta(seconds=after)
        return Match(row.id, None, since, row.domain)

    return ConditionQuery(statement, to_match)


def _agent_status(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """The shown status is one of `statuses`."""
    cutoff = offline_cutoff(now, offline_after)
    last_seen = col(Agent.last_seen_at)
    shown = effective_status_column(now, offline_after)
    statement = select(
        col(Agent.id),
        col(Agent.domain),
        last_seen,
        case((last_seen >= cutoff, _newest_change_to_reported_status()), else_=None).label(
            "reported_at"
        ),
    ).where(last_seen.is_not(None), shown.in_([str(status) for status in params["statuses"]]))
    statement = scope.apply(statement)

    def to_match(row: Row[Any]) -> Match:
        if as_utc(row.last_seen_at) < cutoff:
            since = row.last_seen_at + timedelta(seconds=offline_after)
        else:
            since = row.reported_at or row.last_seen_at
        return Match(row.id, None, since, row.domain)

    return ConditionQuery(statement, to_match)


def _agent_errors(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """At least `count` error events since now - windowSeconds."""
    count = int(params["count"])
    agent_id = col(AgentEvent.agent_id)
    errors = (
        select(
            agent_id,
            col(AgentEvent.at),
            func.row_number()
            .over(partition_by=agent_id, order_by=(col(AgentEvent.at), col(AgentEvent.id)))
            .label("position"),
            func.count().over(partition_by=agent_id).label("errors"),
        )
        .where(
            col(AgentEvent.kind) == "error",
            col(AgentEvent.at) >= now - timedelta(seconds=int(params["windowSeconds"])),
        )
        .subquery("errors")
    )
    # An agent's count-th error exists exactly when it has at least `count` of them.
    statement = (
        select(errors.c.agent_id, col(Agent.domain), errors.c.at, errors.c.errors)
        .join(Agent, col(Agent.id) == errors.c.agent_id)
        .where(errors.c.position == count)
    )
    statement = scope.apply(statement)

    def to_match(row: Row[Any]) -> Match:
        return Match(row.agent_id, float(row.errors), row.at, row.domain)

    return ConditionQuery(statement, to_match)


# --- Miners ---------------------------------------------------------------------------------


def _miner_silent(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """No sample for longer than afterSeconds."""
    after = int(params["afterSeconds"])
    last = col(Miner.last_recorded_at)
    statement = select(col(Miner.miner_id), last).where(last < now - timedelta(seconds=after))
    statement = scope.apply(statement)

    def to_match(row: Row[Any]) -> Match:
        since = row.last_recorded_at + timedelta(seconds=after)
        return Match(row.miner_id, None, since)

    return ConditionQuery(statement, to_match)


def _miner_temperature(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """The newest sample's temperature is at least aboveC."""
    temperature = col(Sample.temperature_c)
    statement = newest_sample_select(
        col(Miner.miner_id), temperature, col(Sample.recorded_at), sampled_only=True
    ).where(temperature >= float(params["aboveC"]))
    statement = scope.apply(statement)

    def to_match(row: Row[Any]) -> Match:
        return Match(row.miner_id, row.temperature_c, row.recorded_at)

    return ConditionQuery(statement, to_match)


def _medians(candidates: Any, start: datetime) -> Any:
    """(miner_id, median) of the candidates that need one: the median of their per-minute
    mean effective hashrate since the minute holding `start`.

    Window functions rank each miner's minutes; the median is the middle one, or the mean
    of the two middle ones: the rows whose rank r satisfies n <= 2r <= n + 2.
    """
    mean = _MINUTES.effective_hashrate_sum / cast(_MINUTES.effective_hashrate_count, Float)
    miner_id = candidates.c.miner_id
    # LEFT JOIN from the few candidates, every rollup condition in ON: SQLite then reads
    # each candidate's minutes as a primary-key range instead of scanning the rollup (a
    # candidate without minutes gets one row of NULLs, hence no median).
    minutes = (
        select(
            miner_id,
            mean.label("mean"),
            func.row_number().over(partition_by=miner_id, order_by=mean).label("rank"),
            func.count().over(partition_by=miner_id).label("minutes"),
        )
        .select_from(candidates)
        .outerjoin(
            MINER_SAMPLE_ROLLUP,
            and_(
                _MINUTES.miner_id == miner_id,
                _MINUTES.width == MINUTE,
                _MINUTES.bucket_start >= bucket_of(start, MINUTE),
                _MINUTES.effective_hashrate_count > 0,
            ),
        )
        .where(candidates.c.expected.is_(None), candidates.c.rate > 0)
        .subquery("minutes")
    )
    return (
        select(minutes.c.miner_id, func.avg(minutes.c.mean).label("median"))
        .where(minutes.c.rank * 2 >= minutes.c.minutes, minutes.c.rank * 2 <= minutes.c.minutes + 2)
        .group_by(minutes.c.miner_id)
        .subquery("medians")
    )


def _miner_hashrate(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """The newest effective hashrate is 0, or below belowPercent % of the expected one."""
    fraction = float(params["belowPercent"]) / 100
    start = now - timedelta(hours=int(params["baselineHours"]))
    h1 = col(Sample.hashrate_1m)
    rate = func.coalesce(effective_hashrate_sql(), case((h1 == 0, cast(0.0, Float)), else_=None))
    expected = col(Miner.expected_hashrate)
    # Miners that could be below: at 0, below their expected rate, or (judged by a median)
    # below the peak of their ten-minute buckets since the one holding `start` (a median
    # is never above the peak); the median is then sorted for those alone. The peaks: a
    # LEFT JOIN from the miner table, so each miner's buckets are a range of the rollup's
    # primary key (SQLite) and the grouped rows are narrow (PostgreSQL hashes them).
    peaks = (
        select(
            col(Miner.miner_id).label("miner_id"),
            func.max(_TENS.effective_hashrate_max).label("peak"),
        )
        .select_from(Miner)
        .outerjoin(
            _TENS_TABLE,
            and_(
                _TENS.miner_id == col(Miner.miner_id),
                _TENS.width == TEN_MINUTES,
                _TENS.bucket_start >= bucket_of(start, TEN_MINUTES),
            ),
        )
        .where(expected.is_(None))
        .group_by(col(Miner.miner_id))
        .subquery("peaks")
    )
    candidates = scope.apply(
        newest_sample_select(
            col(Miner.miner_id),
            rate.label("rate"),
            col(Sample.recorded_at),
            expected.label("expected"),
            sampled_only=True,
        )
        .outerjoin(peaks, peaks.c.miner_id == col(Miner.miner_id))
        .where(
            rate.is_not(None),
            or_(
                rate <= 0,
                and_(expected.is_not(None), rate < expected * fraction),
                and_(expected.is_(None), rate < peaks.c.peak * fraction),
            ),
        )
    ).cte("candidates")
    medians = _medians(candidates, start)
    baseline = func.coalesce(candidates.c.expected, medians.c.median)
    statement = (
        select(candidates.c.miner_id, candidates.c.rate, candidates.c.recorded_at)
        .outerjoin(medians, medians.c.miner_id == candidates.c.miner_id)
        .where(or_(candidates.c.rate <= 0, candidates.c.rate < baseline * fraction))
    )

    def to_match(row: Row[Any]) -> Match:
        return Match(row.miner_id, row.rate, row.recorded_at)

    return ConditionQuery(statement, to_match)


def _miner_stale_rate(
    params: Mapping[str, Any], scope: Scope, *, now: datetime, offline_after: int
) -> ConditionQuery:
    """stale / (accepted + stale) over the window is above abovePercent.

    The window is whole minutes of the rollup, from the minute holding now - windowSeconds
    (up to 59 s more than asked): its first ten-minute boundary on from the ten-minute
    rollup, the minutes before that from the minute rollup. Per miner that is one range of
    the rollup's primary key (both widths from the first minute; the minute rows past the
    boundary are left out), a LEFT JOIN from the miner table so SQLite reads it that way.
    A miner is above p % when sum(stale * (100 - p) - accepted * p) > 0: no division, and a
    window without shares never is.
    """
    percent = float(params["abovePercent"])
    first_minute = bucket_of(now - timedelta(seconds=int(params["windowSeconds"])), MINUTE)
    first_ten = -(-first_minute // TEN_MINUTES) * TEN_MINUTES
    accepted = func.sum(_MINUTES.shares_accepted_sum)
    stale = func.sum(_MINUTES.shares_stale_sum)
    score = _MINUTES.shares_stale_sum * (100 - percent) - _MINUTES.shares_accepted_sum * percent
    window = and_(
        _MINUTES.miner_id == col(Miner.miner_id),
        _MINUTES.width.in_([MINUTE, TEN_MINUTES]),
        _MINUTES.bucket_start >= first_minute,
        or_(_MINUTES.width == TEN_MINUTES, _MINUTES.bucket_start < first_ten),
    )
    statement = scope.apply(
        select(
            col(Miner.miner_id),
            accepted.label("accepted"),
            stale.label("stale"),
            col(Miner.last_recorded_at),
        )
        .select_from(Miner)
        .outerjoin(MINER_SAMPLE_ROLLUP, window)
    )
    statement = statement.group_by(col(Miner.miner_id)).having(func.sum(score) > 0)

    def to_match(row: Row[Any]) -> Match:
        total = float(row.accepted) + float(row.stale)
        return Match(row.miner_id, float(row.stale) / total * 100, row.last_recorded_at)

    return ConditionQuery(statement, to_match)


_BUILDERS: dict[str, Callable[..., ConditionQuery]] = {
    "agent_offline": _agent_offline,
    "agent_status": _agent_status,
    "agent_errors": _agent_errors,
    "miner_silent": _miner_silent,
    "miner_hashrate": _miner_hashrate,
    "miner_temperature": _miner_temperature,
    "miner_stale_rate": _miner_stale_rate,
}
