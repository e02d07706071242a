"""The main-DB engine: read-only at the connection level on both engines, with time limits.

SQLite: opened through a `file:...?mode=ro` URI (the file is never created, never written)
with `PRAGMA query_only`, and a progress handler that aborts any statement once the unit of
work's deadline has passed. PostgreSQL: every session starts with
`default_transaction_read_only=on`, a `statement_timeout` and UTC, and psycopg opens each
transaction `BEGIN READ ONLY`; the docs add a SELECT-only role on top.
"""

import math
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event

from app.core.db import DatabaseTarget
from app.core.errors import ConfigError

# connection.info key of the per-connection deadline the SQLite progress handler reads.
DEADLINE_KEY = "prism_main_deadline"
# SQLite VM instructions between two deadline checks (a few microseconds of work).
_PROGRESS_STEPS = 4000
_POOL_SIZE = 5
_MAX_OVERFLOW = 3


class Deadline:
    """A mutable deadline (time.monotonic seconds) shared with the progress handler."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline: float | None = None

    def expired(self) -> int:
        """Progress handler: non-zero aborts the running statement ("interrupted")."""
        return int(self.deadline is not None and time.monotonic() > self.deadline)


def build_main_engine(target: DatabaseTarget, *, timeout_ms: int) -> Engine:
    """An engine on the main DB that the database itself keeps read-only."""
    timeout_s = timeout_ms / 1000
    options: dict[str, Any] = {
        # Filter values (an email typed in a search box) stay out of logs and error texts.
        "hide_parameters": True,
        "pool_pre_ping": True,
        "pool_size": _POOL_SIZE,
        "max_overflow": _MAX_OVERFLOW,
        "pool_timeout": timeout_s,
    }
    if target.is_sqlite:
        url = _read_only_sqlite_url(target)
        options["connect_args"] = {"check_same_thread": False, "timeout": timeout_s}
        options.update(target.engine_options)
        engine = create_engine(url, **options)
        _install_sqlite_guards(engine)
        return engine
    query = dict(target.url.query)
    extra = query.pop("options", "")
    extra_text = extra if isinstance(extra, str) else " ".join(extra)
    session_options = (
        f"{extra_text} -c default_transaction_read_only=on "
        f"-c statement_timeout={timeout_ms} -c TimeZone=UTC"
    ).strip()
    options["connect_args"] = {
        "options": session_options,
        # libpq takes whole seconds and treats 1 as 2; the caller's wait is bounded anyway.
        "connect_timeout": max(2, math.ceil(timeout_s)),
        "application_name": "prism-console-main-reader",
    }
    options.update(target.engine_options)
    engine = create_engine(target.url.set(query=query), **options)
    _install_pg_guards(engine)
    return engine


def _read_only_sqlite_url(target: DatabaseTarget) -> Any:
    database = target.url.database or ""
    if database in ("", ":memory:"):
        raise ConfigError("PRISM_MAIN_DB_URL: the main database must be a SQLite file path")
    if not database.startswith("file:"):
        # A SQLite URI: '?', '#' and '%' in the path must be escaped.
        database = "file:" + quote(database, safe="/")
    query = {key: value for key, value in target.url.query.items() if key not in {"mode"}}
    return target.url.set(database=database, query={**query, "mode": "ro", "uri": "true"})


def _install_sqlite_guards(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # query_only also refuses writes to the TEMP schema, which mode=ro would allow.
        dbapi_connection.execute("PRAGMA query_only = ON")
        deadline = Deadline()
        dbapi_connection.set_progress_handler(deadline.expired, _PROGRESS_STEPS)
        record.info[DEADLINE_KEY] = deadline


def _install_pg_guards(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # psycopg then opens every transaction with BEGIN READ ONLY, at no extra round trip.
        dbapi_connection.read_only = True
