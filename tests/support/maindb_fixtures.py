"""Main API databases for tests, built from the facts of SPEC §8 on SQLite and PostgreSQL.

The tables are created and seeded by an admin connection; on PostgreSQL the console then
connects as a freshly created SELECT-only role (random name, dropped afterwards). Seeds
carry recognisable secrets so tests can prove they never leave the main database.
"""

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.support.db import pg_admin_url, temporary_pg_database

Dialect = Literal["sqlite", "postgresql"]
TasksVariant = Literal["assignee", "project"]

# Values that must never appear in any response, export or log line.
SECRETS = ("SECRET-HASH-123", "SECRET-NONCE-456", "SECRET-SIG-789")
# Secrets hidden inside free-form JSON (redacted) or bodies that are never returned.
HIDDEN = ("SECRET-META-TOKEN", "SECRET-EVENT-PW", "SECRET-WEBHOOK-SIG", "SECRET-SETTINGS")

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
BIG_BALANCE = 9_007_199_254_740_993  # 2**53 + 1: a float would round it

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "ts": "TEXT NOT NULL DEFAULT (datetime('now'))",
        "ts_null": "TEXT",
        "bool": "INTEGER NOT NULL DEFAULT 1",
        "json": "TEXT",
        "int": "INTEGER",
        "date": "TEXT",
    },
    "postgresql": {
        "pk": "SERIAL PRIMARY KEY",
        "ts": "TIMESTAMPTZ NOT NULL DEFAULT now()",
        "ts_null": "TIMESTAMPTZ",
        "bool": "BOOLEAN NOT NULL DEFAULT true",
        "json": "JSONB",
        "int": "BIGINT",
        "date": "DATE",
    },
}

_TABLES: dict[str, str] = {
    "users": """id {pk}, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, name TEXT,
        role TEXT NOT NULL DEFAULT 'member', is_active {bool}, settings {json},
        created_at {ts}, updated_at {ts}, last_login_at {ts_null}""",
    "agents": """id {pk}, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'idle', heartbeat_at {ts_null}, memory_path TEXT,
        notes TEXT, created_at {ts}, updated_at {ts}{location}""",
    "agent_logs": """id {pk}, agent_id INTEGER NOT NULL REFERENCES agents(id),
        level TEXT NOT NULL DEFAULT 'info', message TEXT NOT NULL, meta {json}, created_at {ts}""",
    "wallets": """id {pk}, owner_type TEXT NOT NULL CHECK (owner_type IN ('user', 'system')),
        owner_id INTEGER NOT NULL, balance {int} NOT NULL DEFAULT 0, created_at {ts}""",
    "transactions": """id {pk}, wallet_from INTEGER REFERENCES wallets(id),
        wallet_to INTEGER NOT NULL REFERENCES wallets(id), amount {int} NOT NULL CHECK (amount > 0),
        memo TEXT, created_at {ts}""",
    "notes": """id {pk}, user_id INTEGER NOT NULL, content TEXT NOT NULL,
        created_at {ts}, updated_at {ts}""",
    "tasks:assignee": """id {pk}, title TEXT NOT NULL, description TEXT,
        status TEXT NOT NULL DEFAULT 'todo', priority INTEGER NOT NULL DEFAULT 0,
        assignee_id INTEGER, due_date {date}, created_at {ts}, updated_at {ts}""",
    "tasks:project": """id {pk}, project_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        title TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', created_at {ts},
        updated_at {ts}""",
    "timeline_events": """id {pk}, type TEXT NOT NULL, entity_type TEXT, entity_id TEXT,
        data {json}, created_at {ts}""",
    "commits": """id {pk}, repo TEXT NOT NULL, branch TEXT, hash TEXT NOT NULL, author TEXT,
        message TEXT, created_at {ts}""",
    "roadchain_accounts": """user_id INTEGER PRIMARY KEY, evm_address TEXT, siwe_nonce TEXT,
        linked_at {int}, last_seen {int}""",
    "roadchain_limits": """user_id INTEGER NOT NULL, month_key TEXT NOT NULL,
        proofs_published INTEGER NOT NULL DEFAULT 0,
        manifests_published INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (user_id, month_key)""",
    "roadchain_receipts": """id {pk}, user_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('usage', 'manifest', 'badge')), ref_hash TEXT,
        value {int}, meta_uri TEXT, sig_algo TEXT, sig_value TEXT, chain_id INTEGER,
        status TEXT NOT NULL DEFAULT 'pending', external_id TEXT, explorer_url TEXT,
        created_at {int} NOT NULL, updated_at {int}""",
    "roadchain_merkle_roots": """day_key TEXT PRIMARY KEY, root TEXT NOT NULL,
        leaf_count INTEGER NOT NULL, created_at {int} NOT NULL""",
    "roadchain_webhook_log": """id {pk}, provider TEXT NOT NULL, event_type TEXT,
        payload_json TEXT, received_at {int} NOT NULL""",
}
# Indexes a main API would plausibly have (foreign keys and created_at); the console's
# queries rely on nothing more.
INDEXES = (
    "CREATE INDEX idx_agent_logs_agent_created ON agent_logs (agent_id, created_at)",
    "CREATE INDEX idx_transactions_from ON transactions (wallet_from)",
    "CREATE INDEX idx_transactions_to ON transactions (wallet_to)",
    "CREATE INDEX idx_transactions_created ON transactions (created_at)",
    "CREATE INDEX idx_users_created ON users (created_at)",
    "CREATE INDEX idx_tasks_created ON tasks (created_at)",
    "CREATE INDEX idx_timeline_events_created ON timeline_events (created_at)",
    "CREATE INDEX idx_commits_created ON commits (created_at)",
    "CREATE INDEX idx_receipts_user ON roadchain_receipts (user_id)",
    "CREATE INDEX idx_receipts_created ON roadchain_receipts (created_at)",
    "CREATE INDEX idx_webhook_received ON roadchain_webhook_log (received_at)",
)
TABLE_NAMES = tuple(dict.fromkeys(name.split(":")[0] for name in _TABLES))


