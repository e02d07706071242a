"""Ingest: samples/s through POST /api/miners/samples (1,000 a batch) vs raw executemany.

A real uvicorn serves the console in its own process; this process posts pre-encoded batches
of 1,000 samples (100 miners, 10 samples each) over loopback on two connections, so one
batch is parsed while the other is stored. Baseline: the same rows inserted with the
driver's executemany, one transaction per batch, on the same database. In between:
record_samples() called in-process (validation and HTTP excluded; the miner pointers
included, and the rollup while ingest still writes it), to show where the time goes. Runs
alternate between the paths; each figure is the median of RUNS runs; the server's own CPU
time per batch (from /proc/<pid>/stat) is shown too. Target: the HTTP path reaches at least
40 % of the raw rate, on SQLite and on PostgreSQL.

Then the fold's cost (app/miners/fold.py): a
backlog of FOLD_BACKLOG samples is inserted raw and folded in-process with fold_step(), a
step of 1,000 samples at a time and then of FOLD_BATCH; the time per 1,000 samples is shown.
The server's own fold job is off during the HTTP runs (PRISM_ROLLUP_FOLD_SECONDS=0): it
would fold the raw and in-process rows too, on the HTTP runs' CPU. What a deployment spends
per 1,000 samples is the server CPU per batch plus the fold's time per 1,000.
"""

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from app.miners import fold
from app.miners.derived import STORED_COLUMNS
from app.miners.ingest import record_samples
from bench.common import (
    AUTH,
    machine,
    migrated_database,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
    uvicorn_server,
)
from bench.load import run_load

BATCH = 1_000
MINERS = 100
BATCHES_PER_RUN = 20
RUNS = 5
CONCURRENCY = 2
TARGET = 0.40
T0 = datetime(2026, 1, 5, tzinfo=UTC)
FOLD_BACKLOG = 50_000
FOLD_STEP = 1_000

NextBatches = Callable[[int], list[list[dict[str, Any]]]]


