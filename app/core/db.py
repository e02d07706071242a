"""Console database: URL normalising, engine factory, SQLite pragmas, slow-query log, sessions."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from app.core.errors import ConfigError

logger = logging.getLogger("prism.db")

# Query-string options that configure SQLAlchemy's pool; never passed to the driver.
_POOL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "pool_size": int,
    "max_overflow": int,
    "pool_timeout": float,
    "pool_recycle": int,
    "pool_pre_ping": lambda raw: raw.strip().lower() in {"1", "true", "yes", "on"},
    "pool_use_lifo": lambda raw: raw.strip().lower() in {"1", "true", "yes", "on"},
}
# Every PostgreSQL driver operators write maps to psycopg 3, the one this service ships.
_POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
    "postgresql+pg8000",
    "postgresql+psycopg2cffi",
}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database URL plus the engine options its query string carried."""

    url: URL
    engine_options: dict[str, Any] = field(default_factory=dict)
    # PRISM_API_DB_LISTEN_URL: a direct server for what needs a session of its own (LISTEN,
    # session-level advisory locks) when `url` goes through a transaction pooler.
    session_url: URL | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def server_session_url(self) -> URL:
        """Where a connection that must keep its server session goes: direct when configured."""
        return self.session_url or self.url

    @property
    def display(self) -> str:
        """The URL with its password hidden, safe for logs and CLI output."""
        return self.url.render_as_string(hide_password=True)


def parse_database_url(raw: str, *, variable: str = "PRISM_API_DB_URL") -> DatabaseTarget:
    """Normalise an operator-written URL; a bad one raises ConfigError with one clear line."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ConfigError(
            f"{variable}: cannot parse {raw!r} as a database URL "
            "(expected e.g. sqlite:///prism.db or postgresql://user:pass@host:5432/db)"
        ) from None
    driver = url.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        return DatabaseTarget(url.set(drivername="sqlite+pysqlite"))
    if driver not in _POSTGRES_DRIVERS:
        raise ConfigError(
            f"{variable}: unsupported database {url.drivername!r} (use sqlite or postgresql)"
        )
    query = dict(url.query)
    options: dict[str, Any] = {}
    for name, convert in _POOL_OPTIONS.items():
        if name in query:
            raw_value = query.pop(name)
            text = raw_value if isinstance(raw_value, str) else raw_value[-1]
            try:
                options[name] = convert(text)
            except ValueError:
                raise ConfigError(f"{variable}: {name}={text!r} is not a valid value") from None
    if "prepare_threshold" in query:
        raw_threshold = query.pop("prepare_threshold")
        threshold_text = raw_threshold if isinstance(raw_threshold, str) else raw_threshold[-1]
        # A psycopg connect() keyword, not a libpq parameter: libpq refuses unknown keys.
        options["connect_args"] = {
            "prepare_threshold": _prepare_threshold(variable, threshold_text)
        }
    # asyncpg spells TLS as ssl=...; libpq (psycopg) as sslmode=...
    if "ssl" in query and "sslmode" not in query:
        ssl = query.pop("ssl")
        ssl_text = ssl if isinstance(ssl, str) else ssl[-1]
        query["sslmode"] = {"true": "require", "false": "disable"}.get(ssl_text.lower(), ssl_text)
    if not url.database:
        raise ConfigError(f"{variable}: the PostgreSQL URL names no database")
    return DatabaseTarget(url.set(drivername="postgresql+psycopg", query=query), options)


def _prepare_threshold(variable: str, text: str) -> int | None:
    """`none` turns psycopg's server-side prepared statements off; a number sets when they start."""
    if text.strip().lower() == "none":
        return None
    try:
        threshold = int(text)
    except ValueError:
        threshold = -1
    if threshold < 0:
        raise ConfigError(
            f"{variable}: prepare_threshold={text!r} is not valid (use none, or a count >= 0)"
        )
    return threshold