@dataclass(frozen=True)
class MainTarget:
    """A built main database: the URL the console uses, and an admin URL that can write."""

    dialect: Dialect
    url: str
    admin_url: str
    role: str | None = None


def schema_statements(
    dialect: Dialect,
    *,
    tasks: TasksVariant = "assignee",
    omit: frozenset[str] = frozenset(),
    location: bool = True,
) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for one schema variant."""
    types = dict(_TYPES[dialect])
    types["location"] = ", location TEXT" if location else ""
    statements = []
    for key, body in _TABLES.items():
        name, _, variant = key.partition(":")
        if name in omit or (variant and variant != tasks):
            continue
        # A foreign key to an omitted table goes too (the main API had it in another era).
        body = re.sub(r" REFERENCES (\w+)\(id\)", lambda m: "" if m[1] in omit else m[0], body)
        statements.append(f"CREATE TABLE {name} ({body.format(**types)})")
    for index in INDEXES:
        table = index.split(" ON ")[1].split(" ")[0]
        if table not in omit:
            statements.append(index)
    return statements


def stamp(dialect: Dialect, moment: datetime) -> Any:
    """A timestamp as the main API stores it: SQLite text, PostgreSQL timestamptz."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else moment


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def seed(
    conn: Connection,
    dialect: Dialect,
    *,
    tasks: TasksVariant = "assignee",
    omit: frozenset[str] = frozenset(),
    location: bool = True,
) -> None:
    """Insert the recognisable rows every test reads."""

    def ts(minutes: float) -> Any:
        return stamp(dialect, T0 + timedelta(minutes=minutes))

    def insert(table: str, rows: list[dict[str, Any]]) -> None:
        if table in omit or not rows:
            return
        columns = list(rows[0])
        conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            rows,
        )

    settings = '{"theme": "dark", "api_token": "SECRET-SETTINGS"}'
    insert(
        "users",
        [
            _user(1, "alice@example.com", "Alice Admin", "admin", True, ts(-3 * 1440), ts(60)),
            _user(2, "bob@example.com", "Bob Builder", "member", True, ts(-2 * 1440), None),
            _user(3, "carol@example.com", "Carol Gone", "member", False, ts(-1440), None),
        ],
    )
    for row in [] if "users" in omit else [1, 2, 3]:
        conn.execute(
            text("UPDATE users SET settings = :settings WHERE id = :id"),
            {"settings": settings, "id": row},
        )
    agents = [
        _agent(1, "agent-1", "Main Agent 1", "active", ts(0), "eu-west"),
        _agent(2, "agent-2", "Main Agent 2", "error", ts(-5), "us-east"),
        _agent(3, "main-only", "Main Only", "idle", ts(-10), None),
        _agent(7, "seven", "Seven", "offline", None, "ap-south"),
    ]
    if not location:
        for agent in agents:
            agent.pop("location")
    insert("agents", agents)
    insert(
        "agent_logs",
        [
            _log(1, 1, "info", "boot", {"step": 1}, ts(1)),
            _log(2, 1, "info", "working", {"step": 2, "token": "SECRET-META-TOKEN"}, ts(2)),
            _log(3, 1, "warn", "slow disk", None, ts(3)),
            _log(4, 1, "error", "crash", {"code": 500}, ts(4)),
            _log(5, 1, "info", "recovered", None, ts(5)),
            _log(6, 2, "error", "agent two failed", None, ts(6)),
            _log(7, 2, "info", "agent two up", None, ts(7)),
        ],
    )
    insert(
        "wallets",
        [
            _wallet(1, "user", 1, 150_000, ts(-100)),
            _wallet(2, "user", 1, BIG_BALANCE, ts(-90)),
            _wallet(3, "user", 2, 500, ts(-80)),
            _wallet(4, "system", 1, 1_000_000_000, ts(-200)),
        ],
    )
    insert(
        "transactions",
        [
            _tx(1, 4, 1, 100_000, "grant", ts(1)),
            _tx(2, 3, 1, 250, "bob pays alice", ts(2)),
            _tx(3, 1, 3, 75, "alice pays bob", ts(3)),
            _tx(4, 1, 2, 10, "alice moves money", ts(4)),
            _tx(5, None, 3, 5, "mint to bob", ts(5)),
            _tx(6, 4, 3, 7, "grant to bob", ts(6)),
        ],
    )
    insert("notes", [{"id": 1, "user_id": 1, "content": "hello", "created_at": ts(0)}])
    if tasks == "assignee":
        due = "2026-02-01" if dialect == "sqlite" else date(2026, 2, 1)
        insert(
            "tasks",
            [
                _task(1, "Write docs", "todo", 1, 1, due, ts(1)),
                _task(2, "Fix login bug", "todo", 3, 2, None, ts(2)),
                _task(3, "Ship release", "in_progress", 2, 1, due, ts(3)),
                _task(4, "Close sprint", "done", 1, None, None, ts(4)),
                _task(5, "Archive logs", "done", 0, 2, None, ts(5)),
            ],
        )
    else:
        insert(
            "tasks",
            [
                {"id": n, "project_id": 10 + n % 2, "user_id": 1 + n % 2, "title": title,
                 "status": status, "created_at": ts(n)}
                for n, title, status in [
                    (1, "Design schema", "pending"),
                    (2, "Write migration", "pending"),
                    (3, "Review PR", "done"),
                    (4, "Deploy", "failed"),
                ]
            ],
        )  # fmt: skip
    insert(
        "timeline_events",
        [
            _event(1, "user.created", "user", "1",
                   '{"email": "alice@example.com", "password": "SECRET-EVENT-PW"}', ts(10)),
            _event(2, "task.done", "task", "4", '{"title": "Close sprint"}', ts(30)),
            _event(3, "agent.error", "agent", "2", None, ts(50)),
        ],
    )  # fmt: skip
    insert(
        "commits",
        [
            _commit(1, "main-api", "abc123", "Initial import", ts(20)),
            _commit(2, "console", "def456", "Console views", ts(40)),
            _commit(3, "main-api", "789aaa", "Add roadchain", ts(60)),
        ],
    )
    insert(
        "roadchain_accounts",
        [
            {"user_id": 1, "evm_address": "0xabc", "siwe_nonce": "SECRET-NONCE-456",
             "linked_at": epoch(T0), "last_seen": epoch(T0) + 60},
        ],
    )  # fmt: skip
    insert(
        "roadchain_limits",
        [{"user_id": 1, "month_key": "2026-01", "proofs_published": 3, "manifests_published": 1}],
    )
    insert(
        "roadchain_receipts",
        [
            _receipt(1, 1, "usage", "confirmed", 1),
            _receipt(2, 1, "manifest", "pending", 2),
            _receipt(3, 2, "usage", "failed", 3),
            _receipt(4, 2, "badge", "confirmed", 4),
        ],
    )
    insert(
        "roadchain_merkle_roots",
        [
            {"day_key": f"2026-01-0{day}", "root": f"0xroot{day}", "leaf_count": day * 10,
             "created_at": epoch(T0 + timedelta(days=day - 5))}
            for day in (3, 4, 5)
        ],
    )  # fmt: skip
    payload = '{"event": "receipt.confirmed", "signature": "SECRET-WEBHOOK-SIG"}'
    insert(
        "roadchain_webhook_log",
        [
            {"id": 1, "provider": "alchemy", "event_type": "receipt.confirmed",
             "payload_json": payload, "received_at": epoch(T0 + timedelta(minutes=1))},
            {"id": 2, "provider": "stripe", "event_type": "charge.succeeded",
             "payload_json": "{}", "received_at": epoch(T0 + timedelta(minutes=2))},
        ],
    )  # fmt: skip
    if dialect == "postgresql":
        _reset_sequences(conn, omit)


