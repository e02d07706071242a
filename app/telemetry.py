"""Prometheus metrics of one app instance: each app gets its own registry."""

import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

from app import __version__


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
        self._installed: set[str] = set()
        self._install_lock = threading.Lock()

    def observe_db_query(self, seconds: float) -> None:
        self.db_query_duration.observe(seconds)

    def count_ingest(self, kind: str, count: int = 1) -> None:
        self.ingested.labels(kind=kind).inc(count)

    def watch_stream_subscribers(self, count: Callable[[], float]) -> None:
        """Read the number of open streams from `count` at each scrape."""
        self.stream_subscribers.set_function(count)

    def install_once(self, name: str, install: Callable[[], Collector]) -> None:
        """Register the collector `install` builds, the first time `name` is seen only."""
        with self._install_lock:
            if name in self._installed:
                return
            self.registry.register(install())
            self._installed.add(name)
