"""Group commit: concurrent single samples, heartbeats and events share transactions.

Each test forces the overlap instead of hoping for it: a first request's group waits in the
writer's `before_group` hook until the other requests are queued (the writer's queue
length), so those form the next group together, whatever the machine's speed.
"""

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app.core.errors import UnavailableError
from app.core.group_commit import GroupCommitter, GroupKind, GroupWrite
from app.models import Agent, AgentMemorySample, AgentStatusChange, Setting
from tests.hardening.ingest_support import row_counts
from tests.support.waits import WAIT

Request = tuple[str, dict[str, Any]]
# TestClient's response (httpx2's, which the type checker tells apart from httpx's).
Answer = Any


@dataclass
class Held:
    """The writer's first group, held until `behind` more items were queued."""

    entered: threading.Event = field(default_factory=threading.Event)
    sizes: list[int] = field(default_factory=list)


@contextmanager
def first_group_waits(committer: GroupCommitter, behind: int) -> Iterator[Held]:
    held = Held()

    def hold(size: int) -> None:
        if not held.sizes:
            held.entered.set()
            if not committer.wait_for_pending(behind, WAIT):
                raise AssertionError(f"{behind} requests were not queued within {WAIT} s")
        held.sizes.append(size)

    committer.before_group = hold
    try:
        yield held
    finally:
        committer.before_group = None


