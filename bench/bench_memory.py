"""Memory: the console server's resident size after ingest, reads and miner queries.

One console server (its own uvicorn process) on a database holding 1,000,000 samples of 100
miners and 1,000 agents goes through what the other benchmarks do, in short: batches of
1,000 samples posted, GET /api/agents at 32 connections, GET /api/miners/latest and the
30-day series. Its VmRSS (and peak VmHWM) from /proc/<pid>/status is then compared with
its size right after start-up and with a bare FastAPI app (same uvicorn) that served the
same agent list at the same load. Target: under 200 MB after all of it.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from app.core.timeutil import isoformat
from bench.bench_ingest import batch_rows, request_body
from bench.common import (
    AUTH,
    machine,
    migrated_database,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
    uvicorn_server,
)
from bench.data import fill_agents, fill_miner_history
from bench.load import BODY_FILE_VARIABLE, run_load

SAMPLES = 1_000_000
AGENTS = 1_000
INGEST_BATCHES = 30
READ_SECONDS = 6.0
MINER_REQUESTS = 20
TARGET_MB = 200.0


def _workload(base_url: str, until: datetime) -> None:
    """A short pass through every other benchmark's requests."""
    bodies = [request_body(batch_rows(10_000 + number)) for number in range(INGEST_BATCHES)]
    posted = run_load(
        base_url,
        "/api/miners/samples",
        concurrency=4,
        max_requests=len(bodies),
        max_seconds=120,
        headers=AUTH,
        bodies=bodies,
    )
    reads = run_load(
        base_url,
        "/api/agents",
        concurrency=32,
        max_requests=10_000,
        max_seconds=READ_SECONDS,
        headers=AUTH,
    )
    if posted.failures or reads.failures:
        raise RuntimeError(f"{posted.failures + reads.failures} requests failed")
    series = {
        "since": isoformat(until - timedelta(days=30)),
        "until": isoformat(until),
        "points": "1000",
    }
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=60) as client:
        for _ in range(MINER_REQUESTS):
            client.get("/api/miners/latest").raise_for_status()
            client.get("/api/miners/miner-000/series", params=series).raise_for_status()


def _bench_engine(kind: str) -> None:
    with (
        migrated_database(kind, "memory") as (url, engine),
        TemporaryDirectory(prefix="prism-bench-body-") as folder,
    ):
        now = datetime.now(UTC)
        fill_agents(engine, AGENTS, now)
        history = fill_miner_history(engine, total=SAMPLES, miners=100, series_days=30, now=now)
        with uvicorn_server(url) as console:
            started = console.memory_mb()
            body = httpx.get(f"{console.base_url}/api/agents", headers=AUTH, timeout=30)
            body.raise_for_status()
            _workload(console.base_url, history.until)
            after, peak = console.memory_mb(), console.memory_mb("VmHWM")
        body_file = Path(folder) / "agents.json"
        body_file.write_bytes(body.content)
        with uvicorn_server(
            factory="bench.load:bare_app", env={BODY_FILE_VARIABLE: str(body_file)}
        ) as bare:
            run_load(
                bare.base_url,
                "/api/agents",
                concurrency=32,
                max_requests=10_000,
                max_seconds=READ_SECONDS,
            )
            bare_rss = bare.memory_mb()
    verdict = "met" if after < TARGET_MB else "MISSED"
    print_table(
        [
            ("process", "VmRSS", "target"),
            (f"{kind}: console after the workload", f"{after:.0f} MB", f"< 200 MB ({verdict})"),
            (f"{kind}: console peak (VmHWM)", f"{peak:.0f} MB", ""),
            (f"{kind}: console right after start-up", f"{started:.0f} MB", ""),
            (f"{kind}: bare FastAPI app after the same reads", f"{bare_rss:.0f} MB", ""),
        ]
    )


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; {SAMPLES:,} samples, {AGENTS:,} agents; {INGEST_BATCHES} ingest "
        f"batches, {READ_SECONDS:.0f} s of agent reads, {MINER_REQUESTS} latest + series",
        flush=True,
    )
    run_each_engine(_bench_engine)