def _user(
    user_id: int, email: str, name: str, role: str, active: bool, created: Any, login: Any
) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": email,
        "password_hash": SECRETS[0],
        "name": name,
        "role": role,
        "is_active": active,
        "created_at": created,
        "updated_at": created,
        "last_login_at": login,
    }


def _agent(
    agent_id: int, slug: str, name: str, status: str, heartbeat: Any, location: str | None
) -> dict[str, Any]:
    return {
        "id": agent_id,
        "slug": slug,
        "name": name,
        "status": status,
        "heartbeat_at": heartbeat,
        "memory_path": f"/memory/{slug}",
        "notes": "internal notes",
        "location": location,
    }


def _log(
    log_id: int, agent_id: int, level: str, message: str, meta: Any, created: Any
) -> dict[str, Any]:
    return {
        "id": log_id,
        "agent_id": agent_id,
        "level": level,
        "message": message,
        "meta": None if meta is None else json.dumps(meta),
        "created_at": created,
    }


def _wallet(wallet_id: int, owner_type: str, owner: int, balance: int, created: Any) -> dict:
    return {
        "id": wallet_id,
        "owner_type": owner_type,
        "owner_id": owner,
        "balance": balance,
        "created_at": created,
    }


def _tx(tx_id: int, source: int | None, target: int, amount: int, memo: str, at: Any) -> dict:
    return {
        "id": tx_id,
        "wallet_from": source,
        "wallet_to": target,
        "amount": amount,
        "memo": memo,
        "created_at": at,
    }


