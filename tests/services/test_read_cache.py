"""app/read_cache.py: revisions counted after commit, answers dropped by writes and TTL."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app import migrations
from app.db import create_db_engine, parse_database_url
from app.read_cache import ReadCache, TableRevisions
from tests.support.agent_rows import add_agent, add_events


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(parse_database_url(f"sqlite:///{tmp_path / 'cache.db'}"))
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def revisions(engine: Engine) -> TableRevisions:
    return TableRevisions(engine, ["agent"])


class Renders:
    """A render function that counts its calls and answers a new body each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return f"render {self.calls}".encode()


def test_an_orm_write_text_sql_and_a_delete_each_move_the_revision(
    engine: Engine, revisions: TableRevisions
) -> None:
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert revisions.current("agent") == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE agent SET status = 'degraded'"))
    assert revisions.current("agent") == 2
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM agent"))
    assert revisions.current("agent") == 3


def test_reads_and_writes_of_other_tables_leave_the_revision_alone(
    engine: Engine, revisions: TableRevisions
) -> None:
    with Session(engine) as session:
        add_agent(session, "agent-1")
        before = revisions.current("agent")
        # agentevent rows carry an agent_id column: a mention of agent_id is not the table.
        add_events(session, "agent-1", 3)
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM agent")).scalar_one()
    assert revisions.current("agent") == before


def test_the_revision_moves_only_once_the_transaction_is_over(
    engine: Engine, revisions: TableRevisions
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agent (id, name, domain, status, memory_used_mb, version) "
                "VALUES ('a', 'A', 'ops', 'online', 0, '')"
            )
        )
        # Not yet committed: a reader counting now must not be told the data changed yet.
        assert revisions.current("agent") == 0
    assert revisions.current("agent") == 1


def test_a_cached_answer_is_served_until_its_table_is_written(
    engine: Engine, revisions: TableRevisions
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    render = Renders()
    assert cache.get("k", "agent", render) == b"render 1"
    assert cache.fresh("k", "agent") == b"render 1"
    assert cache.get("k", "agent", render) == b"render 1"
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert cache.fresh("k", "agent") is None
    assert cache.get("k", "agent", render) == b"render 2"


def test_an_answer_is_rendered_again_once_its_ttl_passes(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=0.05)
    render = Renders()
    cache.get("k", "agent", render)
    threading.Event().wait(0.1)
    assert cache.fresh("k", "agent") is None
    assert cache.get("k", "agent", render) == b"render 2"


def test_a_ttl_of_zero_renders_every_time(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=0)
    render = Renders()
    assert [cache.get("k", "agent", render) for _ in range(3)] == [
        b"render 1",
        b"render 2",
        b"render 3",
    ]
    assert cache.fresh("k", "agent") is None


def test_requests_missing_together_render_once(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    release = threading.Event()
    calls: list[int] = []

    def slow_render() -> bytes:
        calls.append(1)
        release.wait(10)
        return b"body"

    answers: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("k", "agent", slow_render)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert answers == [b"body"] * 8
    assert len(calls) == 1


def test_an_expired_answer_is_handed_out_while_its_successor_renders(
    revisions: TableRevisions,
) -> None:
    cache = ReadCache(revisions, ttl_seconds=0.05)
    cache.get("k", "agent", lambda: b"old")
    threading.Event().wait(0.1)
    rendering, release = threading.Event(), threading.Event()

    def slow_render() -> bytes:
        rendering.set()
        release.wait(10)
        return b"new"

    renderer = threading.Thread(target=cache.get, args=("k", "agent", slow_render))
    renderer.start()
    assert rendering.wait(10)
    assert cache.fresh("k", "agent") == b"old"
    release.set()
    renderer.join(10)
    assert cache.fresh("k", "agent") == b"new"


def test_an_expired_answer_is_never_handed_out_once_its_table_changed(
    engine: Engine, revisions: TableRevisions
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    cache.get("k", "agent", lambda: b"old")
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert cache.fresh("k", "agent") is None


def test_a_failed_render_caches_nothing_and_keeps_no_lock(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)

    def failing() -> bytes:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        cache.get("k", "agent", failing)
    assert cache.fresh("k", "agent") is None
    assert cache._building == {}
    assert cache.get("k", "agent", lambda: b"body") == b"body"


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=60, max_entries=3)
    for key in ("a", "b", "c", "d"):
        cache.get(key, "agent", lambda key=key: key.encode())  # type: ignore[misc]
    assert cache.fresh("a", "agent") is None
    assert [cache.fresh(key, "agent") for key in ("b", "c", "d")] == [b"b", b"c", b"d"]


def test_writes_are_still_counted_after_the_engine_is_disposed(
    engine: Engine, revisions: TableRevisions
) -> None:
    # dispose() replaces the pool (as after a lost PostgreSQL connection): keep counting.
    engine.dispose()
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert revisions.current("agent") == 1
