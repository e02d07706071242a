"""Single-sample ingest and heartbeats at 64 connections (wrk) vs a bare async endpoint.

The console runs in its own uvicorn process on a migrated database holding 1,000 agents;
wrk (one thread, 64 keep-alive connections, RUN_SECONDS a run) drives it with a Lua script
written at run time that varies each request over 1,000 miners (`POST /api/miners/sample`,
a full sample with its own timestamp) or the 1,000 pre-registered agents (`POST
/api/agents/{id}/heartbeat` with status, memory and version). Baseline (the ceiling): a bare
async FastAPI app in its own uvicorn (bench.load:bare_ingest_app) that validates the same
body with the same pydantic model (MinerSampleIn, Heartbeat) and answers 202 without
storing it. The console's ingest rate limit is set out of reach (PRISM_INGEST_RATE_LIMIT),
so every request is served; its other jobs run as deployed, the fold job (every
PRISM_ROLLUP_FOLD_SECONDS) included: its steps share the database and the CPU with ingest.
Runs alternate between the four; each figure is the median of RUNS runs (p50/p99 are
medians of the runs' percentiles); the server's own CPU time per request (from
/proc/<pid>/stat; PostgreSQL's own processes not included) is shown too. Afterwards the
rows stored are counted: a 2xx answer must mean a stored row. Target: at least 40 % of the
bare endpoint's request rate, with p99 under 100 ms, on SQLite and on PostgreSQL.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Engine, text

from bench.common import (
    AUTH,
    Server,
    machine,
    migrated_database,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
    uvicorn_server,
)
from bench.data import fill_agents
from bench.load import run_wrk, wrk_available

MINERS = 1_000
AGENTS = 1_000
CONCURRENCY = 64
RUNS = 3
RUN_SECONDS = 5.0
WARMUP_SECONDS = 2.0
# wrk leaves a request unanswered after this long out of its percentiles: far above the
# target, so a slow path shows as a slow p99 rather than as missing requests.
WRK_TIMEOUT_SECONDS = 10.0
THROUGHPUT_TARGET = 0.40
P99_TARGET_MS = 100.0
# Far above any rate a benchmark reaches (requests per minute per token).
SERVER_ENV = {"PRISM_INGEST_RATE_LIMIT": "1000000000"}
# What each endpoint stores per accepted request, to check that 2xx meant stored.
STORED_TABLES = {"sample": "minersample", "heartbeat": "agentmemorysample"}

# One state per wrk thread: a counter picks the miner, varies the figures and makes each
# timestamp distinct within its second (at most a second ahead: far inside the clock skew).
SAMPLE_SCRIPT = """
local counter, second, stamp = 0, -1, ""
wrk.method = "POST"
wrk.path = "/api/miners/sample"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local now = os.time()
  if now ~= second then
    second, stamp = now, os.date("!%Y-%m-%dT%H:%M:%S", now)
  end
  local miner = counter % {miners}
  local body = string.format(
    '{{"miner_id":"rig-%04d","timestamp":"%s.%06dZ","pool":"pool.example:3333",' ..
    '"profile":"rx/0","hashrate_1m":%d.5,"hashrate_15m":10000.0,"shares_accepted":%d,' ..
    '"shares_rejected":%d,"shares_stale":0,"latency_ms":%d.0,"temperature_c":%d.5,' ..
    '"last_share_difficulty":120000.0,"last_share_at":"%sZ"}}',
    miner, stamp, counter % 1000000, 9000 + counter % 2000, 1000 + counter,
    math.floor(counter / 500), 20 + miner % 70, 55 + counter % 30, stamp)
  return wrk.format(nil, nil, nil, body)
end
"""
HEARTBEAT_SCRIPT = """
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local path = string.format("/api/agents/agent-%04d/heartbeat", counter % {agents})
  local body = string.format(
    '{{"status":"online","memoryUsedMB":%d.5,"version":"1.2.0"}}', 100 + counter % 3900)
  return wrk.format(nil, path, nil, body)
