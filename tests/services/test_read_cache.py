"""app/core/read_cache.py: revisions counted after commit, answers dropped by writes and TTL."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.core import read_cache
from app.core.read_cache import ReadCache, TableRevisions
from tests.support.db import migrated_engine
from tests.support.factories import add_agent, add_events
from tests.support.waits import WAIT


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(f"sqlite:///{tmp_path / 'cache.db'}") as engine:
        yield engine


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


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def _get(cache: ReadCache, key: str, render: Callable[[], bytes]) -> bytes:
    """One request's lookup, on an event loop of its own (the route awaits it)."""
    return asyncio.run(cache.get(key, "agent", render))


def test_a_cached_answer_is_served_until_its_table_is_written(
    engine: Engine, revisions: TableRevisions
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    render = Renders()
    assert _get(cache, "k", render) == b"render 1"
    assert _get(cache, "k", render) == b"render 1"
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert _get(cache, "k", render) == b"render 2"
    assert render.calls == 2


def test_an_answer_is_rendered_again_once_its_ttl_passes(
    revisions: TableRevisions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache's own clock, moved by hand: however slow the machine, no TTL runs out unasked.
    now = [1000.0]
    monkeypatch.setattr(read_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    cache = ReadCache(revisions, ttl_seconds=5)

    async def scenario() -> list[bytes]:
        render = Renders()
        first = await cache.get("k", "agent", render)
        now[0] += 4.9
        fresh = await cache.get("k", "agent", render)
        now[0] += 0.2
        # Expired: this request still gets the previous answer while the next one renders.
        during = await cache.get("k", "agent", render)
        await asyncio.wait_for(_until(lambda: cache.cached("k") != first), WAIT)
        after = await cache.get("k", "agent", render)
        return [first, fresh, during, after]

    assert asyncio.run(scenario()) == [b"render 1", b"render 1", b"render 1", b"render 2"]


def test_a_ttl_of_zero_renders_every_time(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=0)
    render = Renders()
    assert [_get(cache, "k", render) for _ in range(3)] == [
        b"render 1",
        b"render 2",
        b"render 3",
    ]
    assert cache.cached("k") is None


def test_requests_missing_together_render_once(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    release = threading.Event()
    calls: list[int] = []

    started = threading.Event()

    def slow_render() -> bytes:
        calls.append(1)
        started.set()
        assert release.wait(WAIT)
        return b"body"

    async def scenario() -> list[bytes]:
        waiting = [asyncio.ensure_future(cache.get("k", "agent", slow_render)) for _ in range(8)]
        # The render's thread starts after all eight requests have looked the key up.
        assert await asyncio.to_thread(started.wait, WAIT)
        assert cache._rendering.in_flight() == 1
        release.set()
        return list(await asyncio.gather(*waiting))

    assert asyncio.run(scenario()) == [b"body"] * 8
    assert len(calls) == 1


def test_a_request_after_a_write_never_gets_a_render_started_before_it(
    engine: Engine, revisions: TableRevisions
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    started, release = threading.Event(), threading.Event()

    def render_before_the_write() -> bytes:
        started.set()
        assert release.wait(WAIT)
        return b"before"

    async def scenario() -> tuple[bytes, bytes]:
        early = asyncio.ensure_future(cache.get("k", "agent", render_before_the_write))
        assert await asyncio.to_thread(started.wait, WAIT)
        with Session(engine) as session:
            add_agent(session, "agent-1")
        late = asyncio.ensure_future(cache.get("k", "agent", lambda: b"after"))
        done, _ = await asyncio.wait({late}, timeout=WAIT)
        release.set()
        # Answered while the render that began before the write was still running.
        assert late in done
        return await early, await late

    assert asyncio.run(scenario()) == (b"before", b"after")


def test_an_expired_answer_is_never_handed_out_once_its_table_changed(
    engine: Engine, revisions: TableRevisions
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)
    _get(cache, "k", lambda: b"old")
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert _get(cache, "k", lambda: b"new") == b"new"


def test_a_failed_render_reaches_its_waiters_and_caches_nothing(
    revisions: TableRevisions,
) -> None:
    cache = ReadCache(revisions, ttl_seconds=60)

    def failing() -> bytes:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        _get(cache, "k", failing)
    assert cache.cached("k") is None
    assert cache._rendering.in_flight() == 0
    assert _get(cache, "k", lambda: b"body") == b"body"


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest(revisions: TableRevisions) -> None:
    cache = ReadCache(revisions, ttl_seconds=60, max_entries=3)
    for key in ("a", "b", "c", "d"):
        _get(cache, key, lambda key=key: key.encode())  # type: ignore[misc]
    assert cache.cached("a") is None
    assert [cache.cached(key) for key in ("b", "c", "d")] == [b"b", b"c", b"d"]


def test_writes_are_still_counted_after_the_engine_is_disposed(
    engine: Engine, revisions: TableRevisions
) -> None:
    # dispose() replaces the pool (as after a lost PostgreSQL connection): keep counting.
    engine.dispose()
    with Session(engine) as session:
        add_agent(session, "agent-1")
    assert revisions.current("agent") == 1
