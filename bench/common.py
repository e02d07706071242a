"""Shared benchmark helpers: timing with medians, result tables, migrated databases."""

import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Engine

from app import migrations
from app.db import create_db_engine, parse_database_url


def machine() -> str:
    """One line naming the machine, for the results table."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timings_ms(action: Callable[[], object], *, repeat: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of `repeat` runs after `warmup` unmeasured ones."""
    for _ in range(warmup):
        action()
    results = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        results.append((time.perf_counter() - started) * 1000)
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):8.2f} ms   p99 {percentile(values, 0.99):8.2f} ms"
        f"   (n={len(values)})"
    )


def print_row(label: str, figure: str, target: str = "") -> None:
    print(f"  {label:<46} {figure}{'   target: ' + target if target else ''}")


@contextmanager
def migrated_sqlite(name: str = "bench.db") -> Iterator[tuple[str, Engine]]:
    """A fresh migrated SQLite file in a temporary directory, removed afterwards."""
    with TemporaryDirectory(prefix="prism-bench-") as folder:
        url = f"sqlite:///{Path(folder) / name}"
        engine = create_db_engine(parse_database_url(url))
        migrations.upgrade(engine)
        try:
            yield url, engine
        finally:
            engine.dispose()
