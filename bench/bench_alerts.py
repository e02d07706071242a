"""Alert evaluation: one cycle of the default rules over 10,000 agents and 10,000 miners.

The fleet is bulk-loaded (bench/data.py's way: straight to the driver, the rollup then built
by the fold job's fold_all()): 10,000 agents with their status history, and 10,000 miners
reporting every 10 s, 100 samples each (1,000,000 samples). 1 % of the agents are silent,
1 % report offline, 2 % degraded; 1 % of the miners each are silent, hot, warm, stale,
slightly stale, at 0 H/s and slow; one miner in ten has an expected hashrate, the others are
judged by their median. evaluate_once() runs the default rules of migration 0007 in this
process: the first cycle (which opens every state and incident: 1,300) is shown apart; the
figure is the median of the cycles after it, each 15 s later than the one before (the
evaluator's period), the steady state of a fleet whose troubles go on. Baseline: one plain
SELECT count(*) FROM minersample on the same database. Target: median under 1 s, on SQLite
and on PostgreSQL.
"""

import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlmodel import Session, SQLModel, col

from app.alerts.evaluator import EvaluationReport, evaluate_once
from app.core.config import Settings
from app.miners.derived import SAMPLE_COLUMNS
from app.miners.fold import fold_all
from app.models import AlertRule, MinerSample
from bench.common import (
    machine,
    migrated_database,
    percentile,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
    timings_ms,
)

AGENTS = 10_000
MINERS = 10_000
SAMPLES_PER_MINER = 100
STEP_SECONDS = 10
CYCLES = 7
CYCLE_SECONDS = 15
TARGET_MS = 1_000.0
DOMAINS = ("infrastructure", "data", "security", "ops", "finance")


@dataclass(frozen=True)
class Fleet:
    agents: int
    miners: int
    samples: int
    now: datetime


def _miner_trouble(index: int) -> str:
    """What is wrong with miner `index` (most miners: nothing)."""
    return {
        1: "hot",
        2: "warm",
        3: "stale",
        4: "slightly-stale",
        5: "zero",
        6: "slow",
        8: "silent",
    }.get(index % 100, "fine")


def _sample(rng: random.Random, miner_id: str, at: datetime, trouble: str, recent: bool):
    hashrate = rng.uniform(9_500, 10_500)
    if recent and trouble == "zero":
        hashrate = 0.0
    elif recent and trouble == "slow":
        hashrate = rng.uniform(4_000, 5_000)
    accepted = rng.randint(15, 25)
    stale = {"stale": 2, "slightly-stale": 1}.get(trouble, int(rng.random() < 0.05))
    temperature = {"hot": 88.0, "warm": 82.0}.get(trouble, rng.uniform(55, 75))
    return {
        "miner_id": miner_id,
        "recorded_at": at,
        "pool": "pool.example:3333",
        "profile": "rx/0",
        "hashrate_1m": round(hashrate, 1),
        "hashrate_15m": 0.0 if recent and trouble == "zero" else 10_000.0,
        "shares_accepted": accepted,
        "shares_rejected": stale,
        "shares_stale": stale,
        "latency_ms": round(rng.uniform(20, 90), 1),
        "temperature_c": round(temperature, 1),
        "last_share_difficulty": 120_000.0,
        "last_share_at": at - timedelta(seconds=3),
    }


def fill_miners(engine: Engine, now: datetime) -> int:
    """MINERS miners, SAMPLES_PER_MINER samples each, with their rollup and pointers."""
    rng = random.Random(12)  # benchmark data, not security
    rows = []
    for step in range(SAMPLES_PER_MINER):
        for index in range(MINERS):
            trouble = _miner_trouble(index)
            # Silent miners stopped half an hour ago; the others report until just now.
            end = now - timedelta(minutes=30 if trouble == "silent" else 0)
            back = SAMPLES_PER_MINER - 1 - step
            at = end - timedelta(seconds=back * STEP_SECONDS + index % STEP_SECONDS)
            rows.append(_sample(rng, f"miner-{index:05}", at, trouble, recent=back < 10))
    with engine.connect() as connection:
        for start in range(0, len(rows), 100_000):
            _write_samples(connection, rows[start : start + 100_000])
        connection.execute(
            text(
                "INSERT INTO miner (miner_id, first_seen_at, last_recorded_at, last_sample_id) "
                "SELECT agg.miner_id, agg.first_at, agg.last_at, "
                "(SELECT MAX(x.id) FROM minersample x "
                "WHERE x.miner_id = agg.miner_id AND x.recorded_at = agg.last_at) "
                "FROM (SELECT miner_id, MIN(recorded_at) AS first_at, "
                "MAX(recorded_at) AS last_at FROM minersample GROUP BY miner_id) agg"
            )
        )
        # One miner in ten has an expected hashrate; the others are judged by their median.
        connection.execute(
            text("UPDATE miner SET expected_hashrate = 10000 WHERE miner_id LIKE '%7'")
        )
        connection.commit()
    fold_all(engine)  # the rollup, as the fold job builds it behind ingest
    return len(rows)


