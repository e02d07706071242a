"""`prism_runbook_exec_total{runbook_id, status}` for /metrics: the earlier service's counter.

The earlier service counted executions in its one process. Here every execute (API or web
form) records a run in the console database, so the counter is the count of those runs by
runbook and status (`queued`, `accepted`, `rejected`, ...), read at scrape time: a restart
does not reset it, and every replica reports the same value (aggregate replicas with `max`,
not `sum`). A scrape never fails because the database does: the counter is left out of
that scrape, and a warning says why.
"""

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core.single_flight import SingleFlight
from app.core.telemetry import Metrics
from app.models import RunbookRun
from app.ops.fleet_gauges import SCRAPE_TIMEOUT, EngineGetter
from app.ops.health import describe_error

logger = logging.getLogger("prism.metrics")

RunCounts = dict[tuple[str, str], int]


def count_runs(*, session: Session) -> RunCounts:
    """Recorded runs by (runbook id, status)."""
    statement = select(col(RunbookRun.runbook_id), col(RunbookRun.status), func.count()).group_by(
        col(RunbookRun.runbook_id), col(RunbookRun.status)
    )
    rows = session.exec(statement)
    return {(str(runbook), str(status)): int(count) for runbook, status, count in rows}


class RunbookRunCollector(Collector):
    """Reads the run counts from the console database at each scrape."""

    def __init__(self, engine: EngineGetter, timeout: float = SCRAPE_TIMEOUT) -> None:
        self._engine = engine
        self._timeout = timeout
        self._flight = SingleFlight()

    def describe(self) -> Iterator[Metric]:
        # The name only: registering must not query the database.
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._flight.call("runbook-runs", self._read, self._timeout)
        except TimeoutError:
            logger.warning(
                "prism_runbook_exec_total skipped: the console database took over %gs",
                self._timeout,
            )
            return
        except Exception as exc:
            logger.warning("prism_runbook_exec_total skipped: %s", describe_error(exc))
            return
        family = self._family()
        for (runbook_id, status), count in sorted(counts.items()):
            family.add_metric([runbook_id, status], count)
        yield family

    def _read(self) -> RunCounts:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the console database is not open yet")
        with Session(engine) as session:
            return count_runs(session=session)

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "prism_runbook_exec",
            "Runbook execution results: recorded runs by runbook and status.",
            labels=["runbook_id", "status"],
        )


def install_run_counter(metrics: Metrics, *, engine: EngineGetter) -> None:
    """Register the run counter on this app's registry (idempotent)."""
    metrics.install_once("runbook-runs", lambda: RunbookRunCollector(engine))