def api_database_target(api_url: str, listen_url: str | None) -> DatabaseTarget:
    """The console database, with PRISM_API_DB_LISTEN_URL (a direct server) when set.

    A listen URL means the API URL goes through a transaction pooler (PgBouncer 1.18 cannot
    carry server-side prepared statements from one transaction to the next), so psycopg's
    automatic prepares are turned off unless the API URL sets prepare_threshold itself.
    """
    target = parse_database_url(api_url)
    if listen_url is None:
        return target
    if target.is_sqlite:
        raise ConfigError(
            "PRISM_API_DB_LISTEN_URL is set but PRISM_API_DB_URL is SQLite: a listen URL is "
            "for PostgreSQL behind PgBouncer; unset it"
        )
    listen = parse_database_url(listen_url, variable="PRISM_API_DB_LISTEN_URL")
    if listen.is_sqlite:
        raise ConfigError(
            f"PRISM_API_DB_LISTEN_URL: {listen.display!r} is not PostgreSQL (LISTEN and advisory "
            "locks need a direct postgresql://user:pass@host:5432/db connection)"
        )
    connect_args = {"prepare_threshold": None, **target.engine_options.get("connect_args", {})}
    options = {**target.engine_options, "connect_args": connect_args}
    return replace(target, engine_options=options, session_url=listen.url)


QueryObserver = Callable[[float], None]
SQLITE_POOL_SIZE = 20


def create_db_engine(
    target: DatabaseTarget,
    *,
    busy_timeout_seconds: float = 30,
    slow_query_ms: float = 500,
    on_query: QueryObserver | None = None,
    pool_pre_ping: bool = True,
) -> Engine:
    """Build the console engine; nothing touches the disk until the first connection."""
    # A ping finds connections a server dropped (PostgreSQL restarted); a SQLite file has
    # no server, and the extra SELECT 1 on every checkout was a measurable share of a read.
    options: dict[str, Any] = {"pool_pre_ping": pool_pre_ping and not target.is_sqlite}
    if target.is_sqlite:
        options["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_seconds}
        if target.url.database in (None, "", ":memory:"):
            options["poolclass"] = StaticPool
        else:
            # Requests run in a pool of up to 40 threads: with SQLAlchemy's default of 5
            # pooled connections (+10 overflow) most requests under load opened and closed
            # a connection, PRAGMAs included, which cost more than their query.
            options.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
    options.update(target.engine_options)
    engine = create_engine(target.url, **options)
    if target.is_sqlite:
        _install_sqlite_pragmas(engine, busy_timeout_seconds)
    _install_query_timing(engine, slow_query_ms, on_query)
    return engine


def _install_sqlite_pragmas(engine: Engine, busy_timeout_seconds: float) -> None:
    busy_ms = int(busy_timeout_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL makes NORMAL durable against application crashes; only an OS crash can
            # lose the last transactions, and a power cut is outside what ingest promises.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()


def _install_query_timing(
    engine: Engine, slow_query_ms: float, on_query: QueryObserver | None
) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        conn.info.setdefault("prism_query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: Any
    ) -> None:
        started = conn.info["prism_query_start"].pop()
        elapsed = time.perf_counter() - started
        if on_query is not None:
            on_query(elapsed)
        elapsed_ms = elapsed * 1000
        if elapsed_ms >= slow_query_ms:
            # The statement only, never its parameters: they may carry tokens or user data.
            logger.warning(
                "slow query took %.1f ms: %s",
                elapsed_ms,
                " ".join(statement.split())[:500],
                extra={"duration_ms": round(elapsed_ms, 1)},
            )


class RequestSession(Session):
    """The session of one HTTP request: all it writes is one transaction, committed last.

    Services commit when their work is done, and keep doing so for the CLI and background
    jobs, which use a plain Session. In a request, that commit() only flushes (constraint
    errors still surface where the service expects them): the session dependency commits
    once the answer is built and serialized, and whatever fails before then rolls back
    everything the request wrote, so no error is answered after a commit.
    """

    deferring = True

    def commit(self) -> None:
        if self.deferring:
            self.flush()
        else:
            super().commit()

    def commit_now(self) -> None:
        """Commit for real, now: for a write that must be durable before slow work follows."""
        super().commit()

    def finish(self) -> None:
        """Commit what the request wrote; commit() commits from then on."""
        self.deferring = False
        super().commit()


def commit_now(session: Session) -> None:
    """Commit even inside a request (see RequestSession): nothing stays open or locked."""
    if isinstance(session, RequestSession):
        session.commit_now()
    else:
        session.commit()
