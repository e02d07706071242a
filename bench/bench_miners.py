"""Miner reads over 1,000,000 samples of 100 miners, with 100,000 more not yet folded.

The samples (every miner every 10 s; miner-000 over 30 days, the others over the last ~21 h)
are bulk-loaded, the rollup built by the fold job's fold_all() and the miner pointers in SQL
(bench/data.py). Then BACKLOG more samples are ingested through record_samples() (pointers
moved, rollup not), spread over every miner and the newest BACKLOG_MINUTES minutes, and left
unfolded: reads merge them with the rollup, as just after a burst. The console runs in its
own uvicorn process and this process asks, one request at a time:
- GET /api/miners/latest (100 samples). Baseline: the plain GROUP BY that finds each miner's
  newest sample without the pointer table, run directly on the database. Target: median
  under 10 ms.
- GET /api/miners/miner-000/series over 30 days in 1,000 points (259,200 samples and the
  miner's part of the backlog). Baseline: the same buckets aggregated from every raw sample,
  as before the rollup, run directly on the database. Target: median under 100 ms.
The server's own fold job is off (PRISM_ROLLUP_FOLD_SECONDS=0), so every read sees the whole
backlog; it is counted again after the reads to show it.
"""

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session, col

from app.core.downsampling import bucketed, plan_buckets
from app.core.timeutil import isoformat
from app.miners.fold import fold_all, unfolded_count
from app.miners.series import SERIES_NAMES, metric_expressions
from app.models import MinerSample
from bench.common import (
    AUTH,
    machine,
    migrated_database,
    percentile,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
    timings_ms,
    uvicorn_server,
)
from bench.data import History, add_backlog, fill_miner_history

SAMPLES = 1_000_000
MINERS = 100
BACKLOG = 100_000
BACKLOG_MINUTES = 10
SERIES_DAYS = 30
POINTS = 1_000
REPEAT = 30
BASELINE_REPEAT = 5
LATEST_TARGET_MS = 10.0
# The server's own fold job would fold the backlog within seconds: off for these reads.
NO_FOLD_JOB = {"PRISM_ROLLUP_FOLD_SECONDS": "0"}
SERIES_TARGET_MS = 100.0

PLAIN_LATEST = text(
    """
    SELECT s.* FROM minersample s
      JOIN (SELECT miner_id, MAX(recorded_at) AS newest FROM minersample GROUP BY miner_id) n
        ON n.miner_id = s.miner_id AND n.newest = s.recorded_at
     ORDER BY s.miner_id
    """
)


def _raw_series(engine: Engine, history: History, since: datetime) -> Callable[[], object]:
    """The series as computed before the rollup: every raw sample of the window, bucketed."""
    plan = plan_buckets(since, history.until, POINTS)
    in_window = (
        (col(MinerSample.miner_id) == history.series_miner)
        & (col(MinerSample.recorded_at) >= since)
        & (col(MinerSample.recorded_at) < history.until)
    )
    metrics = list(zip(SERIES_NAMES, metric_expressions(), strict=True))

    def query() -> object:
        with Session(engine) as session:
            return bucketed(
                session,
                time_column=col(MinerSample.recorded_at),
                metrics=metrics,
                where=in_window,
                plan=plan,
            )

    return query


def _plain_latest(engine: Engine) -> Callable[[], object]:
    def query() -> object:
        with engine.connect() as connection:
            rows = connection.execute(PLAIN_LATEST).all()
        if len(rows) != MINERS:
            raise RuntimeError(f"the plain GROUP BY found {len(rows)} miners")
        return rows

    return query


def _get(
    client: httpx.Client, path: str, params: dict[str, str] | None = None
) -> Callable[[], object]:
    def request() -> object:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response

    return request


