"""Health of the main database: check(), deadlines on both engines, and schema reflection."""

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import column, select, table

from app.core.config import Settings
from app.maindb import MainDatabase, Unavailable, create_main_database, fleet
from app.maindb import timeline as timeline_service
from app.maindb.reader import MainDbReader
from tests.support.maindb_fixtures import MainTarget, make_table_slow, run_admin
from tests.support.waits import WAIT

UNREACHABLE = "postgresql://nobody:pw@127.0.0.1:1/main"


def test_check_reports_latency_and_the_readable_tables(main_db: MainDatabase) -> None:
    check = main_db.check()
    assert check.ok, check.error
    assert check.error is None
    assert check.latency_ms is not None and check.latency_ms >= 0
    assert {"users", "agents", "agent_logs", "roadchain_receipts"} <= set(check.tables)
    assert check.tables["agents"][:3] == ["id", "slug", "name"]


def test_check_of_an_unreachable_server_reports_why_without_raising() -> None:
    main_db = create_main_database(Settings(main_db_url=UNREACHABLE, _env_file=None))
    assert main_db is not None
    try:
        check = main_db.check()
    finally:
        main_db.dispose()
    assert not check.ok
    assert check.latency_ms is None
    assert check.error is not None and "127.0.0.1" in check.error
    assert "pw" not in check.error


def test_the_database_itself_stops_a_query_running_past_the_timeout(
    make_main: Callable[..., MainTarget], opened: Callable[..., MainDatabase]
) -> None:
    # Called without the worker thread: only the engine (statement_timeout on PostgreSQL,
    # the progress handler on SQLite) can end this query before it runs for many seconds.
    target = make_main(seeded=False, omit=frozenset({"tasks"}))
    run_admin(
        target,
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT)",
        "INSERT INTO tasks (id, title) VALUES (1, 'slow')",
    )
    make_table_slow(target, "tasks")
    main_db = opened(target, main_db_timeout_ms=300)

    def unit(connection: object, _deadline: float) -> object:
        reader = MainDbReader(connection, schema_source=lambda _c: None, deadline=1e18)  # type: ignore[arg-type]
        return reader.rows(select(column("id")).select_from(table("tasks")))

    # No wait is bounded here: had the engine not stopped the query, its rows would come back.
    outcome = main_db._run(unit, time.monotonic() + 0.3, 300)
    assert outcome == Unavailable(reason="the main database did not answer within 300 ms")


def test_a_call_that_hangs_in_the_driver_is_abandoned_at_the_deadline(
    main_target: MainTarget, opened: Callable[..., MainDatabase]
) -> None:
    main_db = opened(main_target, main_db_timeout_ms=200)
    release = threading.Event()

    def hang(_reader: MainDbReader) -> str:
        release.wait(WAIT)  # stands for a driver call the database cannot interrupt
        return "finished"

    try:
        outcome = main_db.read(hang)
    finally:
        release.set()
    assert outcome == Unavailable(reason="the main database did not answer within 200 ms")


def test_check_answers_within_the_limit_when_a_round_trip_hangs(
    main_target: MainTarget, opened: Callable[..., MainDatabase], monkeypatch: pytest.MonkeyPatch
) -> None:
    main_db = opened(main_target, main_db_timeout_ms=1000)
    release = threading.Event()
    monkeypatch.setattr(MainDbReader, "ping", lambda _self: release.wait(WAIT))
    try:
        default = main_db.check(timeout_ms=None)
        probe = main_db.check(timeout_ms=200)  # what /readyz uses to answer within 1 s
    finally:
        release.set()
    assert not default.ok
    assert default.error == "the main database did not answer within 1000 ms"
    assert not probe.ok
    assert probe.error == "the main database did not answer within 200 ms"


def test_a_new_table_is_seen_once_the_cached_reflection_expires(
    make_main: Callable[..., MainTarget], opened: Callable[..., MainDatabase]
) -> None:
    target = make_main(omit=frozenset({"commits"}))
    cached = opened(target)
    uncached = opened(target, schema_ttl_seconds=0)
    query = timeline_service.TimelineQuery(source="commit")
    missing = Unavailable(reason="table commits not found in the main database")
    assert timeline_service.timeline(main_db=cached, query=query) == missing
    assert timeline_service.timeline(main_db=uncached, query=query) == missing

    run_admin(target, "CREATE TABLE commits (id INTEGER PRIMARY KEY, repo TEXT, hash TEXT)")

    assert timeline_service.timeline(main_db=cached, query=query) == missing  # still cached
    seen = timeline_service.timeline(main_db=uncached, query=query)
    assert not isinstance(seen, Unavailable) and seen.sources == {"commits": True}
    cached.invalidate_schema()
    assert not isinstance(timeline_service.timeline(main_db=cached, query=query), Unavailable)


def test_a_column_dropped_under_the_cache_degrades_once_then_hides_its_field(
    make_main: Callable[..., MainTarget], opened: Callable[..., MainDatabase]
) -> None:
    target = make_main()
    main_db = opened(target)
    first = fleet.reconcile(main_db=main_db, console=[])
    assert not isinstance(first, Unavailable) and first.has_location

    run_admin(target, "ALTER TABLE agents DROP COLUMN location")

    failed = fleet.reconcile(main_db=main_db, console=[])
    assert isinstance(failed, Unavailable)
    assert failed.reason.startswith("main database error: ")
    again = fleet.reconcile(main_db=main_db, console=[])
    assert not isinstance(again, Unavailable)
    assert not again.has_location
    assert {row.main_location for row in again.items} == {None}


def test_a_broken_sqlite_view_is_skipped_and_the_rest_still_reads(
    tmp_path: Path, opened: Callable[..., MainDatabase]
) -> None:
    path = tmp_path / "main.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE commits (id INTEGER PRIMARY KEY, repo TEXT)")
        conn.execute("CREATE TABLE gone (id INTEGER)")
        conn.execute("CREATE VIEW stale AS SELECT id FROM gone")
        conn.execute("DROP TABLE gone")
    conn.close()
    target = MainTarget("sqlite", f"sqlite:///{path}", f"sqlite:///{path}")
    check = opened(target).check()
    assert check.ok, check.error
    assert check.tables == {"commits": ["id", "repo"]}