def batch_rows(number: int) -> list[dict[str, Any]]:
    """Batch `number`: 10 consecutive 10-second samples of each of 100 miners."""
    rows = []
    for step in range(BATCH // MINERS):
        at = T0 + timedelta(seconds=10 * (number * (BATCH // MINERS) + step))
        for miner in range(MINERS):
            rows.append(
                {
                    "miner_id": f"rig-{miner:03}",
                    "recorded_at": at,
                    "pool": "pool.example:3333",
                    "profile": "rx/0",
                    "hashrate_1m": 9_000.0 + (number * 7 + miner * 13 + step) % 2_000,
                    "hashrate_15m": 10_000.0,
                    "shares_accepted": 1_000 + number,
                    "shares_rejected": number // 100,
                    "shares_stale": number // 50,
                    "latency_ms": 20.0 + miner % 70,
                    "temperature_c": 55.0 + (miner + step) % 30,
                    "last_share_difficulty": 120_000.0,
                    "last_share_at": at - timedelta(seconds=3),
                }
            )
    return rows


def request_body(rows: list[dict[str, Any]]) -> bytes:
    """The POST body of a batch, keys as clients send them (timestamp, not recorded_at)."""
    samples = []
    for row in rows:
        sample = {key: value for key, value in row.items() if key != "recorded_at"}
        sample["timestamp"] = row["recorded_at"].isoformat()
        sample["last_share_at"] = row["last_share_at"].isoformat()
        samples.append(sample)
    return json.dumps({"samples": samples}).encode()


def _raw_params(engine: Engine, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Driver-ready tuples: text datetimes on SQLite (as stored), datetimes on PostgreSQL."""

    def value(row: dict[str, Any], name: str) -> Any:
        item = row.get(name)
        if engine.dialect.name == "sqlite" and isinstance(item, datetime):
            return item.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return item

    return [tuple(value(row, name) for name in STORED_COLUMNS) for row in rows]


def _raw_insert(engine: Engine, batches: list[list[tuple[Any, ...]]]) -> float:
    """Seconds to insert the batches with executemany, one transaction per batch."""
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    statement = (
        f"INSERT INTO minersample ({', '.join(STORED_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(STORED_COLUMNS))})"
    )
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        for params in batches:
            cursor.executemany(statement, params)
            connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def _in_process(engine: Engine, batches: list[list[dict[str, Any]]]) -> float:
    with Session(engine) as session:
        started = time.perf_counter()
        for rows in batches:
            record_samples(session=session, rows=rows)
        return time.perf_counter() - started


def _bench_engine(kind: str) -> None:
    with migrated_database(kind, "ingest") as (url, engine):
        numbers = iter(range(10_000))

        def next_batches(count: int) -> list[list[dict[str, Any]]]:
            return [batch_rows(next(numbers)) for _ in range(count)]

        _bench_batches(kind, url, engine, next_batches)
        _bench_fold(kind, engine, next_batches)


def _bench_batches(kind: str, url: str, engine: Engine, next_batches: NextBatches) -> None:
    # The server's fold job would also fold the raw and in-process rows between the HTTP
    # runs, on the HTTP runs' CPU: off here, and measured on its own (_bench_fold).
    with uvicorn_server(url, env={"PRISM_ROLLUP_FOLD_SECONDS": "0"}) as server:
        http_rates, raw_rates, service_rates, cpu_per_batch = [], [], [], []
        samples_per_run = BATCH * BATCHES_PER_RUN
        # One unmeasured round warms every path (connections, statement caches, imports).
        for run in range(RUNS + 1):
            bodies = [request_body(rows) for rows in next_batches(BATCHES_PER_RUN)]
            cpu_before = server.cpu_seconds()
            result = run_load(
                server.base_url,
                "/api/miners/samples",
                concurrency=CONCURRENCY,
                max_requests=len(bodies),
                max_seconds=120,
                headers=AUTH,
                bodies=bodies,
            )
            if result.failures or result.requests != len(bodies):
                raise RuntimeError(f"{result.failures} of {result.requests} posts failed")
            cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / len(bodies)
            raw = _raw_insert(
                engine, [_raw_params(engine, rows) for rows in next_batches(BATCHES_PER_RUN)]
            )
            service = _in_process(engine, next_batches(BATCHES_PER_RUN))
            if run:
                http_rates.append(samples_per_run / result.seconds)
                raw_rates.append(samples_per_run / raw)
                service_rates.append(samples_per_run / service)
                cpu_per_batch.append(cpu_ms)
        http, raw_rate = statistics.median(http_rates), statistics.median(raw_rates)
        service_rate = statistics.median(service_rates)
        rss = server.memory_mb()
        cpu = statistics.median(cpu_per_batch)
    ratio = http / raw_rate
    verdict = "met" if ratio >= TARGET else "MISSED"
    print_table(
        [
            ("path", "samples/s", "vs raw", "target"),
            (
                f"{kind}: HTTP POST, {CONCURRENCY} conns",
                f"{http:,.0f}",
                f"{ratio:.0%}",
                f"≥ 40 % ({verdict})",
            ),
            (
                f"{kind}: record_samples in-process",
                f"{service_rate:,.0f}",
                f"{service_rate / raw_rate:.0%}",
                "",
            ),
            (f"{kind}: raw executemany (baseline)", f"{raw_rate:,.0f}", "100%", ""),
        ]
    )
    print(
        f"  {kind}: server CPU {cpu:.1f} ms per batch of {BATCH:,}; RSS after ingest {rss:.0f} MB",
        flush=True,
    )


def _bench_fold(kind: str, engine: Engine, next_batches: NextBatches) -> None:
    """The fold's cost per 1,000 samples over a backlog inserted raw, in-process."""
    # What the runs above left unfolded first (the server's fold job was off).
    fold.fold_all(engine)
    rows = [("fold, in-process", "per step (median)", "per 1,000 samples", "samples/s", "steps")]
    for limit in dict.fromkeys((FOLD_STEP, fold.FOLD_BATCH)):
        backlog = [_raw_params(engine, batch) for batch in next_batches(FOLD_BACKLOG // BATCH)]
        _raw_insert(engine, backlog)
        steps: list[float] = []
        folded = 0
        # Bounded: the backlog's steps, and a few more for any rows the samples before it left.
        for _ in range(FOLD_BACKLOG // limit + 5):
            started = time.perf_counter()
            count = fold.fold_step(engine, limit=limit).samples
            elapsed = time.perf_counter() - started
            if not count:
                break
            steps.append(elapsed * 1000)
            folded += count
        if folded < FOLD_BACKLOG:
            print(f"  {kind}: fold_step stopped after {folded:,} of {FOLD_BACKLOG:,} samples")
        if not steps:
            continue
        total = sum(steps)
        rows.append(
            (
                f"{kind}: fold_step(limit={limit:,})",
                f"{statistics.median(steps):,.1f} ms",
                f"{total * 1000 / folded:,.1f} ms",
                f"{folded * 1000 / total:,.0f}",
                f"{len(steps)}",
            )
        )
    print_table(rows)
    print(f"  {kind}: fold over a raw backlog of {FOLD_BACKLOG:,} samples", flush=True)


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; batches of {BATCH:,} samples, {BATCHES_PER_RUN} per run, "
        f"median of {RUNS} runs",
        flush=True,
    )
    run_each_engine(_bench_engine)
