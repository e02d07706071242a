"""Fleet gauges for /metrics, read from the console database at scrape time.

Agents are counted by the status an operator sees (app.agents.status), agents and miners
by health (app.alerts.health, the one judgement every page shows); each miner's gauges
come from its newest sample (app.miners.queries: a primary-key join, cheap however many
samples are stored). A scrape never fails because the database does:
the fleet gauges are left out and `prism_fleet_scrape_error` says so.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlmodel import Session

from app.agents.status import count_by_status
from app.alerts.health import judge_fleet
from app.core.single_flight import SingleFlight
from app.core.telemetry import Metrics
from app.core.timeutil import utcnow
from app.miners.fold import unfolded_count
from app.miners.queries import newest_per_miner
from app.models.alerts import HealthName
from app.ops.health import describe_error

logger = logging.getLogger("prism.metrics")

# Well inside Prometheus's default 10 s scrape timeout.
SCRAPE_TIMEOUT = 3.0

EngineGetter = Callable[[], Engine | None]


@dataclass(frozen=True)
class MinerGauges:
    miner_id: str
    last_seen: datetime
    hashrate: float | None
    temperature_c: float | None


@dataclass(frozen=True)
class FleetSnapshot:
    agents_by_status: dict[str, int]
    miners: list[MinerGauges]
    # Every health present (0 if none), so a dashboard's series never vanish.
    agents_by_health: dict[HealthName, int]
    miners_by_health: dict[HealthName, int]
    # Samples stored and not yet folded into the rollups (app/miners/fold.py): a backlog
    # that keeps growing means the fold job is not running or not keeping up.
    unfolded_samples: int = 0


def read_fleet(*, session: Session, now: datetime, offline_after: int) -> FleetSnapshot:
    """Agents counted by shown status, agents and miners by health, and each miner's
    newest-sample gauges."""
    counts = count_by_status(session=session, now=now, offline_after_seconds=offline_after)
    miners = [
        MinerGauges(
            miner.miner_id,
            miner.last_seen_at,
            miner.hashrate,
            None if miner.sample is None else miner.sample.temperature_c,
        )
        for miner in newest_per_miner(session=session)
    ]
    judgement = judge_fleet(session, now=now)
    return FleetSnapshot(
        counts,
        miners,
        agents_by_health=judgement.counts("agent"),
        miners_by_health=judgement.counts("miner"),
        unfolded_samples=unfolded_count(session.connection()),
    )


class FleetCollector(Collector):
    """Prometheus collector computing the fleet gauges from the console DB at each scrape."""

    def __init__(
        self, engine: EngineGetter, offline_after: int, timeout: float = SCRAPE_TIMEOUT
    ) -> None:
        self._engine = engine
        self._offline_after = offline_after
        self._timeout = timeout
        self._flight = SingleFlight()

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not query the database.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        (
            agents,
            hashrate,
            temperature,
            last_seen,
            error,
            agents_health,
            miners_health,
            unfolded,
        ) = families
        try:
            snapshot = self._flight.call("fleet", self._read, self._timeout)
        except TimeoutError:
            logger.warning(
                "fleet gauges skipped: the console database took over %gs", self._timeout
            )
            error.add_metric([], 1)
            yield error
            return
        except Exception as exc:
            logger.warning("fleet gauges skipped: %s", describe_error(exc))
            error.add_metric([], 1)
            yield error
            return
        for status, count in sorted(snapshot.agents_by_status.items()):
            agents.add_metric([status], count)
        for health, count in snapshot.agents_by_health.items():
            agents_health.add_metric([health], count)
        for health, count in snapshot.miners_by_health.items():
            miners_health.add_metric([health], count)
        for miner in snapshot.miners:
            last_seen.add_metric([miner.miner_id], miner.last_seen.timestamp())
            if miner.hashrate is not None:
                hashrate.add_metric([miner.miner_id], miner.hashrate)
            if miner.temperature_c is not None:
                temperature.add_metric([miner.miner_id], miner.temperature_c)
        unfolded.add_metric([], snapshot.unfolded_samples)
        error.add_metric([], 0)
        yield from families

    def _read(self) -> FleetSnapshot:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the console database is not open yet")
        with Session(engine) as session:
            return read_fleet(session=session, now=utcnow(), offline_after=self._offline_after)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        return (
            GaugeMetricFamily(
                "prism_agents",
                "Agents by the status operators see (offline once silent too long).",
                labels=["status"],
            ),
            GaugeMetricFamily(
                "prism_miner_hashrate",
                "Effective hashrate of each miner's newest sample (H/s, stale shares removed).",
                labels=["miner_id"],
            ),
            GaugeMetricFamily(
                "prism_miner_temperature_celsius",
                "Temperature reported in each miner's newest sample.",
                labels=["miner_id"],
            ),
            GaugeMetricFamily(
                "prism_miner_last_seen_timestamp_seconds",
                "Unix time of each miner's newest sample.",
                labels=["miner_id"],
            ),
            GaugeMetricFamily(
                "prism_fleet_scrape_error",
                "1 when the fleet gauges could not be read from the console database.",
            ),
            GaugeMetricFamily(
                "prism_fleet_agents_health",
                "Agents by health: the alert rules' judgement (ok, pending, warning, critical, "
                "maintenance, unknown).",
                labels=["health"],
            ),
            GaugeMetricFamily(
                "prism_fleet_miners_health",
                "Miners by health: the alert rules' judgement.",
                labels=["health"],
            ),
            GaugeMetricFamily(
                "prism_rollup_unfolded_samples",
                "Miner samples stored but not yet folded into the chart rollups (the fold "
                "job's backlog; reads stay exact, a growing backlog makes them slower).",
            ),
        )


def install_fleet_gauges(
    metrics: Metrics,
    *,
    engine: EngineGetter,
    offline_after: int,
    stream_subscribers: Callable[[], float],
) -> None:
    """Register the fleet collector and the stream gauge on this app's registry (idempotent)."""

    def install() -> Collector:
        metrics.watch_stream_subscribers(stream_subscribers)
        return FleetCollector(engine, offline_after)

    metrics.install_once("fleet", install)
