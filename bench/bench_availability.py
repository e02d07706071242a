"""Availability (SPEC §13): the fleet list of 10,000 agents over 90 days, and one miner's
month of 10-second samples, computed in this process (the service calls the endpoints make,
without HTTP).

The agents each have a registration 100 days ago and four outages in the window (nine
status changes: 90,000 rows); the list answer is GET /api/availability?type=agent&window=90d
(all 10,000 judged and sorted, the first 100 answered). The miner reports every 10 s for 30
days (259,200 samples, with their rollup built by the fold job's fold_all()) with a
silence and a stretch at 0 H/s every few days; its answer is
GET /api/miners/{id}/availability?window=30d (outages and 90 segments). Baselines, same run:
SELECT count(*) over the status history, and over the miner's samples. Targets: medians
under 200 ms and 50 ms, on SQLite and on PostgreSQL.
"""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlmodel import Session, SQLModel, col

from app.availability import service
from app.availability.compute import availability
from app.availability.history import agents_time
from app.miners.fold import fold_all
from app.models import AgentStatusChange, MinerSample
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
OUTAGES_PER_AGENT = 4
MINER = "rig-month"
MINER_DAYS = 30
STEP_SECONDS = 10
OFFLINE_AFTER = 300
REPEAT = 7
FLEET_TARGET_MS = 200.0
MINER_TARGET_MS = 50.0


def fill_agents(engine: Engine, now: datetime) -> int:
    rng = random.Random(21)  # benchmark data, not security
    agents, changes = [], []
    for index in range(AGENTS):
        agent_id = f"agent-{index:05}"
        agents.append(
            {
                "id": agent_id,
                "name": f"Agent {index:05}",
                "domain": "ops",
                "status": "online",
                "memory_used_mb": 100.0,
                "last_seen_at": now - timedelta(seconds=rng.uniform(0, 30)),
                "version": "1.0.0",
            }
        )
        changes.append(
            {
                "agent_id": agent_id,
                "from_status": None,
                "to_status": "online",
                "at": now - timedelta(days=100),
            }
        )
        for outage in range(OUTAGES_PER_AGENT):
            down = now - timedelta(days=20 * outage + rng.uniform(1, 19))
            back = down + timedelta(minutes=rng.uniform(1, 180))
            changes.append(
                {"agent_id": agent_id, "from_status": "online", "to_status": "offline", "at": down}
            )
            changes.append(
                {"agent_id": agent_id, "from_status": "offline", "to_status": "online", "at": back}
            )
    tables = SQLModel.metadata.tables
    with engine.begin() as connection:
        connection.execute(insert(tables["agent"]), agents)
        for start in range(0, len(changes), 20_000):
            connection.execute(insert(tables["agentstatuschange"]), changes[start : start + 20_000])
    return len(changes)


def fill_miner(engine: Engine, now: datetime) -> int:
    """One miner's month: every 10 s, silent for 20 min every third day, at 0 H/s for 10 min
    every fifth day."""
    start = now - timedelta(days=MINER_DAYS)
    rows: list[dict[str, Any]] = []
    moment = start
    while moment < now:
        day, second = divmod(int((moment - start).total_seconds()), 86_400)
        silent = day % 3 == 1 and 43_200 <= second < 44_400
        zero = day % 5 == 2 and 3_600 <= second < 4_200
        if not silent:
            rate = 0.0 if zero else 100e12
            rows.append(
                {
                    "miner_id": MINER,
                    "recorded_at": moment,
                    "hashrate_1m": rate,
                    "hashrate_15m": rate,
                }
            )
        moment += timedelta(seconds=STEP_SECONDS)
    tables = SQLModel.metadata.tables
    with engine.begin() as connection:
        for begin in range(0, len(rows), 20_000):
            batch = rows[begin : begin + 20_000]
            connection.execute(insert(tables["minersample"]), batch)
        connection.execute(
            insert(tables["miner"]),
            [
                {
                    "miner_id": MINER,
                    "first_seen_at": start,
                    "last_recorded_at": rows[-1]["recorded_at"],
                }
            ],
        )
    fold_all(engine)  # the rollup, as the fold job builds it behind ingest
    return len(rows)


def _count(engine: Engine, statement: Any) -> object:
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one()


def _bench_engine(kind: str) -> None:
    with migrated_database(kind, "availability") as (_url, engine):
        now = datetime.now(UTC).replace(microsecond=0)
        began = time.perf_counter()
        changes = fill_agents(engine, now)
        samples = fill_miner(engine, now)
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        print(
            f"  {kind}: loaded {AGENTS:,} agents ({changes:,} status changes) and "
            f"{samples:,} samples of one miner in {time.perf_counter() - began:.0f} s",
            flush=True,
        )

        def fleet() -> object:
            with Session(engine) as session:
                return service.fleet_report(
                    session=session,
                    kind="agent",
                    window="90d",
                    now=now,
                    offline_after=OFFLINE_AFTER,
                    limit=100,
                )

        def miner() -> object:
            with Session(engine) as session:
                return service.miner_report(
                    session=session,
                    miner_id=MINER,
                    window="30d",
                    now=now,
                    offline_after=OFFLINE_AFTER,
                )

        def fleet_by_intervals() -> object:
            # The list as it was computed before the SQL sums: every agent's intervals.
            span = service.window_ending("90d", now)
            with Session(engine) as session:
                return [
                    availability(span, down=t.down, maintenance=t.maintenance, known=t.known)
                    for _agent, t in agents_time(session, span, OFFLINE_AFTER)
                ]

        fleet_ms = timings_ms(fleet, repeat=REPEAT)
        miner_ms = timings_ms(miner, repeat=REPEAT)
        intervals_ms = timings_ms(fleet_by_intervals, repeat=3)
        history_count = timings_ms(
            lambda: _count(engine, select(func.count()).select_from(AgentStatusChange)),
            repeat=REPEAT,
        )
        sample_count = timings_ms(
            lambda: _count(
                engine,
                select(func.count())
                .select_from(MinerSample)
                .where(col(MinerSample.miner_id) == MINER),
            ),
            repeat=REPEAT,
        )
    rows = [("measure", "median", "p99", "baseline (median)", "ratio", "target")]
    for label, values, baseline, base_label, target in (
        ("90 d of 10,000 agents", fleet_ms, history_count, "count(*) history", FLEET_TARGET_MS),
        ("30 d of one miner", miner_ms, sample_count, "count(*) its samples", MINER_TARGET_MS),
    ):
        median, base = statistics.median(values), statistics.median(baseline)
        verdict = "met" if median < target else "MISSED"
        rows.append(
            (
                f"{kind}: {label}",
                f"{median:,.1f} ms",
                f"{percentile(values, 0.99):,.1f} ms",
                f"{base_label} {base:,.1f} ms",
                f"{median / base:.1f}x" if base else "—",
                f"median < {target:.0f} ms ({verdict})",
            )
        )
    print_table(rows)
    print(
        f"  {kind}: the same list by every agent's intervals (the way before the SQL sums): "
        f"{statistics.median(intervals_ms):,.0f} ms, median of 3",
        flush=True,
    )


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; {AGENTS:,} agents x {OUTAGES_PER_AGENT} outages over 90 d; one miner, "
        f"{MINER_DAYS} d of {STEP_SECONDS}-second samples; median of {REPEAT} runs",
        flush=True,
    )
    run_each_engine(_bench_engine)