def _bench_engine(kind: str) -> None:
    with migrated_database(kind, "miners") as (url, engine):
        started = datetime.now(UTC)
        history = fill_miner_history(
            engine, total=SAMPLES, miners=MINERS, series_days=SERIES_DAYS, now=started
        )
        load_seconds = (datetime.now(UTC) - started).total_seconds()
        print(
            f"  {kind}: loaded {history.samples:,} samples and {history.rollup_rows:,} rollup "
            f"rows in {load_seconds:.0f} s (fold_all: {history.fold_seconds:.1f} s)",
            flush=True,
        )
        _add_backlog(kind, engine, history)
        since = history.until - timedelta(days=SERIES_DAYS)
        series_params = {
            "since": isoformat(since),
            "until": isoformat(history.until),
            "points": str(POINTS),
        }
        with (
            uvicorn_server(url, env=NO_FOLD_JOB) as server,
            httpx.Client(base_url=server.base_url, headers=AUTH, timeout=60) as client,
        ):
            latest_body = client.get("/api/miners/latest").json()
            if len(latest_body["samples"]) != MINERS:
                raise RuntimeError("latest does not list every miner")
            series_path = f"/api/miners/{history.series_miner}/series"
            series_body = client.get(series_path, params=series_params).json()
            latest = timings_ms(_get(client, "/api/miners/latest"), repeat=REPEAT, warmup=3)
            series = timings_ms(_get(client, series_path, series_params), repeat=REPEAT, warmup=3)
            rss = server.memory_mb()
            print(
                f"  {kind}: backlog after the reads: {_unfolded(engine):,} samples unfolded",
                flush=True,
            )
            _reads_once_folded(kind, engine, client, series_path, series_params, series_body)
        plain = timings_ms(_plain_latest(engine), repeat=BASELINE_REPEAT)
        raw = timings_ms(_raw_series(engine, history, since), repeat=BASELINE_REPEAT)
    _report(kind, latest, plain, series, raw, series_body, rss)


def _reads_once_folded(
    kind: str,
    engine: Engine,
    client: httpx.Client,
    series_path: str,
    series_params: dict[str, str],
    with_backlog: dict[str, object],
) -> None:
    """The same reads after fold_all(): what the backlog costs them, and the same answer."""
    fold_all(engine)
    folded_body = client.get(series_path, params=series_params).json()
    latest = timings_ms(_get(client, "/api/miners/latest"), repeat=REPEAT, warmup=3)
    series = timings_ms(_get(client, series_path, series_params), repeat=REPEAT, warmup=3)
    same = "the same" if _close(folded_body, with_backlog) else "A DIFFERENT"
    print(
        f"  {kind}: once folded (backlog {_unfolded(engine):,}): latest median "
        f"{statistics.median(latest):,.1f} ms, series median {statistics.median(series):,.1f} "
        f"ms; {same} series answer as with the backlog",
        flush=True,
    )


def _close(left: object, right: object) -> bool:
    """Equal JSON, numbers to 1e-9 relative (sums may add in another order)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_close, left, right))
    if isinstance(left, float | int) and isinstance(right, float | int):
        return abs(left - right) <= 1e-9 * max(abs(left), abs(right), 1.0)
    return left == right


def _add_backlog(kind: str, engine: Engine, history: History) -> None:
    """BACKLOG samples ingested and left unfolded."""
    started = time.perf_counter()
    backlog = add_backlog(engine, history, count=BACKLOG, minutes=BACKLOG_MINUTES)
    print(
        f"  {kind}: backlog: {backlog:,} samples past the rollup watermark (ingested in "
        f"{time.perf_counter() - started:.1f} s over the newest {BACKLOG_MINUTES} minutes)",
        flush=True,
    )


def _unfolded(engine: Engine) -> int:
    with engine.connect() as connection:
        return unfolded_count(connection)


def _report(
    kind: str,
    latest: list[float],
    plain: list[float],
    series: list[float],
    raw: list[float],
    series_body: dict[str, object],
    rss: float,
) -> None:
    def row(label: str, figures: list[float], baseline: list[float], target: float, base: str):
        median = statistics.median(figures)
        verdict = "met" if median < target else "MISSED"
        return (
            f"{kind}: {label}",
            f"{median:,.1f} ms",
            f"{percentile(figures, 0.99):,.1f} ms",
            f"{base} {statistics.median(baseline):,.1f} ms",
            f"{median / statistics.median(baseline):.1%}",
            f"median < {target:.0f} ms ({verdict})",
        )

    print_table(
        [
            ("request", "median", "p99", "baseline (median)", "ratio", "target"),
            row("GET /api/miners/latest", latest, plain, LATEST_TARGET_MS, "plain GROUP BY"),
            row(
                f"GET series 30 d → {series_body['points']} pts",
                series,
                raw,
                SERIES_TARGET_MS,
                "raw-sample buckets",
            ),
        ]
    )
    print(
        f"  {kind}: series buckets of {series_body['bucketSeconds']} s; "
        f"server RSS after these reads {rss:.0f} MB",
        flush=True,
    )


def run() -> None:
    quiet_slow_query_log()
    print(
        f"  {machine()}; {SAMPLES:,} samples of {MINERS} miners (+ {BACKLOG:,} unfolded); "
        f"{REPEAT} sequential requests each (baselines: {BASELINE_REPEAT} runs)",
        flush=True,
    )
    run_each_engine(_bench_engine)
