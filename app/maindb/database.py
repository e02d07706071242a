"""The main API database, opened read-only: engine, deadlines, health check and write probe.

Every unit of work runs on a small thread pool and the caller waits at most the statement
timeout plus a small margin, whatever the database or the network does: a hung main DB
degrades the cross-service panels and nothing else. Underneath, the database enforces the
same limit (statement_timeout on PostgreSQL, a progress handler on SQLite) so a runaway
query is also stopped where it runs.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.core.config import Settings
from app.core.db import parse_database_url
from app.maindb.engine import DEADLINE_KEY, build_main_engine
from app.maindb.reader import MainDbDeadlineError, MainDbReader
from app.maindb.reflection import PanelUnavailableError, SchemaCache
from app.maindb.schemas import Unavailable

logger = logging.getLogger("prism.maindb")

T = TypeVar("T")

NOT_CONFIGURED = "PRISM_MAIN_DB_URL is not configured"
# Thread hand-off and connection checkout on top of the statement timeout.
MARGIN_SECONDS = 0.25
SCHEMA_TTL_SECONDS = 60.0
PROBE_TABLE = "prism_write_probe"


@dataclass(frozen=True)
class MainDbCheck:
    """Outcome of one health check of the main database."""

    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    tables: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteProbe:
    """Outcome of trying one write: `refused` is what the console needs to see."""

    refused: bool
    message: str


def first_line(error: BaseException) -> str:
    """The driver's message, first line only: no SQL, no bound parameters."""
    source = getattr(error, "orig", None) or error
    lines = str(source).strip().splitlines()
    return lines[0].strip() if lines else type(source).__name__


def _is_timeout(error: BaseException) -> bool:
    source = getattr(error, "orig", None) or error
    # PostgreSQL query_canceled (statement_timeout); SQLite's progress handler abort.
    return getattr(source, "sqlstate", None) == "57014" or str(source).strip() == "interrupted"


