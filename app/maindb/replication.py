"""The main database as a PostgreSQL logical replica (seed 001): its subscriptions and lag.

Everything is read on the subscriber, through the read-only reader, from catalogs every role
may read: pg_subscription (never `subconninfo`, which holds the publisher's password),
pg_stat_subscription, pg_subscription_rel and, on PostgreSQL 15+, pg_stat_subscription_stats.

Lag is the time since the subscriber last heard from its publisher
(`last_msg_receipt_time`): a healthy subscription hears at least a keepalive every
`wal_sender_timeout / 2` (30 s by default) even when nothing changes, and a stalled one
stops hearing anything. Both times come from the subscriber's clock (`now()` in the same
query), so clock skew between the servers never shows up as lag; tests pass `now`.
A subscription whose apply worker is not running (disabled, or failing to connect) has no
such time: PostgreSQL reports NULL, and it warns for being stopped instead.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, column, func, select, table

from app.core.timeutil import as_utc
from app.maindb.database import MainDatabase
from app.maindb.reader import MainDbReader
from app.maindb.schemas import MainDbReplication, ReplicaSubscription, Unavailable

_SUBSCRIPTION = table(
    "pg_subscription",
    column("oid"),
    column("subdbid"),
    column("subname"),
    column("subenabled"),
    column("subpublications"),
)
_DATABASE = table("pg_database", column("oid"), column("datname"))
_STAT = table(
    "pg_stat_subscription",
    column("subid"),
    column("relid"),
    column("pid"),
    column("received_lsn"),
    column("last_msg_send_time"),
    column("last_msg_receipt_time"),
    column("latest_end_lsn"),
    column("latest_end_time"),
)
_STAT_ERRORS = table("pg_stat_subscription_stats", column("subid"), column("apply_error_count"))
_TABLE_STATE = table("pg_subscription_rel", column("srsubid"), column("srsubstate"))
# pg_stat_subscription_stats appeared in PostgreSQL 15.
_STATS_VERSION = 150000


@dataclass(frozen=True)
class _Worker:
    received_lsn: str | None
    latest_end_lsn: str | None
    last_msg_send_time: datetime | None
    last_msg_receipt_time: datetime | None
    latest_end_time: datetime | None
    running: bool


def replication_status(
    main_db: MainDatabase, *, max_lag_seconds: float, now: datetime | None = None
) -> MainDbReplication | None:
    """The subscriptions of the main database and their lag; None when it is not PostgreSQL.

    `now` is the subscriber's clock unless given (tests move it instead of waiting).
    """
    if main_db.dialect != "postgresql":
        return None
    outcome = main_db.read(lambda reader: _read(reader, max_lag_seconds, now))
    if isinstance(outcome, Unavailable):
        return MainDbReplication(
            subscriber=False,
            max_lag_seconds=max_lag_seconds,
            status="warn",
            error=f"cannot read the subscriptions: {outcome.reason}",
        )
    return outcome


def _read(reader: MainDbReader, max_lag_seconds: float, now: datetime | None) -> MainDbReplication:
    this_database = (
        select(_DATABASE.c.oid)
        .where(_DATABASE.c.datname == func.current_database())
        .scalar_subquery()
    )
    rows = reader.rows(
        select(
            _SUBSCRIPTION.c.oid,
            _SUBSCRIPTION.c.subname,
            _SUBSCRIPTION.c.subenabled,
            _SUBSCRIPTION.c.subpublications,
            func.now().label("server_now"),
            func.current_setting("server_version_num").label("version"),
        )
        .where(_SUBSCRIPTION.c.subdbid == this_database)
        .order_by(_SUBSCRIPTION.c.subname)
    )
    if not rows:
        return MainDbReplication(subscriber=False, max_lag_seconds=max_lag_seconds, status="pass")
    clock = as_utc(now) if now is not None else as_utc(rows[0]["server_now"])
    ids = [row["oid"] for row in rows]
    workers, syncing = _workers(reader, ids)
    errors = _apply_errors(reader, ids) if int(rows[0]["version"]) >= _STATS_VERSION else {}
    states = _tables_not_ready(reader, ids)
    subscriptions = [
        _subscription(
            row,
            workers.get(row["oid"]),
            syncing=max(syncing.get(row["oid"], 0), states.get(row["oid"], 0)),
            apply_errors=errors.get(row["oid"]),
            now=clock,
            max_lag_seconds=max_lag_seconds,
        )
        for row in rows
    ]
    warned = any(subscription.status == "warn" for subscription in subscriptions)
    return MainDbReplication(
        subscriber=True,
        max_lag_seconds=max_lag_seconds,
        status="warn" if warned else "pass",
        subscriptions=subscriptions,
    )


def _workers(reader: MainDbReader, ids: list[Any]) -> tuple[dict[Any, _Worker], dict[Any, int]]:
    """The apply worker's figures per subscription, and how many table-sync workers run."""
    rows = reader.rows(
        select(
            _STAT.c.subid,
            _STAT.c.relid,
            _STAT.c.pid,
            cast(_STAT.c.received_lsn, Text).label("received_lsn"),
            cast(_STAT.c.latest_end_lsn, Text).label("latest_end_lsn"),
            _STAT.c.last_msg_send_time,
            _STAT.c.last_msg_receipt_time,
            _STAT.c.latest_end_time,
        ).where(_STAT.c.subid.in_(ids))
    )
    workers: dict[Any, _Worker] = {}
    syncing: dict[Any, int] = {}
    for row in rows:
        if row["relid"] is not None:  # a table's initial copy, not the apply worker
            syncing[row["subid"]] = syncing.get(row["subid"], 0) + 1
            continue
        workers[row["subid"]] = _Worker(
            received_lsn=row["received_lsn"],
            latest_end_lsn=row["latest_end_lsn"],
            last_msg_send_time=row["last_msg_send_time"],
            last_msg_receipt_time=row["last_msg_receipt_time"],
            latest_end_time=row["latest_end_time"],
            running=row["pid"] is not None,
        )
    return workers, syncing