@contextmanager
def writer_commits(engine: Engine) -> Iterator[list[int]]:
    """One entry per transaction the group writer commits."""
    commits: list[int] = []

    def on_commit(_connection: Any) -> None:
        if threading.current_thread().name == "prism-group-commit":
            commits.append(1)

    event.listen(engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", on_commit)


def concurrently(call: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
    """call(arg) for every arg, each in its own thread, all released together."""
    results: dict[int, Any] = {}
    barrier = threading.Barrier(len(args))

    def run(index: int, arg: Any) -> None:
        barrier.wait(timeout=WAIT)
        results[index] = call(arg)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(args)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert len(results) == len(args), "a request did not finish"
    return [results[index] for index in range(len(args))]


def grouped(
    client: TestClient, blocker: Request, requests: Sequence[Request]
) -> tuple[Answer, list[Answer]]:
    """Post `blocker`, then `requests` while the writer holds it: they form one group."""
    committer: GroupCommitter = client.app.state.group_commit  # type: ignore[attr-defined]
    first: list[Answer] = []
    with first_group_waits(committer, len(requests)) as held:
        thread = threading.Thread(target=lambda: first.append(post(client, blocker)))
        thread.start()
        assert held.entered.wait(WAIT), "the first request never reached the writer"
        rest = concurrently(lambda request: post(client, request), requests)
        thread.join(timeout=WAIT)
    assert held.sizes[:2] == [1, len(requests)], held.sizes
    return first[0], rest


def post(client: TestClient, request: Request) -> Answer:
    return client.post(request[0], json=request[1])


def stored_pools(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT pool FROM minersample")).scalars())


def test_concurrent_single_samples_share_one_transaction_and_are_stored_when_answered(
    client: TestClient, engine: Engine
) -> None:
    def sample(index: int) -> tuple[int, list[str]]:
        response = post(client, ("/api/miners/sample", {"miner_id": "rig-1", "pool": f"p{index}"}))
        # Read by another connection once answered: an acknowledged sample is committed.
        return response.status_code, [pool for pool in stored_pools(engine) if pool == f"p{index}"]

    committer: GroupCommitter = client.app.state.group_commit  # type: ignore[attr-defined]
    count = 8
    with writer_commits(engine) as commits, first_group_waits(committer, count - 1) as held:
        first = threading.Thread(target=sample, args=(0,))
        first.start()
        assert held.entered.wait(WAIT)
        answers = concurrently(sample, range(1, count))
        first.join(timeout=WAIT)
    assert answers == [(202, [f"p{index}"]) for index in range(1, count)]
    assert held.sizes == [1, count - 1]
    assert len(commits) == 2  # not one per request
    assert stored_pools(engine) == sorted(f"p{index}" for index in range(count))
    latest = client.get("/api/miners/latest").json()["samples"]
    assert [(item["miner_id"], item["pool"]) for item in latest] == [("rig-1", latest[0]["pool"])]


def test_every_kind_of_single_write_shares_one_transaction(
    client: TestClient, engine: Engine
) -> None:
    assert (
        post(client, ("/api/agents/a-1/heartbeat", {"name": "A", "domain": "ops"})).status_code
        == 201
    )
    bridge = {"topic": "miner.sample", "payload": {"sample": {"miner": "rig-2", "hashrate_1m": 5}}}
    requests: list[Request] = [
        ("/api/miners/sample", {"miner_id": "rig-1"}),
        ("/events", bridge),
        ("/api/agents/a-1/heartbeat", {"status": "degraded", "memoryUsedMB": 5}),
        ("/api/agents/a-2/heartbeat", {"name": "B", "domain": "ops"}),
        ("/api/agents/a-1/events", {"kind": "warn", "message": "disk"}),
        ("/api/agents/a-1/events", {"events": [{"kind": "started", "message": "m"}] * 3}),
    ]
    with writer_commits(engine) as commits:
        _, answers = grouped(client, ("/api/miners/sample", {"miner_id": "rig-0"}), requests)
    assert [answer.status_code for answer in answers] == [202, 202, 200, 201, 202, 202]
    assert answers[2].json()["status"] == "degraded"
    assert answers[3].json()["id"] == "a-2"
    assert answers[4].json()["count"] == 1
    assert answers[5].json()["count"] == 3
    assert len(commits) == 2
    counts = row_counts(engine)
    assert (counts["minersample"], counts["agent"], counts["agentevent"]) == (3, 2, 4)
    assert counts["agentmemorysample"] == 1


def test_an_unknown_agent_in_a_group_is_404_for_its_request_only(
    client: TestClient, engine: Engine
) -> None:
    for index in range(3):
        body = {"name": f"Agent {index}", "domain": "ops"}
        assert post(client, (f"/api/agents/a-{index}/heartbeat", body)).status_code == 201
    requests: list[Request] = [
        ("/api/agents/a-0/heartbeat", {"version": "2"}),
        ("/api/agents/ghost/heartbeat", {"version": "2"}),
        ("/api/agents/a-1/heartbeat", {"version": "2"}),
        ("/api/agents/ghost/events", {"kind": "warn", "message": "m"}),
        ("/api/agents/a-2/heartbeat", {"version": "2"}),
    ]
    _, answers = grouped(client, ("/api/miners/sample", {"miner_id": "rig-0"}), requests)
    assert [answer.status_code for answer in answers] == [200, 404, 200, 404, 200]
    assert answers[1].json() == answers[3].json() == {"detail": "Agent not found"}
    with Session(engine) as session:
        versions = {agent.id: agent.version for agent in session.exec(select(Agent))}
    assert versions == {"a-0": "2", "a-1": "2", "a-2": "2"}
    assert row_counts(engine)["agentevent"] == 0


def test_heartbeats_of_one_agent_and_a_registration_in_one_group_all_land(
    client: TestClient, engine: Engine
) -> None:
    # A group's heartbeats of known agents are flushed together at its end; the same agent
    # twice, a status change and a registration in the same group still come out as alone.
    body = {"name": "Agent 0", "domain": "ops", "status": "online"}
    assert post(client, ("/api/agents/a-0/heartbeat", body)).status_code == 201
    requests: list[Request] = [
        ("/api/agents/a-0/heartbeat", {"memoryUsedMB": 100}),
        ("/api/agents/new-1/heartbeat", {"name": "New", "domain": "ops", "memoryUsedMB": 7}),
        ("/api/agents/a-0/heartbeat", {"memoryUsedMB": 300, "status": "degraded"}),
    ]
    _, answers = grouped(client, ("/api/miners/sample", {"miner_id": "rig-0"}), requests)
    assert [answer.status_code for answer in answers] == [200, 201, 200]
    assert answers[0].json()["memoryUsedMB"] == 100
    assert answers[2].json()["memoryUsedMB"] == 300
    with Session(engine) as session:
        agents = {agent.id: agent for agent in session.exec(select(Agent))}
        memory = sorted(
            (sample.agent_id, sample.memory_used_mb)
            for sample in session.exec(select(AgentMemorySample))
        )
        changes = [
            (change.agent_id, change.to_status)
            for change in session.exec(select(AgentStatusChange))
        ]
    # The two heartbeats of a-0 queued in either order: the later one's figure stays.
    assert agents["a-0"].status == "degraded"
    assert agents["a-0"].memory_used_mb in (100, 300)
    assert agents["new-1"].name == "New"
    assert memory == [("a-0", 100), ("a-0", 300), ("new-1", 7)]
    assert ("a-0", "degraded") in changes


@contextmanager
def database_locked(db_url: str) -> Iterator[None]:
    """Another connection holds what a write needs: SQLite's write lock, PostgreSQL's agent
    table (a sample written first in the group is then rolled back with the rest)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        writer = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            yield
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        return
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as holder:
        holder.execute("LOCK TABLE agent IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.rollback()


def impatient_settings(db_url: str) -> dict[str, Any]:
    """Settings of an app that gives up on a lock after half a second."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return {"db_timeout": 0.5}
    waiting = url.update_query_dict({"options": "-c lock_timeout=500"})
    return {"api_db_url": waiting.render_as_string(hide_password=False)}


def test_a_locked_database_is_503_for_each_request_of_the_group_and_nothing_is_written(
    make_client: Callable[..., TestClient], db_url: str, engine: Engine
) -> None:
    client = make_client(**impatient_settings(db_url))
    assert (
        post(client, ("/api/agents/a-1/heartbeat", {"name": "A", "domain": "ops"})).status_code
        == 201
    )
    before = row_counts(engine)
    requests: list[Request] = [
        ("/api/miners/sample", {"miner_id": "rig-1"}),
        ("/api/agents/a-1/heartbeat", {"version": "2"}),
        ("/api/agents/a-1/events", {"kind": "warn", "message": "m"}),
    ]
    with database_locked(db_url):
        first, answers = grouped(client, ("/api/agents/a-1/heartbeat", {}), requests)
    for answer in [first, *answers]:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert answer.json() == {"detail": "Console database unavailable; retry shortly"}
    assert row_counts(engine) == before
    assert post(client, requests[0]).status_code == 202


def _insert_settings(session: Session, keys: Sequence[str]) -> list[None]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    session.add_all([Setting(key=key, value="v", updated_at=at) for key in keys])
    session.commit()
    return [None] * len(keys)


SETTINGS = GroupKind("setting", 0, _insert_settings, lambda s, key: _insert_settings(s, [key])[0])


def test_stopping_writes_what_is_queued_and_then_refuses_with_503(
    client: TestClient, engine: Engine
) -> None:
    committer = GroupCommitter(engine)
    release = threading.Event()
    entered = threading.Event()

    def hold(_size: int) -> None:
        entered.set()
        assert release.wait(WAIT)

    async def write(key: str) -> None:
        writes = GroupWrite(committer)
        await writes.write(SETTINGS, key)
        await writes.commit()

    async def scenario() -> None:
        committer.start()
        committer.before_group = hold
        writing = [asyncio.create_task(write("k0"))]
        assert await asyncio.to_thread(entered.wait, WAIT)
        committer.before_group = None
        writing += [asyncio.create_task(write(f"k{index}")) for index in range(1, 4)]
        await asyncio.sleep(0)  # each task runs up to its hand-off: three more queued
        assert committer.pending == 3
        stopping = asyncio.create_task(committer.stop())
        await asyncio.sleep(0)  # stop() refuses new items before it waits for the writer
        with pytest.raises(UnavailableError):
            await write("late")
        release.set()
        await stopping
        await asyncio.gather(*writing)

    asyncio.run(scenario())
    with Session(engine) as session:
        keys = sorted(session.exec(select(Setting.key)))
    assert keys == ["k0", "k1", "k2", "k3"]


def test_the_app_answers_503_once_its_writer_stopped(app: FastAPI, client: TestClient) -> None:
    committer: GroupCommitter = app.state.group_commit
    app.state.group_commit = GroupCommitter(app.state.engine)  # never started: refuses
    try:
        response = post(client, ("/api/miners/sample", {"miner_id": "rig-1"}))
    finally:
        app.state.group_commit = committer
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert row_counts(app.state.engine)["minersample"] == 0
