"""The Miners list as an operator reads it: one dense row per miner, worst first, sortable by
every column, filtered by health and profile, with totals per profile (SPEC §14).

Pure functions over the miners already read (their newest samples, the fleet's judgement,
their uptime), so the page route stays one read of each and the order is testable alone.
A stale miner (no sample for PRISM_AGENT_OFFLINE_AFTER) keeps its last values on its row,
marked "as of …", but counts in no total: a rig that stopped reporting hashes nothing now.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.alerts.health import PROBLEM_RANK
from app.alerts.health_schemas import Problem
from app.availability.service import Uptime
from app.core.errors import UnprocessableError
from app.core.timeutil import as_utc
from app.miners.derived import (
    TERA,
    effective_hashrate,
    efficiency_j_per_th,
    percent_of_expected,
    stale_rate,
)
from app.models.alerts import HealthName

# Worst first: the problems (critical … never reported), then maintenance, then ok.
HEALTH_ORDER: dict[str, int] = {**PROBLEM_RANK, "maintenance": len(PROBLEM_RANK), "ok": 99}
NO_PROFILE = "no profile"


@dataclass(frozen=True)
class MinerRow:
    miner_id: str
    name: str | None
    location: str | None
    health: HealthName
    stale: bool
    profile: str | None
    pool: str | None
    hashrate: float | None  # effective, H/s
    percent_of_expected: float | None
    temperature_c: float | None
    stale_rate: float | None  # 0..1
    power_w: float | None
    efficiency_j_per_th: float | None
    last_seen_at: datetime
    problem_since: datetime | None
    uptime: Uptime | None

    @property
    def uptime_30d(self) -> float | None:
        return self.uptime.month.uptime_percent if self.uptime is not None else None


def miner_rows(
    columns: Iterable[Any],
    *,
    healths: dict[str, HealthName],
    problems: Sequence[Problem],
    now: datetime,
    stale_after: int,
) -> list[MinerRow]:
    """A row per miner from its FLEET_COLUMNS (app/miners/queries.py), with the figures
    the API derives the same way (app/miners/derived.py)."""
    since = {p.subject: p.since for p in problems if p.subject_type == "miner"}
    cutoff = as_utc(now) - timedelta(seconds=stale_after)
    rows = []
    for values in columns:
        (miner_id, name, location, expected, last_seen_at, sample_id, profile, pool) = values[:8]
        h1, h15, accepted, stale_shares, temperature, power = values[8:]
        sampled = sample_id is not None
        rate = stale_rate(accepted, stale_shares) if sampled else None
        effective = effective_hashrate(h1, h15, rate) if rate is not None else None
        rows.append(
            MinerRow(
                miner_id=miner_id,
                name=name,
                location=location,
                health=healths.get(miner_id, "unknown"),
                # As miner_state(): stale without a sample or past the threshold.
                stale=not sampled or as_utc(last_seen_at) < cutoff,
                profile=profile,
                pool=pool,
                hashrate=effective,
                percent_of_expected=percent_of_expected(effective, expected),
                temperature_c=temperature,
                stale_rate=rate,
                power_w=power,
                efficiency_j_per_th=efficiency_j_per_th(power, effective),
                last_seen_at=last_seen_at,
                problem_since=since.get(miner_id),
                uptime=None,
            )
        )
    return rows


# --- order -----------------------------------------------------------------------------------

SortKey = Callable[[MinerRow], Any]


def _missing_last(value: float | None, *, descending: bool) -> tuple[bool, float]:
    """Rows without the value sort after those with it, in either direction."""
    if value is None:
        return (True, 0.0)
    return (False, -value if descending else value)


def _worst_first(row: MinerRow) -> tuple[Any, ...]:
    # Worst health, then the oldest problem, then the furthest below its expected rate.
    return (
        HEALTH_ORDER.get(row.health, 50),
        row.problem_since is None,
        row.problem_since or datetime.max,
        _missing_last(row.percent_of_expected, descending=False),
        row.miner_id,
    )


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # Whether a first click sorts descending (big numbers first reads as "worst" for
    # temperature, stale rate, power and J/TH; smallest first for hashrate and uptime).
    descending_first: bool
    value: Callable[[MinerRow], Any]


COLUMNS = (
    Column("miner", "Miner", False, lambda row: (row.name or row.miner_id).casefold()),
    Column("health", "Health", False, lambda row: 0),  # ordered by _worst_first
    Column("hashrate", "Effective hashrate", False, lambda row: row.hashrate),
    Column("percent", "% of expected", False, lambda row: row.percent_of_expected),
    Column("temperature", "Temperature", True, lambda row: row.temperature_c),
    Column("stale", "Stale rate", True, lambda row: row.stale_rate),
    Column("power", "Power", True, lambda row: row.power_w),
    Column("efficiency", "J/TH", True, lambda row: row.efficiency_j_per_th),
    Column("uptime", "Uptime", False, lambda row: row.uptime_30d),  # by its 30 days
    Column("last", "Last sample", False, lambda row: row.last_seen_at.timestamp()),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_SORT = "health"
ORDERS = ("asc", "desc")


def resolve_sort(sort: str | None, order: str | None) -> tuple[str, str]:
    """The sort column and direction asked for; UnprocessableError naming a bad one."""
    key = sort or DEFAULT_SORT
    if key not in COLUMN_BY_KEY:
        raise UnprocessableError(f"sort: one of {', '.join(COLUMN_BY_KEY)}, not {sort!r}")
    if order is None or order == "":
        return key, "desc" if COLUMN_BY_KEY[key].descending_first else "asc"
    if order not in ORDERS:
        raise UnprocessableError(f"order: asc or desc, not {order!r}")
    return key, order


def sort_rows(rows: Sequence[MinerRow], key: str, order: str) -> list[MinerRow]:
    """Rows in the asked order; ties (and the health column) in worst-first order."""
    ordered = sorted(rows, key=_worst_first)
    if key == "health":
        return ordered[::-1] if order == "desc" else ordered
    value = COLUMN_BY_KEY[key].value
    descending = order == "desc"
    if key == "miner":
        return sorted(ordered, key=value, reverse=descending)
    # Stable sorts: equal values keep the worst-first order.
    return sorted(ordered, key=lambda row: _missing_last(value(row), descending=descending))


# --- filters ---------------------------------------------------------------------------------

HEALTH_FILTERS = ("problems", "critical", "warning", "pending", "unknown", "maintenance", "ok")


def resolve_health(health: str | None) -> str | None:
    """The health filter asked for (None: all); UnprocessableError naming a bad one."""
    if health and health not in HEALTH_FILTERS:
        raise UnprocessableError(f"health: one of {', '.join(HEALTH_FILTERS)}, not {health!r}")
    return health or None


def filter_rows(
    rows: Iterable[MinerRow], *, health: str | None, profile: str | None
) -> list[MinerRow]:
    """Rows of one health ("problems": any but ok and maintenance) and of one profile."""
    kept = []
    for row in rows:
        if health == "problems" and row.health not in PROBLEM_RANK:
            continue
        if health and health != "problems" and row.health != health:
            continue
        if profile and (row.profile or NO_PROFILE) != profile:
            continue
        kept.append(row)
    return kept


# --- totals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileTotal:
    """One profile's (algorithm's) miners: hashrates of one unit only, so they add up."""

    profile: str
    miners: int
    reporting: int
    hashrate: float  # effective H/s of the reporting miners
    power_w: float | None  # of the reporting miners that report power
    efficiency_j_per_th: float | None  # their power over their hashrate

    @property
    def silent(self) -> int:
        return self.miners - self.reporting


def profile_totals(rows: Iterable[MinerRow]) -> list[ProfileTotal]:
    """Per profile, by name ("no profile" last): stale miners are counted, not summed."""
    groups: dict[str, list[MinerRow]] = {}
    for row in rows:
        groups.setdefault(row.profile or NO_PROFILE, []).append(row)
    totals = []
    for profile, members in groups.items():
        live = [row for row in members if not row.stale]
        powered = [row for row in live if row.power_w is not None and row.hashrate]
        power = sum(row.power_w or 0.0 for row in powered) if powered else None
        powered_rate = sum(row.hashrate or 0.0 for row in powered)
        totals.append(
            ProfileTotal(
                profile=profile,
                miners=len(members),
                reporting=len(live),
                hashrate=sum(row.hashrate or 0.0 for row in live),
                power_w=power,
                efficiency_j_per_th=(
                    power * TERA / powered_rate if power is not None and powered_rate else None
                ),
            )
        )
    totals.sort(key=_profile_order)
    return totals


def _profile_order(total: ProfileTotal) -> tuple[bool, str]:
    return (total.profile == NO_PROFILE, total.profile.casefold())