def _write_samples(connection: Connection, rows: list[dict[str, Any]]) -> None:
    names = ", ".join(SAMPLE_COLUMNS)
    values = [[row[name] for name in SAMPLE_COLUMNS] for row in rows]
    cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if connection.dialect.name == "postgresql":
        with cursor.copy(f"COPY minersample ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
    else:
        marks = ", ".join("?" * len(SAMPLE_COLUMNS))
        cursor.executemany(
            f"INSERT INTO minersample ({names}) VALUES ({marks})",
            [[_stored(value) for value in row] for row in values],
        )
    # Only the driver's cursor wrote: SQLAlchemy sees no transaction to commit.
    connection.connection.commit()


def _stored(value: Any) -> Any:
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return value


def fill_agents(engine: Engine, now: datetime) -> None:
    """AGENTS agents: most seen in the last 30 s, some silent, degraded or reporting offline;
    each with a registration in its status history (and the change to what it reports)."""
    rng = random.Random(13)
    agents, changes = [], []
    for index in range(AGENTS):
        agent_id = f"agent-{index:05}"
        trouble = index % 100
        status = "degraded" if trouble in (1, 2) else "offline" if trouble == 3 else "online"
        silent = trouble == 4
        seen = now - timedelta(seconds=rng.uniform(1800, 3600) if silent else rng.uniform(0, 30))
        agents.append(
            {
                "id": agent_id,
                "name": f"Agent {index:05}",
                "domain": DOMAINS[index % len(DOMAINS)],
                "status": status,
                "memory_used_mb": round(rng.uniform(100, 4000), 1),
                "last_seen_at": seen,
                "version": "1.0.0",
            }
        )
        registered = now - timedelta(days=2)
        changes.append(
            {"agent_id": agent_id, "from_status": None, "to_status": "online", "at": registered}
        )
        if status != "online":
            changes.append(
                {
                    "agent_id": agent_id,
                    "from_status": "online",
                    "to_status": status,
                    "at": now - timedelta(hours=1),
                }
            )
    tables = SQLModel.metadata.tables
    with engine.begin() as connection:
        connection.execute(insert(tables["agent"]), agents)
        connection.execute(insert(tables["agentstatuschange"]), changes)


def build_fleet(engine: Engine, now: datetime) -> Fleet:
    fill_agents(engine, now)
    samples = fill_miners(engine, now)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return Fleet(agents=AGENTS, miners=MINERS, samples=samples, now=now)


def _count_samples(engine: Engine) -> object:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(MinerSample)).scalar_one()


def _bench_engine(kind: str) -> None:
    with migrated_database(kind, "alerts") as (url, engine):
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        fleet = build_fleet(engine, now)
        print(
            f"  {kind}: loaded {fleet.agents:,} agents and {fleet.samples:,} samples of "
            f"{fleet.miners:,} miners in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        with Session(engine) as session:
            rules = session.scalars(select(col(AlertRule.id)).where(col(AlertRule.enabled))).all()
        settings = Settings(api_db_url=url, _env_file=None)
        reports: list[EvaluationReport] = []
        cycles: list[float] = []
        for cycle in range(CYCLES):
            at = now + timedelta(seconds=cycle * CYCLE_SECONDS)
            began = time.perf_counter()
            reports.append(evaluate_once(engine, settings, now=at))
            cycles.append((time.perf_counter() - began) * 1000)
        baseline = timings_ms(lambda: _count_samples(engine), repeat=5)
    first, steady = cycles[0], cycles[1:]
    median = statistics.median(steady)
    verdict = "met" if median < TARGET_MS else "MISSED"
    print_table(
        [
            ("measure", "median", "p99", "baseline (median)", "ratio", "target"),
            (
                f"{kind}: one cycle, {len(rules)} default rules",
                f"{median:,.1f} ms",
                f"{percentile(steady, 0.99):,.1f} ms",
                f"count(*) minersample {statistics.median(baseline):,.1f} ms",
                f"{median / statistics.median(baseline):.1f}x",
                f"median < {TARGET_MS:.0f} ms ({verdict})",
            ),
        ]
    )
    opening = reports[0]
    print(
        f"  {kind}: first cycle {first:,.1f} ms ({opening.pending} pending, {opening.fired} "
        f"fired, {opening.status_changes} status changes); later cycles fired "
        f"{sum(r.fired for r in reports[1:])}, resolved {sum(r.resolved for r in reports[1:])}",
        flush=True,
    )


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; {AGENTS:,} agents, {MINERS:,} miners x {SAMPLES_PER_MINER} samples; "
        f"{CYCLES} cycles {CYCLE_SECONDS} s apart (median of all but the first)",
        flush=True,
    )
    run_each_engine(_bench_engine)