def _task(
    task_id: int, title: str, status: str, priority: int, assignee: int | None, due: Any, at: Any
) -> dict[str, Any]:
    return {
        "id": task_id,
        "title": title,
        "description": f"About {title.lower()}",
        "status": status,
        "priority": priority,
        "assignee_id": assignee,
        "due_date": due,
        "created_at": at,
        "updated_at": at,
    }


def _event(
    event_id: int, kind: str, entity: str, entity_id: str, data: str | None, at: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "entity_type": entity,
        "entity_id": entity_id,
        "data": data,
        "created_at": at,
    }


def _commit(commit_id: int, repo: str, sha: str, message: str, at: Any) -> dict[str, Any]:
    return {
        "id": commit_id,
        "repo": repo,
        "branch": "main",
        "hash": sha,
        "author": "alice",
        "message": message,
        "created_at": at,
    }


def _receipt(receipt_id: int, user_id: int, kind: str, status: str, minute: int) -> dict:
    created = epoch(T0 + timedelta(minutes=minute))
    return {
        "id": receipt_id,
        "user_id": user_id,
        "kind": kind,
        "ref_hash": f"0xref{receipt_id}",
        "value": 1000 * receipt_id,
        "meta_uri": f"ipfs://meta/{receipt_id}",
        "sig_algo": "eip191",
        "sig_value": SECRETS[2],
        "chain_id": 8453,
        "status": status,
        "external_id": f"ext-{receipt_id}",
        "explorer_url": f"https://explorer.example/tx/{receipt_id}",
        "created_at": created,
        "updated_at": created + 30,
    }


