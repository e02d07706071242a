"""Audit cost: server time per request of a runbook execution and a settings change, with
and without their audit row, in the same run.

Each engine gets a migrated database and one in-process app (its lifespan included); an
ASGI wrapper outside every middleware times each request from its first byte in to its
last byte out, the request session's commit included. Requests alternate one by one
between the actions as shipped (change + hash-chained audit row in one transaction) and the
same actions with the audit write taken out of their services (app.runbooks.runs.record and
app.settings.service.record replaced by a no-op: a measurement, never a product setting).
Figures are medians of REQUESTS requests each way; the difference is what the row costs
(the head's lock, one INSERT with its indexes, one UPDATE, the hash).
"""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.main import create_app
from app.runbooks import runs
from app.settings import service as settings_service
from bench.common import (
    AUTH,
    BENCH_TOKEN,
    machine,
    migrated_database,
    ms,
    percentile,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
)

REQUESTS = 400
WARMUP = 20


class Timed:
    """Outermost ASGI layer: the server-side duration of each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seconds: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds.append(time.perf_counter() - started)


@contextmanager
def _without_audit() -> Iterator[None]:
    """The two services as if they wrote no audit row (their change alone)."""
    saved = runs.record, settings_service.record

    def skip(*_args: Any, **_kwargs: Any) -> None:
        return None

    runs.record = skip  # type: ignore[assignment]
    settings_service.record = skip  # type: ignore[assignment]
    try:
        yield
    finally:
        runs.record, settings_service.record = saved


def _execute(client: TestClient, number: int) -> None:
    response = client.post("/api/runbooks/bench/execute", json={"input": {}})
    assert response.status_code == 200, response.text


def _set(client: TestClient, number: int) -> None:
    response = client.put(f"/api/settings/bench.{number % 50}", json={"value": str(number)})
    assert response.status_code == 200, response.text


ACTIONS: dict[str, Callable[[TestClient, int], None]] = {
    "runbook execute": _execute,
    "settings change": _set,
}


def _timed(
    client: TestClient, timer: Timed, action: Callable[[TestClient, int], None], number: int
) -> float:
    timer.seconds.clear()
    action(client, number)
    return timer.seconds[-1] * 1000


def _pairs(
    client: TestClient, timer: Timed, action: Callable[[TestClient, int], None]
) -> tuple[list[float], list[float]]:
    """REQUESTS requests each way, interleaved one by one: a busy moment of the machine
    falls on both variants alike."""
    with_row: list[float] = []
    without_row: list[float] = []
    for number in range(-WARMUP, REQUESTS):
        audited = _timed(client, timer, action, 2 * number)
        with _without_audit():
            plain = _timed(client, timer, action, 2 * number + 1)
        if number >= 0:
            with_row.append(audited)
            without_row.append(plain)
    return with_row, without_row


def _bench(kind: str) -> None:
    with migrated_database(kind, "audit") as (url, _engine):
        settings = Settings(
            api_db_url=url,
            admin_token=BENCH_TOKEN,
            auto_migrate=False,
            log_level="WARNING",
            retention_interval_minutes=0,
            alert_interval_seconds=0,
            _env_file=None,
        )
        timer = Timed(create_app(settings))
        with TestClient(timer, headers=AUTH) as client:
            created = client.post("/api/runbooks", json={"id": "bench", "title": "Bench"})
            assert created.status_code == 201, created.text
            rows = [("", "without audit row", "with audit row", "added", "p99 with")]
            for label, action in ACTIONS.items():
                with_row, without_row = _pairs(client, timer, action)
                audited = statistics.median(with_row)
                plain = statistics.median(without_row)
                p99 = percentile(with_row, 0.99)
                rows.append(
                    (
                        f"{kind} {label}",
                        ms(plain),
                        ms(audited),
                        f"{ms(audited - plain)} ({(audited / plain - 1) * 100:+.0f} %)",
                        ms(p99),
                    )
                )
            print_table(rows)


def run() -> None:
    quiet_slow_query_log()
    print(f"  {machine()}; {REQUESTS} requests each way, interleaved (medians)")
    run_each_engine(_bench)
