"""Reads: GET /api/agents (1,000 agents) at 32 connections vs the same bytes from a bare app.

The console runs in its own uvicorn process on a migrated database holding 1,000 agents;
this process keeps 32 keep-alive connections busy (async httpx) for a bounded number of
requests and seconds. Baseline (the ceiling): a bare FastAPI endpoint in its own uvicorn
answering the very bytes the console answered, from memory. Runs alternate between the two;
throughput is the median of RUNS runs, p50/p99 over every request of those runs. The
server's own CPU time per request (from /proc/<pid>/stat) is shown too: unlike throughput,
it does not depend on how fast this Python client reads 150 KB answers. Target: at least
60 % of the ceiling's throughput, and p99 under 50 ms.
"""

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from bench.common import (
    AUTH,
    Server,
    SkipBenchError,
    each_engine,
    machine,
    migrated_database,
    percentile,
    print_table,
    quiet_slow_query_log,
    uvicorn_server,
)
from bench.data import fill_agents
from bench.load import BODY_FILE_VARIABLE, LoadResult, run_load

AGENTS = 1_000
CONCURRENCY = 32
RUNS = 3
MAX_REQUESTS = 4_000
MAX_SECONDS = 6.0
THROUGHPUT_TARGET = 0.60
P99_TARGET_MS = 50.0


@dataclass(frozen=True)
class Run:
    """One load run and the server CPU time it cost, per request."""

    load: LoadResult
    cpu_ms_per_request: float


def _run(server: Server) -> Run:
    before = server.cpu_seconds()
    load = run_load(
        server.base_url,
        "/api/agents",
        concurrency=CONCURRENCY,
        max_requests=MAX_REQUESTS,
        max_seconds=MAX_SECONDS,
        headers=AUTH,
    )
    cpu = (server.cpu_seconds() - before) * 1000 / max(1, load.requests)
    return Run(load=load, cpu_ms_per_request=cpu)


def _bench_engine(kind: str) -> None:
    with (
        migrated_database(kind, "reads") as (url, engine),
        TemporaryDirectory(prefix="prism-bench-body-") as folder,
    ):
        fill_agents(engine, AGENTS, datetime.now(UTC))
        body_file = Path(folder) / "agents.json"
        with uvicorn_server(url) as console:
            body_file.write_bytes(_console_body(console.base_url))
            bare_env = {BODY_FILE_VARIABLE: str(body_file)}
            with uvicorn_server(factory="bench.load:bare_app", env=bare_env) as bare:
                _run(console)  # warm-up, unmeasured
                _run(bare)
                app_runs, bare_runs = [], []
                for _ in range(RUNS):
                    app_runs.append(_run(console))
                    bare_runs.append(_run(bare))
            rss = console.memory_mb()
        size_kb = body_file.stat().st_size / 1024
    _report(kind, app_runs, bare_runs, rss, size_kb)


def _console_body(base_url: str) -> bytes:
    """The console's answer, fetched once for the bare app to serve."""
    response = httpx.get(f"{base_url}/api/agents", headers=AUTH, timeout=30)
    response.raise_for_status()
    if len(response.json()["items"]) != AGENTS:
        raise RuntimeError("the agent list does not hold every agent")
    return response.content


def _report(
    kind: str, app_runs: list[Run], bare_runs: list[Run], rss: float, size_kb: float
) -> None:
    failures = sum(run.load.failures for run in app_runs + bare_runs)
    if failures:
        raise RuntimeError(f"{failures} requests failed")

    def figures(runs: list[Run]) -> tuple[float, float, float, float]:
        latencies = [latency for run in runs for latency in run.load.latencies_ms]
        return (
            statistics.median(run.load.throughput for run in runs),
            statistics.median(latencies),
            percentile(latencies, 0.99),
            statistics.median(run.cpu_ms_per_request for run in runs),
        )

    app, bare = figures(app_runs), figures(bare_runs)
    ratio = app[0] / bare[0]
    met = ratio >= THROUGHPUT_TARGET and app[2] < P99_TARGET_MS
    print_table(
        [
            ("endpoint", "req/s", "p50", "p99", "server CPU/req", "vs ceiling", "target"),
            (
                f"{kind}: GET /api/agents (console)",
                f"{app[0]:,.0f}",
                f"{app[1]:.1f} ms",
                f"{app[2]:.1f} ms",
                f"{app[3]:.1f} ms",
                f"{ratio:.0%}",
                f"≥ 60 %, p99 < 50 ms ({'met' if met else 'MISSED'})",
            ),
            (
                f"{kind}: same bytes, bare FastAPI (ceiling)",
                f"{bare[0]:,.0f}",
                f"{bare[1]:.1f} ms",
                f"{bare[2]:.1f} ms",
                f"{bare[3]:.1f} ms",
                "100%",
                "",
            ),
        ]
    )
    print(f"  {kind}: body {size_kb:,.0f} KB; server RSS after the reads {rss:.0f} MB", flush=True)


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; {AGENTS:,} agents, {CONCURRENCY} connections, runs of at most "
        f"{MAX_REQUESTS:,} requests or {MAX_SECONDS:.0f} s, median of {RUNS}",
        flush=True,
    )
    for kind in each_engine():
        try:
            _bench_engine(kind)
        except SkipBenchError as skipped:
            print(f"  {kind}: skipped: {skipped}")