def _reset_sequences(conn: Connection, omit: frozenset[str]) -> None:
    for table in (
        "users",
        "agents",
        "agent_logs",
        "wallets",
        "transactions",
        "notes",
        "tasks",
        "timeline_events",
        "commits",
        "roadchain_receipts",
        "roadchain_webhook_log",
    ):
        if table not in omit:
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"(SELECT coalesce(max(id), 1) FROM {table}))")
            )  # fmt: skip


@contextmanager
def admin_engine(target: MainTarget) -> Iterator[Engine]:
    """A writable engine on the main database, for arranging schema changes in tests."""
    engine = create_engine(_sqlalchemy_url(target.admin_url))
    try:
        yield engine
    finally:
        engine.dispose()


def _sqlalchemy_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build(
    target: MainTarget,
    *,
    tasks: TasksVariant = "assignee",
    omit: frozenset[str] = frozenset(),
    location: bool = True,
    seeded: bool = True,
) -> None:
    """Create the schema (and the seed rows) through the admin URL."""
    with admin_engine(target) as engine, engine.begin() as conn:
        for statement in schema_statements(
            target.dialect, tasks=tasks, omit=omit, location=location
        ):
            conn.execute(text(statement))
        if seeded:
            seed(conn, target.dialect, tasks=tasks, omit=omit, location=location)


@contextmanager
def main_database(
    dialect: Dialect,
    directory: Path,
    *,
    tasks: TasksVariant = "assignee",
    omit: frozenset[str] = frozenset(),
    location: bool = True,
    seeded: bool = True,
) -> Iterator[MainTarget]:
    """A built main database on one engine; the console's URL is read-only by its role."""
    if dialect == "sqlite":
        path = directory / f"main-{uuid.uuid4().hex[:8]}.db"
        sqlite3.connect(path).close()
        url = f"sqlite:///{path}"
        target = MainTarget("sqlite", url, url)
        build(target, tasks=tasks, omit=omit, location=location, seeded=seeded)
        yield target
        return
    role = f"prism_ro_{uuid.uuid4().hex[:10]}"
    with ExitStack() as stack:
        # Callbacks run last-in first-out: the database goes first, then the role, which is
        # cluster-wide and would otherwise outlive it.
        stack.callback(_drop_role, role)
        admin_url = stack.enter_context(temporary_pg_database("prism_main"))
        reader_url = make_url(admin_url).set(username=role, password="reader-pw")
        target = MainTarget(
            "postgresql", reader_url.render_as_string(hide_password=False), admin_url, role
        )
        build(target, tasks=tasks, omit=omit, location=location, seeded=seeded)
        grant_reader(target)
        yield target


def grant_reader(target: MainTarget) -> None:
    """Create the SELECT-only role (PostgreSQL) and grant it every current table."""
    assert target.role is not None
    database = make_url(target.admin_url).database
    with psycopg.connect(_libpq(target.admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [target.role])
        if exists.fetchone() is None:
            conn.execute(f"CREATE ROLE {target.role} LOGIN PASSWORD 'reader-pw'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {target.role}')
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {target.role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {target.role}")


def _drop_role(role: str) -> None:
    with psycopg.connect(_libpq(pg_admin_url()), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _slow_source(dialect: Dialect) -> str:
    """A subquery that runs for many seconds unless the engine stops it."""
    if dialect == "sqlite":
        # Pure VM work (no sleeping function), so only the progress handler can stop it.
        return (
            "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 500000000) SELECT max(x) AS n FROM c)"
        )
    return "(SELECT 1 AS n FROM pg_sleep(30))"


def make_table_slow(target: MainTarget, table: str) -> None:
    """Replace `table` by a view of the same rows that takes far longer than any timeout."""
    with admin_engine(target) as engine, engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_base"))
        conn.execute(
            text(
                f"CREATE VIEW {table} AS SELECT b.* FROM {table}_base AS b "
                f"CROSS JOIN {_slow_source(target.dialect)} AS slow"
            )
        )
    if target.role is not None:
        grant_reader(target)


def run_admin(target: MainTarget, *statements: str) -> None:
    """Run DDL/DML on the main database as its owner, then re-grant the reader role."""
    with admin_engine(target) as engine, engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    if target.role is not None:
        grant_reader(target)
