"""Reads: GET /api/agents (1,000 agents) at 32 connections vs the same bytes from a bare app.

The console runs in its own uvicorn process on a migrated database holding 1,000 agents.
Load: wrk (Debian's package; `make bench` installs it when it can) with one thread and 32
keep-alive connections for RUN_SECONDS, so the load generator takes one core and the server
the other. Without wrk, an async httpx client in this process does the same for a bounded
number of requests; it reads at most ~200 of these 157 KB answers a second, so it then
measures itself more than the server (the figures say which client ran).

Baseline (the ceiling): a bare FastAPI endpoint in its own uvicorn answering the very bytes
the console answered, from memory. The console is measured twice: with PRISM_ADMIN_TOKEN
(authenticated without the database) and with a stored read token (looked up in the
database on every request, as clients with their own tokens are). Runs alternate; each
throughput is the median of RUNS runs, p50/p99 the medians of the runs' percentiles. The
server's CPU time per request (from /proc/<pid>/stat) is shown too. Target: at least 60 %
of the ceiling's throughput, and p99 under 50 ms.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from sqlmodel import Session

from app.auth import tokens
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
from bench.load import BODY_FILE_VARIABLE, run_load, run_wrk, wrk_available

AGENTS = 1_000
CONCURRENCY = 32
RUNS = 3
RUN_SECONDS = 5.0
# The httpx fallback: a bounded number of requests per run.
MAX_REQUESTS = 4_000
THROUGHPUT_TARGET = 0.60
P99_TARGET_MS = 50.0


@dataclass(frozen=True)
class Run:
    """One load run: throughput, percentiles, failures, and the server CPU per request."""

    throughput: float
    p50: float
    p99: float
    failures: int
    cpu_ms_per_request: float


def _run(server: Server, headers: dict[str, str]) -> Run:
    before = server.cpu_seconds()
    if wrk_available():
        result = run_wrk(
            f"{server.base_url}/api/agents",
            concurrency=CONCURRENCY,
            seconds=RUN_SECONDS,
            headers=headers,
        )
        requests, figures = result.requests, (result.throughput, result.p50, result.p99)
        failures = result.failures
    else:
        load = run_load(
            server.base_url,
            "/api/agents",
            concurrency=CONCURRENCY,
            max_requests=MAX_REQUESTS,
            max_seconds=RUN_SECONDS,
            headers=headers,
        )
        requests, figures = load.requests, (load.throughput, load.p50, load.p99)
        failures = load.failures
    cpu = (server.cpu_seconds() - before) * 1000 / max(1, requests)
    return Run(*figures, failures=failures, cpu_ms_per_request=cpu)


def _bench_engine(kind: str) -> None:
    with (
        migrated_database(kind, "reads") as (url, engine),
        TemporaryDirectory(prefix="prism-bench-body-") as folder,
    ):
        fill_agents(engine, AGENTS, datetime.now(UTC))
        with Session(engine) as session:
            _, plaintext = tokens.create_token(session=session, name="bench reader", scope="read")
        reader = {"Authorization": f"Bearer {plaintext}"}
        body_file = Path(folder) / "agents.json"
        with uvicorn_server(url) as console:
            body_file.write_bytes(_console_body(console.base_url))
            bare_env = {BODY_FILE_VARIABLE: str(body_file)}
            with uvicorn_server(factory="bench.load:bare_app", env=bare_env) as bare:
                measured: dict[str, tuple[Callable[[], Run], list[Run]]] = {
                    "admin": (lambda: _run(console, AUTH), []),
                    "reader": (lambda: _run(console, reader), []),
                    "bare": (lambda: _run(bare, AUTH), []),
                }
                for measure, _ in measured.values():
                    measure()  # warm-up, unmeasured
                for _ in range(RUNS):
                    for measure, runs in measured.values():
                        runs.append(measure())
            rss = console.memory_mb()
        size_kb = body_file.stat().st_size / 1024
    _report(kind, {name: runs for name, (_, runs) in measured.items()}, rss, size_kb)


def _console_body(base_url: str) -> bytes:
    """The console's answer, fetched once for the bare app to serve."""
    response = httpx.get(f"{base_url}/api/agents", headers=AUTH, timeout=30)
    response.raise_for_status()
    if len(response.json()["items"]) != AGENTS:
        raise RuntimeError("the agent list does not hold every agent")
    return response.content


def _report(kind: str, runs: dict[str, list[Run]], rss: float, size_kb: float) -> None:
    failures = sum(run.failures for series in runs.values() for run in series)
    if failures:
        raise RuntimeError(f"{failures} requests failed")

    def median(name: str, figure: str) -> float:
        return statistics.median(getattr(run, figure) for run in runs[name])

    ceiling = median("bare", "throughput")
    rows = [("endpoint", "req/s", "p50", "p99", "server CPU/req", "vs ceiling", "target")]
    labels = {
        "admin": f"{kind}: GET /api/agents, PRISM_ADMIN_TOKEN",
        "reader": f"{kind}: GET /api/agents, stored read token",
        "bare": f"{kind}: same bytes, bare FastAPI (ceiling)",
    }
    for name, label in labels.items():
        ratio = median(name, "throughput") / ceiling
        met = ratio >= THROUGHPUT_TARGET and median(name, "p99") < P99_TARGET_MS
        target = "" if name == "bare" else f"≥ 60 %, p99 < 50 ms ({'met' if met else 'MISSED'})"
        rows.append(
            (
                label,
                f"{median(name, 'throughput'):,.0f}",
                f"{median(name, 'p50'):.1f} ms",
                f"{median(name, 'p99'):.1f} ms",
                f"{median(name, 'cpu_ms_per_request'):.2f} ms",
                f"{ratio:.0%}",
                target,
            )
        )
    print_table(rows)
    print(f"  {kind}: body {size_kb:,.0f} KB; server RSS after the reads {rss:.0f} MB", flush=True)


def run() -> None:
    quiet_slow_query_log()
    client = (
        f"wrk, 1 thread, {RUN_SECONDS:.0f} s a run"
        if wrk_available()
        else f"httpx (wrk not installed), at most {MAX_REQUESTS:,} requests or "
        f"{RUN_SECONDS:.0f} s a run"
    )
    print(
        f"  {machine()}; {AGENTS:,} agents, {CONCURRENCY} connections, {client}, median of {RUNS}",
        flush=True,
    )
    run_each_engine(_bench_engine)