class MainDatabase:
    """The read-only main database; `read()` is the way in."""

    def __init__(
        self,
        engine: Engine,
        *,
        timeout_ms: int,
        display: str,
        schema_ttl_seconds: float = SCHEMA_TTL_SECONDS,
        workers: int = 8,
    ) -> None:
        self._engine = engine
        self.timeout_ms = timeout_ms
        self.display = display
        self._schema = SchemaCache(schema_ttl_seconds)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-maindb")
        self._running: set[Future[Any]] = set()
        self._running_lock = threading.Lock()
        self._closed = False

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    def read(self, work: Callable[[MainDbReader], T]) -> T | Unavailable:
        """Run `work` with a reader; a missing table, an error or the deadline → Unavailable."""

        def unit(connection: Connection, deadline: float) -> T:
            reader = MainDbReader(connection, schema_source=self._schema.get, deadline=deadline)
            return work(reader)

        return self._submit(unit)

    def check(self, *, timeout_ms: int | None = None) -> MainDbCheck:
        """Reachability, latency and visible tables; never raises, never waits past the limit.

        `timeout_ms` caps the wait below PRISM_MAIN_DB_TIMEOUT_MS (probes answer within 1 s).
        """
        started = time.perf_counter()

        def unit(connection: Connection, deadline: float) -> MainDbCheck:
            reader = MainDbReader(connection, schema_source=self._schema.get, deadline=deadline)
            reader.ping()
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            return MainDbCheck(ok=True, latency_ms=latency_ms, tables=reader.schema().all_columns)

        try:
            outcome = self._submit(unit, timeout_ms=timeout_ms)
        except Exception as exc:  # a health check reports, it never raises
            logger.warning("main database check failed: %s", first_line(exc))
            return MainDbCheck(ok=False, error=first_line(exc))
        if isinstance(outcome, Unavailable):
            return MainDbCheck(ok=False, error=outcome.reason)
        return outcome

    def probe_write(self) -> WriteProbe | Unavailable:
        """Try CREATE TABLE in a transaction that is rolled back anyway: it must be refused."""

        def unit(connection: Connection, _deadline: float) -> WriteProbe:
            transaction = connection.begin()
            try:
                connection.execute(text(f"CREATE TABLE {PROBE_TABLE} (id INTEGER)"))
            except DBAPIError as exc:
                return WriteProbe(refused=True, message=first_line(exc))
            else:
                # pysqlite runs DDL outside the transaction: undo by hand, then report.
                connection.execute(text(f"DROP TABLE IF EXISTS {PROBE_TABLE}"))
                return WriteProbe(refused=False, message="the database accepted CREATE TABLE")
            finally:
                transaction.rollback()

        return self._submit(unit)

    def invalidate_schema(self) -> None:
        """Forget the reflected schema; the next read reflects again."""
        self._schema.invalidate()

    def dispose(self) -> None:
        """Close the pool once running work ends (waiting at most one timeout), stop workers."""
        self._closed = True
        # Work past its deadline is already stopping in the database; letting it finish
        # returns its connection to the pool, so dispose() closes it instead of leaking it.
        with self._running_lock:
            running = list(self._running)
        wait_for(running, timeout=self.timeout_ms / 1000 + MARGIN_SECONDS)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._engine.dispose()

    def _submit(
        self, unit: Callable[[Connection, float], T], *, timeout_ms: int | None = None
    ) -> T | Unavailable:
        if self._closed:
            return Unavailable(reason="the main database connection is closed")
        limit_ms = min(timeout_ms or self.timeout_ms, self.timeout_ms)
        deadline = time.monotonic() + limit_ms / 1000
        future = self._executor.submit(self._run, unit, deadline, limit_ms)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(self._forget)
        try:
            return future.result(timeout=limit_ms / 1000 + MARGIN_SECONDS)
        except FutureTimeout:
            future.cancel()
            return self._timed_out(limit_ms)

    def _forget(self, future: Future[Any]) -> None:
        with self._running_lock:
            self._running.discard(future)

    def _run(
        self, unit: Callable[[Connection, float], T], deadline: float, limit_ms: int
    ) -> T | Unavailable:
        try:
            connection = self._engine.connect()
        except PoolTimeout:
            return self._timed_out(limit_ms)
        except SQLAlchemyError as exc:
            if _is_timeout(exc):
                return self._timed_out(limit_ms)
            return self._failed(f"cannot connect to the main database: {first_line(exc)}")
        armed: Any = connection.info.get(DEADLINE_KEY)
        if armed is not None:
            armed.deadline = deadline
        try:
            return unit(connection, deadline)
        except PanelUnavailableError as exc:
            return Unavailable(reason=exc.reason)
        except MainDbDeadlineError:
            return self._timed_out(limit_ms)
        except SQLAlchemyError as exc:
            if _is_timeout(exc):
                return self._timed_out(limit_ms)
            # The schema may have changed under a cached reflection: look again next time.
            self.invalidate_schema()
            return self._failed(f"main database error: {first_line(exc)}")
        finally:
            if armed is not None:
                armed.deadline = None
            connection.close()

    def _timed_out(self, limit_ms: int) -> Unavailable:
        logger.warning("main database: no answer within %d ms", limit_ms)
        return Unavailable(reason=f"the main database did not answer within {limit_ms} ms")

    def _failed(self, reason: str) -> Unavailable:
        logger.warning("%s", reason)
        return Unavailable(reason=reason)


def create_main_database(
    settings: Settings, *, schema_ttl_seconds: float = SCHEMA_TTL_SECONDS
) -> MainDatabase | None:
    """The main database from PRISM_MAIN_DB_URL, or None when unset; a bad URL → ConfigError."""
    if not settings.main_db_url:
        return None
    target = parse_database_url(settings.main_db_url, variable="PRISM_MAIN_DB_URL")
    engine = build_main_engine(target, timeout_ms=settings.main_db_timeout_ms)
    return MainDatabase(
        engine,
        timeout_ms=settings.main_db_timeout_ms,
        display=target.display,
        schema_ttl_seconds=schema_ttl_seconds,
    )


def read_main(main_db: MainDatabase | None, work: Callable[[MainDbReader], T]) -> T | Unavailable:
    """`main_db.read(work)`, or Unavailable("not configured") when there is no main DB."""
    if main_db is None:
        return Unavailable(reason=NOT_CONFIGURED)
    return main_db.read(work)