def _apply_errors(reader: MainDbReader, ids: list[Any]) -> dict[Any, int]:
    rows = reader.rows(
        select(_STAT_ERRORS.c.subid, _STAT_ERRORS.c.apply_error_count).where(
            _STAT_ERRORS.c.subid.in_(ids)
        )
    )
    return {row["subid"]: int(row["apply_error_count"] or 0) for row in rows}


def _tables_not_ready(reader: MainDbReader, ids: list[Any]) -> dict[Any, int]:
    """Tables of each subscription not yet in state `r` (ready): still being copied."""
    rows = reader.rows(
        select(_TABLE_STATE.c.srsubid, func.count().label("tables"))
        .where(_TABLE_STATE.c.srsubid.in_(ids), _TABLE_STATE.c.srsubstate != "r")
        .group_by(_TABLE_STATE.c.srsubid)
    )
    return {row["srsubid"]: int(row["tables"]) for row in rows}


def lag_seconds(last_receipt: datetime | None, now: datetime) -> float | None:
    """Seconds from the last message the subscriber received to `now` (never negative)."""
    if last_receipt is None:
        return None
    return max(0.0, round((as_utc(now) - as_utc(last_receipt)).total_seconds(), 3))


def _subscription(
    row: Any,
    worker: _Worker | None,
    *,
    syncing: int,
    apply_errors: int | None,
    now: datetime,
    max_lag_seconds: float,
) -> ReplicaSubscription:
    name = str(row["subname"])
    enabled = bool(row["subenabled"])
    running = worker is not None and worker.running
    lag = lag_seconds(worker.last_msg_receipt_time if running and worker else None, now)
    warning = _warning(name, enabled, running, lag, max_lag_seconds)
    return ReplicaSubscription(
        name=name,
        enabled=enabled,
        worker_running=running,
        publications=list(row["subpublications"] or []),
        received_lsn=worker.received_lsn if worker else None,
        latest_end_lsn=worker.latest_end_lsn if worker else None,
        last_msg_send_time=worker.last_msg_send_time if worker else None,
        last_msg_receipt_time=worker.last_msg_receipt_time if worker else None,
        latest_end_time=worker.latest_end_time if worker else None,
        tables_syncing=syncing,
        apply_errors=apply_errors,
        lag_seconds=lag,
        status="warn" if warning else "pass",
        warning=warning,
    )


def _warning(
    name: str, enabled: bool, running: bool, lag: float | None, max_lag_seconds: float
) -> str | None:
    if not enabled:
        return (
            f"subscription {name} is disabled: the main database receives no changes "
            f"(on the subscriber: ALTER SUBSCRIPTION {name} ENABLE)"
        )
    if not running:
        return (
            f"subscription {name} has no running apply worker: it cannot reach its publisher "
            "or has no worker slot (see the subscriber's log, max_logical_replication_workers)"
        )
    if lag is not None and lag > max_lag_seconds:
        return (
            f"subscription {name} lags: nothing heard from its publisher for {lag:,.0f} s "
            f"(more than PRISM_MAIN_DB_MAX_LAG_SECONDS={max_lag_seconds:g})"
        )
    return None