end
"""


@dataclass(frozen=True)
class Run:
    """One wrk run: accepted requests per second, percentiles, failures, server CPU."""

    throughput: float
    p50: float
    p99: float
    accepted: int
    failures: int
    cpu_ms_per_request: float


def _settle(server: Server, stored: Callable[[], int] | None, *, seconds: float = 40.0) -> None:
    """Wait (bounded) until the server is done with what wrk left in flight: no CPU used and,
    for the console, no row added over 0.2 s (a request waiting on SQLite's lock uses no
    CPU). Those requests must not be served during the next run, nor left out of this
    run's CPU. The bound is above SQLite's busy timeout (PRISM_DB_TIMEOUT, 30 s)."""
    deadline = time.monotonic() + seconds
    before = (server.cpu_seconds(), stored() if stored else 0)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = (server.cpu_seconds(), stored() if stored else 0)
        if now[0] - before[0] < 0.01 and now[1] == before[1]:
            return
        before = now


def _run(server: Server, script: Path, seconds: float, stored: Callable[[], int] | None) -> Run:
    before = server.cpu_seconds()
    result = run_wrk(
        server.base_url,
        concurrency=CONCURRENCY,
        seconds=seconds,
        headers=AUTH,
        script=script,
        timeout_seconds=WRK_TIMEOUT_SECONDS,
    )
    _settle(server, stored)
    accepted = result.requests - result.rejected
    cpu = (server.cpu_seconds() - before) * 1000 / max(1, result.requests)
    return Run(
        throughput=result.accepted_throughput,
        p50=result.p50,
        p99=result.p99,
        accepted=accepted,
        failures=result.failures,
        cpu_ms_per_request=cpu,
    )


def _scripts(folder: Path) -> dict[str, Path]:
    scripts = {
        "sample": SAMPLE_SCRIPT.format(miners=MINERS),
        "heartbeat": HEARTBEAT_SCRIPT.format(agents=AGENTS),
    }
    paths = {}
    for name, source in scripts.items():
        paths[name] = folder / f"{name}.lua"
        paths[name].write_text(source)
    return paths


def _stored_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _stored(engine: Engine) -> dict[str, int]:
    return {name: _stored_rows(engine, table) for name, table in STORED_TABLES.items()}


def _bench_engine(kind: str) -> None:
    with (
        migrated_database(kind, "single") as (url, engine),
        TemporaryDirectory(prefix="prism-bench-lua-") as folder,
    ):
        fill_agents(engine, AGENTS, datetime.now(UTC))
        stored_before = _stored(engine)
        scripts = _scripts(Path(folder))
        with (
            uvicorn_server(url, env=SERVER_ENV) as console,
            uvicorn_server(factory="bench.load:bare_ingest_app") as bare,
        ):
            targets = {
                (endpoint, name): (
                    server,
                    script,
                    partial(_stored_rows, engine, STORED_TABLES[endpoint])
                    if server is console
                    else None,
                )
                for endpoint, script in scripts.items()
                for name, server in (("console", console), ("bare", bare))
            }
            every: dict[tuple[str, str], list[Run]] = {key: [] for key in targets}
            for key, (server, script, counter) in targets.items():
                # Warm-up: counted in the stored-rows check, left out of the figures.
                every[key].append(_run(server, script, WARMUP_SECONDS, counter))
            for _ in range(RUNS):
                for key, (server, script, counter) in targets.items():
                    every[key].append(_run(server, script, RUN_SECONDS, counter))
            rss = console.memory_mb()
        stored_after = _stored(engine)
    _report(kind, {key: runs[1:] for key, runs in every.items()}, rss)
    for endpoint, table in STORED_TABLES.items():
        accepted = sum(run.accepted for run in every[(endpoint, "console")])
        rows = stored_after[endpoint] - stored_before[endpoint]
        # Requests in flight when wrk stopped are stored (and waited for) but not counted.
        verdict = "ok" if rows >= accepted else "FEWER ROWS THAN 2xx ANSWERS"
        print(
            f"  {kind}: {endpoint}: {accepted:,} answered 2xx, {rows:,} {table} rows "
            f"stored ({verdict})",
            flush=True,
        )


def _report(kind: str, runs: dict[tuple[str, str], list[Run]], rss: float) -> None:
    def median(key: tuple[str, str], figure: str) -> float:
        return statistics.median(getattr(run, figure) for run in runs[key])

    rows = [("endpoint", "req/s", "p50", "p99", "CPU/req", "vs bare", "failed", "target")]
    labels = {
        "sample": "POST /api/miners/sample",
        "heartbeat": "POST /api/agents/{id}/heartbeat",
    }
    for endpoint, label in labels.items():
        ceiling = median((endpoint, "bare"), "throughput")
        for name in ("console", "bare"):
            key = (endpoint, name)
            ratio = median(key, "throughput") / ceiling
            met = ratio >= THROUGHPUT_TARGET and median(key, "p99") < P99_TARGET_MS
            verdict = f"≥ 40 %, p99 < 100 ms ({'met' if met else 'MISSED'})"
            rows.append(
                (
                    f"{kind}: {label}"
                    if name == "console"
                    else f"{kind}: same body, bare (ceiling)",
                    f"{median(key, 'throughput'):,.0f}",
                    f"{median(key, 'p50'):.1f} ms",
                    f"{median(key, 'p99'):.1f} ms",
                    f"{median(key, 'cpu_ms_per_request'):.2f} ms",
                    f"{ratio:.0%}",
                    f"{sum(run.failures for run in runs[key]):,}",
                    verdict if name == "console" else "",
                )
            )
    print_table(rows)
    print(f"  {kind}: console RSS after the runs {rss:.0f} MB", flush=True)


def run() -> None:
    if not wrk_available():
        print("  skipped: wrk not installed", flush=True)
        return
    quiet_slow_query_log()
    print(
        f"  {machine()}; {MINERS:,} miners, {AGENTS:,} agents, {CONCURRENCY} connections, wrk "
        f"1 thread, {RUN_SECONDS:.0f} s a run, median of {RUNS}",
        flush=True,
    )
    run_each_engine(_bench_engine)
