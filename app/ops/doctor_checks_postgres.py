"""PostgreSQL server checks: foreign keys in force, the console role, the pool, the size.

Least privilege (seed 003): the console needs to own its database, not the cluster. Pooling
(seed 000): every console process may hold its whole pool open, so the pool is compared with
what the server (or PgBouncer's server side) accepts.
"""

from sqlalchemy import Engine, text

from app.core.db import DatabaseTarget
from app.ops.doctor_checks import Check, failed, names, passed, size_text, warned

# SQLAlchemy's QueuePool defaults, which apply unless the URL sets pool_size / max_overflow.
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10
# Connections a process opens besides its pool: live fan-out's LISTEN, a scheduled job's lock.
EXTRA_CONNECTIONS = 2

# A foreign key of a partitioned table has a clone per partition (conparentid names the
# parent's): each key is listed once, broken when it or one of its clones is.
_DISABLED_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, c.conname, NOT c.convalidated AS not_valid,
       EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_constraint k ON k.oid = t.tgconstraint
               WHERE (k.oid = c.oid OR k.conparentid = c.oid) AND t.tgenabled = 'D')
         AS disabled
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'f' AND n.nspname = current_schema() AND c.conparentid = 0
ORDER BY 1, 2
"""


def server_checks(engine: Engine, target: DatabaseTarget) -> list[Check]:
    with engine.connect() as connection:
        replication_role = connection.execute(text("SHOW session_replication_role")).scalar()
        constraints = connection.execute(text(_DISABLED_FOREIGN_KEYS)).fetchall()
        role, superuser = connection.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        max_connections = int(connection.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(connection.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        connected = int(
            connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
            ).scalar_one()
        )
        database, size = connection.execute(
            text("SELECT current_database(), pg_database_size(current_database())")
        ).one()
    return [
        _foreign_key_check(str(replication_role), [tuple(row) for row in constraints]),
        _superuser_check(str(role), bool(superuser)),
        _pool_check(target, max_connections, reserved, connected),
        passed(
            "disk",
            f"database {database} takes {size_text(size)} on the server (its free disk is "
            "not visible from here)",
        ),
    ]


def _foreign_key_check(replication_role: str, constraints: list[tuple[object, ...]]) -> Check:
    if replication_role == "replica":
        return failed(
            "foreign_keys",
            "session_replication_role is replica: foreign keys (and triggers) are not enforced",
            "ALTER ROLE ... RESET session_replication_role (or unset it in postgresql.conf)",
        )
    broken = [f"{table}.{name}" for table, name, not_valid, disabled in constraints
              if not_valid or disabled]  # fmt: skip
    if broken:
        return warned(
            "foreign_keys",
            f"{len(broken)} foreign key{'s' if len(broken) != 1 else ''} not enforced "
            f"(triggers disabled or NOT VALID): {names(broken)}",
            "ALTER TABLE ... ENABLE TRIGGER ALL, then ALTER TABLE ... VALIDATE CONSTRAINT ...",
        )
    return passed("foreign_keys", f"all {len(constraints)} foreign keys enforced")


def _superuser_check(role: str, superuser: bool) -> Check:
    if not superuser:
        return passed("superuser", f"the console connects as {role}, not a superuser")
    return warned(
        "superuser",
        f"the console connects as {role}, a superuser: a bug or a leaked URL could touch "
        "every database of the server",
        "connect as a role that only owns the console database: CREATE ROLE prism LOGIN "
        "PASSWORD '...'; CREATE DATABASE prism OWNER prism",
    )


def _pool_check(
    target: DatabaseTarget, max_connections: int, reserved: int, connected: int
) -> Check:
    size = int(target.engine_options.get("pool_size", DEFAULT_POOL_SIZE))
    overflow = int(target.engine_options.get("max_overflow", DEFAULT_MAX_OVERFLOW))
    per_process = size + max(overflow, 0) + EXTRA_CONNECTIONS
    available = max_connections - reserved
    detail = (
        f"one console process opens up to {per_process} connections (pool_size {size} + "
        f"max_overflow {overflow} + {EXTRA_CONNECTIONS}); the server accepts {available} "
        f"(max_connections {max_connections} - {reserved} reserved), {connected} in use now"
    )
    advice = (
        "lower pool_size / max_overflow in PRISM_API_DB_URL, raise max_connections, or put "
        "PgBouncer in front (transaction pooling)"
    )
    if per_process > available:
        return failed("pool", f"{detail}: one process alone can exhaust it", advice)
    if 2 * per_process > available:
        return warned(
            "pool", f"{detail}: two processes (replicas or --workers) can exhaust it", advice
        )
    return passed("pool", detail)
