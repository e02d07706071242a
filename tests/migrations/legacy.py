"""A database as the earlier service's SQLModel `create_all` left it, built by hand.

Same table and column names, plain types (VARCHAR, FLOAT, DATETIME without time zone), no
Alembic version table; tags comma-separated, schemas as JSON text, timestamps naive.
"""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Float, Integer, String

NAIVE = datetime(2025, 12, 31, 23, 59, 58, 123456)  # written naive: it meant UTC
SCHEMA = {
    "type": "object",
    "properties": {"service": {"type": "string"}},
    "required": ["service"],
}


def legacy_metadata(
    *,
    without_table: str | None = None,
    without_column: str | None = None,
    with_indexes: bool = False,
) -> sa.MetaData:
    """The six tables; optionally one table or one `table.column` missing, or SQLModel's
    `index=True` indexes present."""
    metadata = sa.MetaData()
    tables: dict[str, list[Column[Any]]] = {
        "agent": [
            Column("id", String, primary_key=True),
            Column("name", String, nullable=False),
            Column("domain", String, nullable=False),
            Column("status", String, nullable=False),
            Column("memory_used_mb", Float, nullable=False),
            Column("last_seen_at", DateTime, nullable=False),
            Column("version", String, nullable=False),
        ],
        "agentevent": [
            Column("id", String, primary_key=True),
            Column("agent_id", String, nullable=False, index=with_indexes),
            Column("kind", String, nullable=False),
            Column("at", DateTime, nullable=False),
            Column("message", String, nullable=False),
        ],
        "runbook": [
            Column("id", String, primary_key=True),
            Column("title", String, nullable=False),
            Column("description", String, nullable=False),
            Column("tags", String, nullable=False),
            Column("inputs_schema", String, nullable=False),
            Column("linked_workflow", String, nullable=False),
        ],
        "metric": [
            Column("id", Integer, primary_key=True),
            Column("metric_id", String, nullable=False, index=with_indexes, unique=with_indexes),
            Column("title", String, nullable=False),
            Column("value", String, nullable=False),
            Column("caption", String, nullable=False),
            Column("icon", String, nullable=False),
            Column("status", String, nullable=False),
        ],
        "minersample": [
            Column("id", Integer, primary_key=True),
            Column("miner_id", String, nullable=False),
            Column("recorded_at", DateTime, nullable=False),
            Column("pool", String),
            Column("profile", String),
            Column("hashrate_1m", Float),
            Column("hashrate_15m", Float),
            Column("shares_accepted", Integer, nullable=False),
            Column("shares_rejected", Integer, nullable=False),
            Column("shares_stale", Integer, nullable=False),
            Column("latency_ms", Float),
            Column("temperature_c", Float),
            Column("last_share_difficulty", Float),
            Column("last_share_at", DateTime),
        ],
        "setting": [
            Column("key", String, primary_key=True),
            Column("value", String, nullable=False),
            Column("updated_at", DateTime, nullable=False),
        ],
    }
    for name, columns in tables.items():
        if name == without_table:
            continue
        kept = [column for column in columns if f"{name}.{column.name}" != without_column]
        sa.Table(name, metadata, *kept)
    return metadata


def legacy_rows() -> dict[str, list[dict[str, Any]]]:
    """Some rows in each table, as the earlier service stored them."""
    return {
        "agent": [
            {
                "id": "agent-1",
                "name": "Ops Agent 1",
                "domain": "infrastructure",
                "status": "online",
                "memory_used_mb": 512.5,
                "last_seen_at": NAIVE,
                "version": "0.9.1",
            },
            {
                "id": "agent-2",
                "name": "Ops Agent 2",
                "domain": "data",
                "status": "degraded",
                "memory_used_mb": 1024.0,
                "last_seen_at": datetime(2025, 12, 30, 8, 0),
                "version": "0.9.0",
            },
        ],
        "agentevent": [
            {
                "id": "evt-1",
                "agent_id": "agent-1",
                "kind": "started",
                "at": NAIVE,
                "message": "booted",
            },
            {
                "id": "evt-2",
                "agent_id": "agent-1",
                "kind": "warn",
                "at": datetime(2025, 12, 31, 12, 0),
                "message": "it's warm",
            },
            # The earlier service never checked the parent row.
            {
                "id": "evt-orphan",
                "agent_id": "ghost",
                "kind": "error",
                "at": datetime(2025, 12, 1, 0, 0),
                "message": "lost",
            },
        ],
        "runbook": [
            {
                "id": "runbook-1",
                "title": "Operational Task 1",
                "description": "Restart",
                "tags": "ops,standard",
                "inputs_schema": json.dumps(SCHEMA),
                "linked_workflow": "roadglitch.workflow.1",
            },
        ],
        "metric": [
            {
                "id": 7,
                "metric_id": "uptime",
                "title": "Platform Uptime",
                "value": "99.95%",
                "caption": "Last 24h",
                "icon": "activity",
                "status": "good",
            },
        ],
        "minersample": [
            {
                "id": 1,
                "miner_id": "xmrig",
                "recorded_at": datetime(2025, 12, 31, 23, 0),
                "pool": "pool.example:443",
                "profile": "rx/0",
                "hashrate_1m": 7000.0,
                "hashrate_15m": 6900.0,
                "shares_accepted": 10,
                "shares_rejected": 1,
                "shares_stale": 1,
                "latency_ms": 40.0,
                "temperature_c": 65.5,
                "last_share_difficulty": 120000.0,
                "last_share_at": datetime(2025, 12, 31, 22, 59),
            },
            {
                "id": 2,
                "miner_id": "xmrig",
                "recorded_at": NAIVE,
                "pool": None,
                "profile": None,
                "hashrate_1m": None,
                "hashrate_15m": 7100.0,
                "shares_accepted": 12,
                "shares_rejected": 1,
                "shares_stale": 2,
                "latency_ms": None,
                "temperature_c": None,
                "last_share_difficulty": None,
                "last_share_at": None,
            },
            {
                "id": 3,
                "miner_id": "rig-2",
                "recorded_at": datetime(2025, 12, 31, 6, 0),
                "pool": None,
                "profile": None,
                "hashrate_1m": 100.0,
                "hashrate_15m": None,
                "shares_accepted": 0,
                "shares_rejected": 0,
                "shares_stale": 0,
                "latency_ms": None,
                "temperature_c": None,
                "last_share_difficulty": None,
                "last_share_at": None,
            },
        ],
        "setting": [{"key": "org.name", "value": "Acme", "updated_at": NAIVE}],
    }


def build_legacy_database(path: Path, metadata: sa.MetaData) -> dict[str, list[dict[str, Any]]]:
    """create_all plus the rows, with a plain engine (no pragmas, as the earlier service)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    rows = legacy_rows()
    with engine.begin() as connection:
        metadata.create_all(connection)
        for name, table in metadata.tables.items():
            present = {column.name for column in table.columns}
            values = [{k: v for k, v in row.items() if k in present} for row in rows[name]]
            connection.execute(table.insert(), values)
    engine.dispose()
    return rows
