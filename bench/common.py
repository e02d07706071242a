"""Shared benchmark helpers: timing with medians, result tables, migrated databases."""

import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.core.db import create_db_engine, parse_database_url
from app.ops import migrations


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


# --- Servers in their own process, throwaway PostgreSQL databases, result tables ----------

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_TOKEN = "bench-admin-token-with-enough-entropy-0002"
AUTH = {"Authorization": f"Bearer {BENCH_TOKEN}"}
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENGINES = ("sqlite", "postgresql")


class SkipBenchError(Exception):
    """A benchmark part that cannot run here (e.g. no PostgreSQL); its reason is printed."""


def quiet_slow_query_log() -> None:
    """Bulk loads and baselines are slow on purpose: keep the slow-query log off the tables."""
    logging.getLogger("prism.db").setLevel(logging.ERROR)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def temporary_pg_database(prefix: str = "prism_bench") -> Iterator[str]:
    """CREATE a throwaway database on PRISM_TEST_PG_URL (or the local default), yield its URL,
    DROP it afterwards; SkipBenchError when no server answers."""
    admin_url = os.environ.get("PRISM_TEST_PG_URL", DEFAULT_PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        shown = make_url(admin_url).render_as_string(hide_password=True)
        raise SkipBenchError(f"PostgreSQL not reachable at {shown}: {str(exc).strip()}") from None
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(kind: str, name: str = "bench") -> Iterator[tuple[str, Engine]]:
    """A fresh migrated database of the given engine ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        with migrated_sqlite(f"{name}.db") as pair:
            yield pair
        return
    with temporary_pg_database(f"prism_{name}") as url:
        engine = create_db_engine(parse_database_url(url))
        try:
            migrations.upgrade(engine)
            yield url, engine
        finally:
            engine.dispose()


def each_engine(kinds: Iterable[str] = ENGINES) -> Iterator[str]:
    """The engine names to run, as `PRISM_BENCH_ENGINES=sqlite` may narrow them."""
    wanted = os.environ.get("PRISM_BENCH_ENGINES")
    chosen = {kind.strip() for kind in wanted.split(",")} if wanted else None
    for kind in kinds:
        if chosen is None or kind in chosen:
            yield kind


def run_each_engine(bench_engine: Callable[[str], None]) -> None:
    """bench_engine(kind) for each engine to run; a part that cannot run prints why."""
    for kind in each_engine():
        try:
            bench_engine(kind)
        except SkipBenchError as skipped:
            print(f"  {kind}: skipped: {skipped}")


@dataclass
class Server:
    """A uvicorn server in its own process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (/proc/<pid>/stat)."""
        # The command name (field 2) may hold spaces: count fields after its closing ")".
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, field: str = "VmRSS") -> float:
        """Resident size (VmRSS) or its peak (VmHWM) in MB, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{field} not in /proc/{self.pid}/status")


@contextmanager
def uvicorn_server(
    db_url: str = "", *, factory: str = "app.main:app_factory", env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Serve `factory` with `python -m uvicorn` on 127.0.0.1 and a free port, as `prism serve`
    does (no access log), with the console's settings in the environment; stopped afterwards."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PRISM_")}
    environment.update(
        PRISM_API_DB_URL=db_url,
        PRISM_ADMIN_TOKEN=BENCH_TOKEN,
        PRISM_AUTO_MIGRATE="false",
        PRISM_LOG_LEVEL="WARNING",
        PRISM_LOG_FORMAT="text",
        PYTHONPATH=str(REPO_ROOT),
        **(env or {}),
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with TemporaryDirectory(prefix="prism-bench-server-") as folder:
        log = Path(folder) / "server.log"
        with log.open("wb") as output:
            # The working directory is empty, so no stray .env file changes the settings.
            process = subprocess.Popen(
                command, cwd=folder, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log=log)
        try:
            _wait_until_serving(server, seconds=30)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(server: Server, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            time.sleep(0.1)
    tail = server.log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the server did not start (exit {server.process.poll()}):\n{tail}")


def ms(value: float) -> str:
    return f"{value:,.1f} ms"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns: figure, baseline, ratio, target."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
