"""The main database: reachable, refusing writes, read by a role that cannot write, in step.

Least privilege (SPEC §8, seed 003): the engine already opens every session read-only, so
the write probe proves that lock; on PostgreSQL the role's own privileges are read too,
since a role that could write is one `SET transaction_read_only = off` away from doing it.
A main database that is a logical replica (seed 001) also reports its subscriptions' lag.
"""

from typing import Any

from sqlalchemy import column, func, select, table

from app.core.config import Settings
from app.maindb import MainDatabase, MainDbReader, Unavailable
from app.maindb.replication import replication_status
from app.ops.doctor_checks import Check, failed, names, passed, warned

_ROLES = table("pg_roles", column("rolname"), column("rolsuper"))
_CLASS = table(
    "pg_class", column("oid"), column("relname"), column("relkind"), column("relnamespace")
)
_NAMESPACE = table("pg_namespace", column("oid"), column("nspname"))
_WRITES = "INSERT, UPDATE, DELETE, TRUNCATE"
_SELECT_ONLY = (
    "read it as a SELECT-only role: deploy/main-db-init/01-prism-reader.sql creates one "
    "(docs/maindb.md)"
)


def main_db_checks(main_db: MainDatabase | None, settings: Settings) -> list[Check]:
    if main_db is None:
        return [
            passed("main_db", "not configured (PRISM_MAIN_DB_URL unset): no cross-service views")
        ]
    check = main_db.check()
    if not check.ok:
        return [
            warned(
                "main_db",
                f"{main_db.display} is unreachable: {check.error}",
                "check PRISM_MAIN_DB_URL and the main database server; only the "
                "cross-service views are affected",
            )
        ]
    return [
        _write_check(main_db, len(check.tables), check.latency_ms),
        *_replication(main_db, settings),
    ]


def _write_check(main_db: MainDatabase, tables: int, latency_ms: float | None) -> Check:
    reached = f"{main_db.display} reachable ({tables} tables, {latency_ms} ms)"
    probe = main_db.probe_write()
    if isinstance(probe, Unavailable):
        return warned(
            "main_db",
            f"{reached}; the write probe could not run: {probe.reason}",
            "run `prism main check`",
        )
    if not probe.refused:
        return failed(
            "main_db",
            f"{reached}, and it ACCEPTED a write ({probe.message})",
            f"the console must never be able to write there: {_SELECT_ONLY}; for SQLite, "
            "point PRISM_MAIN_DB_URL at the file (it is opened mode=ro)",
        )
    if main_db.dialect != "postgresql":
        return passed("main_db", f"{reached}; writes refused ({probe.message})")
    privileges = main_db.read(_privileges)
    if isinstance(privileges, Unavailable):
        return warned(
            "main_db",
            f"{reached}; cannot read the role's privileges: {privileges.reason}",
            _SELECT_ONLY,
        )
    role, could = privileges
    if could:
        return failed(
            "main_db",
            f"{reached}; writes refused by the read-only session, but role {role} could write: "
            f"{'; '.join(could)}",
            _SELECT_ONLY,
        )
    return passed(
        "main_db", f"{reached}; writes refused ({probe.message}); role {role} can only read"
    )


def _privileges(reader: MainDbReader) -> tuple[str, list[str]]:
    """The role, and what it could write if a session asked (empty for a SELECT-only role)."""
    role_row = reader.first(
        select(func.current_user().label("role"), _ROLES.c.rolsuper).where(
            _ROLES.c.rolname == func.current_user()
        )
    )
    role = str(role_row["role"]) if role_row else "?"
    if role_row is not None and role_row["rolsuper"]:
        return role, ["it is a superuser"]
    user_schema = func.left(_NAMESPACE.c.nspname, 3) != "pg_"
    user_schema = user_schema & (_NAMESPACE.c.nspname != "information_schema")
    writable = reader.rows(
        select(_NAMESPACE.c.nspname, _CLASS.c.relname)
        .select_from(_CLASS.join(_NAMESPACE, _NAMESPACE.c.oid == _CLASS.c.relnamespace))
        .where(
            _CLASS.c.relkind.in_(("r", "p")),
            user_schema,
            func.has_table_privilege(_CLASS.c.oid, _WRITES),
        )
        .order_by(_NAMESPACE.c.nspname, _CLASS.c.relname)
    )
    schemas = reader.rows(
        select(_NAMESPACE.c.nspname)
        .where(user_schema, func.has_schema_privilege(_NAMESPACE.c.oid, "CREATE"))
        .order_by(_NAMESPACE.c.nspname)
    )
    database = reader.scalar(select(func.has_database_privilege(func.current_database(), "CREATE")))
    could: list[str] = []
    if writable:
        tables = [_qualified(row) for row in writable]
        could.append(f"INSERT/UPDATE/DELETE on {names(tables)}")
    if schemas:
        could.append(f"CREATE in schema {names([str(row['nspname']) for row in schemas])}")
    if database:
        could.append("CREATE on the database")
    return role, could


def _qualified(row: Any) -> str:
    schema, name = str(row["nspname"]), str(row["relname"])
    return name if schema == "public" else f"{schema}.{name}"


def _replication(main_db: MainDatabase, settings: Settings) -> list[Check]:
    replication = replication_status(main_db, max_lag_seconds=settings.main_db_max_lag_seconds)
    if replication is None or not (replication.subscriber or replication.error):
        return []  # not a logical replica: nothing to report
    if replication.error:
        return [warned("main_db_replication", replication.error, "run `prism main check`")]
    count = len(replication.subscriptions)
    if replication.status == "warn":
        warnings = [sub.warning for sub in replication.subscriptions if sub.warning]
        return [
            warned(
                "main_db_replication",
                "; ".join(warnings),
                "the cross-service views show old data until it catches up: see "
                "pg_stat_subscription and the subscriber's log",
            )
        ]
    lags = [sub.lag_seconds for sub in replication.subscriptions if sub.lag_seconds is not None]
    worst = f", lag at most {max(lags):,.1f} s" if lags else ""
    return [
        passed(
            "main_db_replication",
            f"logical replica: {count} subscription{'s' if count != 1 else ''} replicating{worst} "
            f"(limit {settings.main_db_max_lag_seconds:g} s)",
        )
    ]
