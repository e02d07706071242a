"""Prometheus metrics of one app instance: each app gets its own registry.

Dashboards built on the earlier service keep working (SPEC appendix A): its names are
exported beside ours, `prism_requests_total` and `prism_request_duration_seconds` as the same
samples as `prism_http_requests_total` and `prism_http_request_duration_seconds`,
`prism_sse_clients`, `prism_auth_cache_hits_total`, `prism_runbook_exec_total`
(app.runbooks.run_metrics) and the standard `process_*` and `python_*` collectors.
"""

import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app import __version__

# The one live stream the broadcaster feeds; the earlier gauge was labelled by it.
OPS_STREAM_ROUTE = "/api/stream/ops"


class EarlierName(Collector):
    """Another metric's samples under the earlier service's name, read at each scrape."""

    def __init__(self, source: Counter | Histogram, name: str, documentation: str) -> None:
        self._source = source
        self._name = name
        self._documentation = documentation

    def describe(self) -> Iterator[Metric]:
        for family in self._source.describe():
            yield Metric(self._name, self._documentation, family.type)

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            renamed = Metric(self._name, self._documentation, family.type, family.unit)
            # prism_http_requests_total -> prism_requests_total, _bucket/_sum/... likewise.
            renamed.samples = [
                sample._replace(name=self._name + sample.name[len(family.name) :])
                for sample in family.samples
            ]
            yield renamed


class Metrics:
    """The counters and histograms the service updates as it works."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "prism_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "prism_http_request_duration_seconds",
            "HTTP request duration by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.db_query_duration = Histogram(
            "prism_db_query_duration_seconds",
            "Console database query duration.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.ingested = Counter(
            "prism_ingest_items_total",
            "Items accepted by the ingest endpoints, by kind (sample, event, heartbeat).",
            ["kind"],
            registry=self.registry,
        )
        self.ingest_rejected = Counter(
            "prism_ingest_rejected_total",
            "Ingest requests refused, by kind and reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.build_info = Gauge(
            "prism_build_info",
            "Build information; the value is always 1.",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(version=__version__).set(1)
        self.stream_subscribers = Gauge(
            "prism_stream_subscribers",
            "Open live-update streams (server-sent events) of this process.",
            registry=self.registry,
        )
        self._install_earlier_names()
        self._installed: set[str] = set()
        self._install_lock = threading.Lock()

    def _install_earlier_names(self) -> None:
        self.registry.register(
            EarlierName(self.http_requests, "prism_requests", "Count of HTTP requests")
        )
        self.registry.register(
            EarlierName(
                self.http_duration, "prism_request_duration_seconds", "Latency of HTTP requests"
            )
        )
        self.sse_clients = Gauge(
            "prism_sse_clients",
            "Number of active SSE clients (the earlier name of prism_stream_subscribers).",
            ["route"],
            registry=self.registry,
        )
        self.auth_cache_hits = Counter(
            "prism_auth_cache_hits_total",
            "Token verifier answers served from the console's cache.",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def observe_db_query(self, seconds: float) -> None:
        self.db_query_duration.observe(seconds)

    def count_ingest(self, kind: str, count: int = 1) -> None:
        self.ingested.labels(kind=kind).inc(count)

    def watch_stream_subscribers(self, count: Callable[[], float]) -> None:
        """Read the number of open streams from `count` at each scrape."""
        self.stream_subscribers.set_function(count)
        self.sse_clients.labels(route=OPS_STREAM_ROUTE).set_function(count)

    def install_once(self, name: str, install: Callable[[], Collector]) -> None:
        """Register the collector `install` builds, the first time `name` is seen only."""
        with self._install_lock:
            if name in self._installed:
                return
            self.registry.register(install())
            self._installed.add(name)
