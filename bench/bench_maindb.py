"""Cross-service views: first pages over a large main database, on SQLite and PostgreSQL.

The main database holds 100,000 agent logs, 1,000,000 transactions and 100,000 RoadChain
receipts (plus users, wallets, tasks, timeline events, commits, merkle roots and webhook
deliveries). Each JSON view and each page answers its first page; the figure is the
median over several requests, next to GET /livez through the same client as a baseline.
Target: every first page under 200 ms median on each engine.
"""

import random
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.main import create_app
from bench.common import migrated_sqlite, print_row, summary, timings_ms
from tests.support.maindb_fixtures import Dialect, MainTarget, admin_engine, main_database, stamp
from tests.support.signin import post_login

ADMIN = "bench-admin-token-with-enough-entropy-000001"
COUNTS = {"users": 1_000, "agents": 200, "agent_logs": 100_000, "wallets": 2_000,
          "transactions": 1_000_000, "receipts": 100_000, "timeline": 20_000,
          "commits": 5_000, "tasks": 5_000, "roots": 365, "webhooks": 20_000}  # fmt: skip
REPEAT = 15
TARGET_MS = 200.0
VIEWS = (
    "/api/main/reconciliation",
    "/api/main/agents/agent-7/logs",
    "/api/main/users",
    "/api/main/users/7",
    "/api/main/users/7/transactions",
    "/api/main/tasks",
    "/api/main/timeline",
    "/api/main/roadchain",
    "/api/main/roadchain/receipts",
    "/api/main/roadchain/merkle-roots",
    "/api/main/roadchain/webhooks",
)
PAGES = (
    "/cross/reconciliation",
    "/cross/users",
    "/cross/users/7",
    "/cross/tasks",
    "/cross/timeline",
    "/cross/roadchain",
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def run() -> None:
    for dialect in ("sqlite", "postgresql"):
        print(f"  [{dialect}]")
        try:
            with (
                TemporaryDirectory(prefix="prism-bench-main-") as folder,
                _filled(dialect, Path(folder)) as target,
            ):
                _measure(target)
        except Exception as exc:  # a missing PostgreSQL server is reported, not fatal
            print(f"  skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        except BaseException as exc:  # pytest.skip() from the shared fixture helpers
            if type(exc).__name__ != "Skipped":
                raise
            print(f"  skipped: {exc}")


@contextmanager
def _filled(dialect: Dialect, folder: Path) -> Iterator[MainTarget]:
    with main_database(dialect, folder, seeded=False) as target:
        with admin_engine(target) as engine:
            _fill(engine, dialect)
        yield target


def _fill(engine: Engine, dialect: Dialect) -> None:
    rng = random.Random(7)
    at = lambda minutes: stamp(dialect, START + timedelta(minutes=minutes))  # noqa: E731
    epoch = lambda minutes: int((START + timedelta(minutes=minutes)).timestamp())  # noqa: E731
    tables: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
        "users": ("email, password_hash, name, role, created_at, updated_at", [
            (f"user{i}@example.com", "SECRET-HASH", f"User {i}", "member", at(i), at(i))
            for i in range(COUNTS["users"])]),
        "agents": ("slug, name, status, created_at, updated_at", [
            (f"agent-{i}", f"Agent {i}", rng.choice(["idle", "running", "error"]), at(i), at(i))
            for i in range(1, COUNTS["agents"] + 1)]),
        "agent_logs": ("agent_id, level, message, created_at", [
            (rng.randint(1, COUNTS["agents"]), "info", f"log line {i}", at(i // 10))
            for i in range(COUNTS["agent_logs"])]),
        "wallets": ("owner_type, owner_id, balance, created_at", [
            ("user", 1 + i % COUNTS["users"], rng.randint(0, 10**12), at(i))
            for i in range(COUNTS["wallets"])]),
        "transactions": ("wallet_from, wallet_to, amount, memo, created_at", [
            (rng.randint(1, COUNTS["wallets"]), rng.randint(1, COUNTS["wallets"]),
             rng.randint(1, 10**9), "payment", at(i // 20))
            for i in range(COUNTS["transactions"])]),
        "tasks": ("title, status, priority, created_at, updated_at", [
            (f"Task {i}", rng.choice(["todo", "doing", "done"]), i % 5, at(i), at(i))
            for i in range(COUNTS["tasks"])]),
        "timeline_events": ("type, entity_type, entity_id, created_at", [
            (rng.choice(["deploy", "login", "alert"]), "agent", str(i % 200), at(i))
            for i in range(COUNTS["timeline"])]),
        "commits": ("repo, branch, hash, author, message, created_at", [
            ("prism", "main", f"{i:040x}", "dev", f"commit {i}", at(i * 3))
            for i in range(COUNTS["commits"])]),
        "roadchain_receipts": ("user_id, kind, status, value, sig_value, created_at, updated_at", [
            (1 + i % COUNTS["users"], rng.choice(["usage", "manifest", "badge"]),
             rng.choice(["pending", "confirmed", "failed"]), i, "SECRET-SIG", epoch(i), epoch(i))
            for i in range(COUNTS["receipts"])]),
        "roadchain_merkle_roots": ("day_key, root, leaf_count, created_at", [
            ((START + timedelta(days=i)).date().isoformat(), f"0x{i:064x}", 100 + i,
             epoch(i * 1440)) for i in range(COUNTS["roots"])]),
        "roadchain_webhook_log": ("provider, event_type, payload_json, received_at", [
            ("alchemy", "mined", '{"ok": true}', epoch(i)) for i in range(COUNTS["webhooks"])]),
    }  # fmt: skip
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, (columns, rows) in tables.items():
            if dialect == "postgresql":
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns.split(","))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _measure(target: MainTarget) -> None:
    with migrated_sqlite("console.db") as (console_url, _engine):
        settings = Settings(
            api_db_url=console_url,
            main_db_url=target.url,
            admin_token=ADMIN,
            auto_migrate=False,
            log_level="WARNING",
            _env_file=None,  # type: ignore[call-arg]
        )
        with TestClient(create_app(settings)) as client:
            post_login(client, ADMIN)
            headers = {"Authorization": f"Bearer {ADMIN}"}
            baseline = timings_ms(lambda: client.get("/livez"), repeat=REPEAT)
            print_row("baseline GET /livez", summary(baseline))
            worst = 0.0
            for path in VIEWS + PAGES:

                def request(path: str = path) -> None:
                    response = client.get(path, headers=headers if path.startswith("/api") else {})
                    if response.status_code != 200 or '"available":false' in response.text:
                        raise RuntimeError(
                            f"{path} answered {response.status_code}: {response.text[:200]}"
                        )

                figures = timings_ms(request, repeat=REPEAT)
                worst = max(worst, statistics.median(figures))
                print_row(path, summary(figures), f"< {TARGET_MS:.0f} ms median")
            verdict = "meets" if worst < TARGET_MS else "MISSES"
            print(f"  slowest first page: {worst:.1f} ms median ({verdict} the target)")
