"""RoadChain: receipts by status and kind, the receipts list, daily merkle roots, webhook log.

RoadChain timestamps are epoch integers; they are returned as ISO-8601 UTC. `sig_value` is
never selected (reflection drops it from the table object). Webhook payloads are not
returned, only their size: they are third-party documents that may carry signatures,
tokens or personal data, and the console has no business relaying them.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, Text, cast, func, select

from app.core.pagination import Cursor, encode_cursor
from app.maindb.convert import to_id, to_iso, to_key, to_scalar, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.query import NewestFirst, key_for, page, param, time_window
from app.maindb.reader import MainDbReader
from app.maindb.reflection import MainTable
from app.maindb.schemas import (
    MerkleRoot,
    MerkleRootPage,
    Receipt,
    ReceiptCount,
    ReceiptPage,
    RoadChainSummary,
    Unavailable,
    WebhookEntry,
    WebhookPage,
)

RECEIPT_COLUMNS = (
    "id",
    "user_id",
    "kind",
    "status",
    "ref_hash",
    "value",
    "meta_uri",
    "sig_algo",
    "chain_id",
    "external_id",
    "explorer_url",
    "created_at",
    "updated_at",
)
MERKLE_COLUMNS = ("day_key", "root", "leaf_count", "created_at")
WEBHOOK_COLUMNS = ("id", "provider", "event_type", "received_at")
NO_VALUE = "none"


@dataclass(frozen=True)
class ReceiptQuery:
    status: str | None = None
    kind: str | None = None
    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class WebhookQuery:
    provider: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def summary(*, main_db: MainDatabase | None) -> RoadChainSummary | Unavailable:
    """Receipt counts by status, by kind and by both."""

    def work(reader: MainDbReader) -> RoadChainSummary:
        receipts = reader.table("roadchain_receipts", "id")
        groups = [receipts.col(name) for name in ("status", "kind") if receipts.has(name)]
        statement = select(*groups, func.count().label("n")).select_from(receipts.table)
        if groups:
            statement = statement.group_by(*groups)
        by_status: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        pairs: list[ReceiptCount] = []
        for row in reader.rows(statement):
            count = int(row["n"])
            status, kind = to_text(row.get("status")), to_text(row.get("kind"))
            if receipts.has("status"):
                by_status[status or NO_VALUE] = by_status.get(status or NO_VALUE, 0) + count
            if receipts.has("kind"):
                by_kind[kind or NO_VALUE] = by_kind.get(kind or NO_VALUE, 0) + count
            pairs.append(ReceiptCount(status=status, kind=kind, count=count))
        return RoadChainSummary(
            total=sum(pair.count for pair in pairs),
            by_status=by_status,
            by_kind=by_kind,
            by_status_and_kind=sorted(pairs, key=lambda pair: (pair.status or "", pair.kind or "")),
        )

    return read_main(main_db, work)


def receipts(
    *,
    main_db: MainDatabase | None,
    query: ReceiptQuery,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> ReceiptPage | Unavailable:
    """Receipts newest first, filtered by status, kind, user and time."""

    def work(reader: MainDbReader) -> ReceiptPage:
        table = reader.table("roadchain_receipts", "id")
        statement = select(*table.pick(RECEIPT_COLUMNS))
        for name in ("status", "kind"):
            value = getattr(query, name)
            if value is not None:
                statement = statement.where(table.col(name) == param(value))
        if query.user_id is not None:
            user = key_for(table, "user_id", query.user_id)
            statement = statement.where(table.col("user_id") == param(user))
        statement = time_window(
            statement, table, "created_at", query.since, query.until, reader.dialect
        )
        rows, next_cursor = page(
            reader, statement, NewestFirst.of(table), cursor=cursor, limit=limit
        )
        return ReceiptPage(
            items=[_receipt(row) for row in rows],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)


def merkle_roots(
    *,
    main_db: MainDatabase | None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> MerkleRootPage | Unavailable:
    """Daily merkle roots, latest day first."""

    def work(reader: MainDbReader) -> MerkleRootPage:
        table = reader.table("roadchain_merkle_roots", "day_key")
        statement = select(*table.pick(MERKLE_COLUMNS))
        statement = time_window(statement, table, "created_at", since, until, reader.dialect)
        # day_key is the primary key and sorts like the days it names.
        order = NewestFirst.of(table, time_column=None, id_column="day_key")
        rows, next_cursor = page(reader, statement, order, cursor=cursor, limit=limit)
        return MerkleRootPage(
            items=[
                MerkleRoot(
                    day_key=to_key(row["day_key"]),
                    root=to_text(row.get("root")),
                    leaf_count=_int(row.get("leaf_count")),
                    created_at=to_iso(row.get("created_at")),
                )
                for row in rows
            ],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)


def webhooks(
    *,
    main_db: MainDatabase | None,
    query: WebhookQuery,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> WebhookPage | Unavailable:
    """The webhook log newest first: provider, event type, time and payload size."""

    def work(reader: MainDbReader) -> WebhookPage:
        table = reader.table("roadchain_webhook_log", "id")
        columns: list[Any] = table.pick(WEBHOOK_COLUMNS)
        if table.has("payload_json"):
            columns.append(_byte_length(table, reader.dialect).label("payload_bytes"))
        statement = select(*columns)
        if query.provider is not None:
            statement = statement.where(table.col("provider") == param(query.provider))
        if query.event_type is not None:
            statement = statement.where(table.col("event_type") == param(query.event_type))
        statement = time_window(
            statement, table, "received_at", query.since, query.until, reader.dialect
        )
        order = NewestFirst.of(table, time_column="received_at")
        rows, next_cursor = page(reader, statement, order, cursor=cursor, limit=limit)
        return WebhookPage(
            items=[
                WebhookEntry(
                    id=to_key(row["id"]),
                    provider=to_text(row.get("provider")),
                    event_type=to_text(row.get("event_type")),
                    received_at=to_iso(row.get("received_at")),
                    payload_bytes=_int(row.get("payload_bytes")),
                )
                for row in rows
            ],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)


def _byte_length(table: MainTable, dialect: str) -> Any:
    payload = table.col("payload_json")
    if dialect == "sqlite":
        return func.length(cast(payload, LargeBinary))
    return func.octet_length(cast(payload, Text))


def _receipt(row: Any) -> Receipt:
    return Receipt(
        id=to_key(row["id"]),
        user_id=to_id(row.get("user_id")),
        kind=to_text(row.get("kind")),
        status=to_text(row.get("status")),
        ref_hash=to_text(row.get("ref_hash")),
        value=to_scalar(row.get("value")),
        meta_uri=to_text(row.get("meta_uri")),
        sig_algo=to_text(row.get("sig_algo")),
        chain_id=to_scalar(row.get("chain_id")),
        external_id=to_text(row.get("external_id")),
        explorer_url=to_text(row.get("explorer_url")),
        created_at=to_iso(row.get("created_at")),
        updated_at=to_iso(row.get("updated_at")),
    )


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
