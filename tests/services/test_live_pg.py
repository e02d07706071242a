"""PostgreSQL fan-out: messages cross processes once, large ones in pieces, outages heal."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import psycopg
import pytest
from pydantic import TypeAdapter

from app.agents.events import event_public
from app.core.db import parse_database_url
from app.core.timeutil import utcnow
from app.live import pg_fanout as live_pg
from app.live.broadcaster import Broadcaster, Message, Subscription
from app.live.pg_fanout import (
    MAX_MESSAGE_BYTES,
    PAYLOAD_LIMIT,
    Assembler,
    PgFanout,
    encode,
    start_fanout,
)
from app.models import AgentEvent
from app.models.agent import MAX_EVENT_MESSAGE, AgentId, EventIn
from tests.support.db import temporary_pg_database
from tests.support.waits import WAIT, wait_until

needs_postgres = pytest.mark.postgres


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO and up from the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    prism.setLevel(logging.INFO)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database of this module's own: NOTIFY channels are per database."""
    with temporary_pg_database("prism_live") as url:
        yield url


@pytest.fixture
def conninfo(pg_url: str) -> str:
    return live_pg.libpq_url(parse_database_url(pg_url))


Replica = tuple[Broadcaster, PgFanout]


@asynccontextmanager
async def replica(conninfo: str, **options: object) -> AsyncIterator[Replica]:
    broadcaster = Broadcaster(100)
    broadcaster.bind(asyncio.get_running_loop())
    fanout = PgFanout(broadcaster, conninfo, **options)  # type: ignore[arg-type]
    await fanout.start(wait_seconds=WAIT)  # the first LISTEN, however busy the machine
    assert fanout.listening.is_set()
    try:
        yield broadcaster, fanout
    finally:
        await fanout.stop()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=WAIT))


async def until_type(subscription: Subscription, wanted: str) -> list[Message]:
    """Every message received up to and including the first of type `wanted`."""
    received = []
    while True:
        message = await subscription.next(WAIT)
        assert message is not None, f"no {wanted!r} message came"
        received.append(message)
        if message["type"] == wanted:
            return received


def admin_execute(conninfo: str, statement: str, *params: object) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement, params)


def largest_agent_event() -> Message:
    """The ops-stream message of the largest event ingest accepts, as ingest publishes it.

    Astral characters are the worst case of ASCII JSON: 12 bytes each (a surrogate pair).
    """
    agent_id = TypeAdapter(AgentId).validate_python("a" * 128)
    event = EventIn.model_validate({"kind": "completed", "message": "😀" * MAX_EVENT_MESSAGE})
    row = AgentEvent(
        id="e" * 128, agent_id=agent_id, kind=event.kind, at=utcnow(), message=event.message
    )
    return {"type": "agent_event", "data": event_public(row).model_dump(mode="json", by_alias=True)}


def test_the_largest_legal_event_fits_the_fan_out_limit() -> None:
    message = largest_agent_event()
    assert len(json.dumps(message, separators=(",", ":"))) > 12 * MAX_EVENT_MESSAGE
    assert encode("f" * 32, 10**12, message) is not None


@needs_postgres
def test_the_largest_legal_event_reaches_the_other_replica_whole(conninfo: str) -> None:
    message = largest_agent_event()

    async def scenario() -> None:
        async with replica(conninfo) as (a, _), replica(conninfo) as (b, _):
            with b.subscribe() as on_b:
                a.publish(message)
                a.publish({"type": "after"})
                assert await until_type(on_b, "after") == [message, {"type": "after"}]

    run(scenario)


@needs_postgres
def test_a_message_reaches_every_replica_exactly_once(conninfo: str) -> None:
    async def scenario() -> None:
        async with replica(conninfo) as (a, _), replica(conninfo) as (b, _):
            with a.subscribe() as on_a, b.subscribe() as on_b:
                a.publish({"type": "sample", "n": 1})
                assert await until_type(on_b, "sample") == [{"type": "sample", "n": 1}]
                # B saw it, so A's notification was committed before B's marker: a copy
                # coming back to A through PostgreSQL would arrive before the marker.
                b.publish({"type": "marker"})
                assert await until_type(on_a, "marker") == [
                    {"type": "sample", "n": 1},
                    {"type": "marker"},
                ]
                a.publish({"type": "marker-2"})
                assert await until_type(on_b, "marker") == [{"type": "marker"}]
                assert await until_type(on_b, "marker-2") == [{"type": "marker-2"}]

    run(scenario)


@needs_postgres
def test_a_message_longer_than_one_notification_arrives_whole(conninfo: str) -> None:
    long_text = "é€ü😀 " * 5_000  # non-ASCII: escaped JSON is several NOTIFY payloads long
    message = {"type": "agent_event", "data": {"message": long_text}}
    assert len(encode("origin", 1, message) or []) > 2

    async def scenario() -> None:
        async with replica(conninfo) as (a, _), replica(conninfo) as (b, _):
            with b.subscribe() as on_b:
                a.publish(message)
                a.publish({"type": "after"})
                assert await until_type(on_b, "after") == [message, {"type": "after"}]

    run(scenario)


def test_a_failing_relay_neither_raises_nor_stops_local_delivery(
    logs: pytest.LogCaptureFixture,
) -> None:
    class BrokenRelay:
        def send(self, message: Message) -> None:
            raise RuntimeError("relay down")

    async def scenario() -> None:
        broadcaster = Broadcaster()
        broadcaster.bind(asyncio.get_running_loop())
        broadcaster.attach(BrokenRelay())
        with broadcaster.subscribe() as subscription:
            broadcaster.publish({"type": "tick"})
            assert await subscription.next(WAIT) == {"type": "tick"}

    run(scenario)
    assert "live message of type 'tick' not relayed" in logs.text


def test_every_payload_fits_in_one_notify() -> None:
    message = {"type": "x", "text": "ü" * 40_000}
    payloads = encode("f" * 32, 10**12, message)
    assert payloads is not None
    assert all(len(payload.encode()) <= PAYLOAD_LIMIT for payload in payloads)
    assembler = Assembler()
    results = [assembler.add(payload) for payload in payloads]
    assert results[:-1] == [None] * (len(payloads) - 1)
    assert results[-1] is not None
    assert json.loads(results[-1][1]) == message


def test_a_message_missing_a_piece_is_dropped_and_the_next_one_still_arrives() -> None:
    first = encode("origin", 1, {"type": "x", "text": "a" * 20_000})
    second = encode("origin", 2, {"type": "y"})
    assert first is not None and second is not None
    assembler = Assembler()
    assert [assembler.add(payload) for payload in [first[0], *first[2:]]] == [None] * (
        len(first) - 1
    )
    complete = assembler.add(second[0])
    assert complete is not None and json.loads(complete[1]) == {"type": "y"}


def test_a_notification_not_sent_by_prism_is_ignored(logs: pytest.LogCaptureFixture) -> None:
    assert Assembler().add("hello") is None
    assert "not sent by Prism" in logs.text


@needs_postgres
def test_a_message_over_the_limit_stays_on_its_replica(
    conninfo: str, logs: pytest.LogCaptureFixture
) -> None:
    huge = {"type": "huge", "padding": "x" * (MAX_MESSAGE_BYTES + 1)}

    async def scenario() -> None:
        async with replica(conninfo) as (a, _), replica(conninfo) as (b, _):
            with a.subscribe() as on_a, b.subscribe() as on_b:
                a.publish(huge)
                a.publish({"type": "after"})
                assert await until_type(on_a, "after") == [huge, {"type": "after"}]
                assert await until_type(on_b, "after") == [{"type": "after"}]

    run(scenario)
    assert "reached this replica's subscribers only" in logs.text


@needs_postgres
def test_a_full_outbox_drops_messages_without_blocking_the_publisher(
    conninfo: str, logs: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with replica(conninfo, outbox_size=2) as (a, _), replica(conninfo) as (b, _):
            with a.subscribe() as on_a, b.subscribe() as on_b:
                # Published in one go on the loop: the sender gets no turn in between.
                for number in range(5):
                    a.publish({"type": "tick", "n": number})
                a_got = [await on_a.next(WAIT) for _ in range(5)]
                assert [message and message["n"] for message in a_got] == [0, 1, 2, 3, 4]
                b_got = [await on_b.next(WAIT) for _ in range(2)]
                assert [message and message["n"] for message in b_got] == [0, 1]
                # Once the queue has room again, messages flow; the dropped ones never come.
                a.publish({"type": "after"})
                assert await until_type(on_b, "after") == [{"type": "after"}]

    run(scenario)
    assert "not sent to other replicas: 2 messages or" in logs.text


@needs_postgres
def test_the_outbox_also_bounds_the_bytes_it_holds(
    conninfo: str, logs: pytest.LogCaptureFixture
) -> None:
    big = {"type": "big", "padding": "x" * 40_000}
    budget = sum(len(payload) for payload in encode("f" * 32, 0, big) or []) + 10

    async def scenario() -> None:
        options = {"outbox_bytes": budget}
        async with replica(conninfo, **options) as (a, _), replica(conninfo) as (b, _):
            with b.subscribe() as on_b:
                # In one go on the loop: the second big message finds the first still queued.
                a.publish(big)
                a.publish(big | {"n": 2})
                assert await until_type(on_b, "big") == [big]
                a.publish({"type": "after"})
                assert await until_type(on_b, "after") == [{"type": "after"}]

    run(scenario)
    assert f"or {budget} bytes already queued" in logs.text


@needs_postgres
def test_the_listener_reconnects_after_its_connection_dies(
    conninfo: str, logs: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        options = {"retry_delays": (0.05,)}
        async with replica(conninfo) as (a, _), replica(conninfo, **options) as (b, fan_b):
            killed = fan_b.listener_pid
            await asyncio.to_thread(
                admin_execute, conninfo, "SELECT pg_terminate_backend(%s)", killed
            )
            await asyncio.to_thread(
                wait_until,
                lambda: fan_b.listener_pid != killed and fan_b.listening.is_set(),
                "the listener is back on a new connection",
            )
            with b.subscribe() as on_b:
                a.publish({"type": "after-reconnect"})
                assert await until_type(on_b, "after-reconnect") == [{"type": "after-reconnect"}]

    run(scenario)
    assert "not listening on PostgreSQL" in logs.text
    assert "listening again; live updates resume" in logs.text


@needs_postgres
def test_the_sender_reconnects_after_its_connection_dies(conninfo: str) -> None:
    async def scenario() -> None:
        async with replica(conninfo) as (a, fan_a), replica(conninfo) as (b, _):
            with b.subscribe() as on_b:
                a.publish({"type": "first"})
                await until_type(on_b, "first")
                killed = fan_a.sender_pid
                await asyncio.to_thread(
                    admin_execute, conninfo, "SELECT pg_terminate_backend(%s)", killed
                )
                a.publish({"type": "second"})
                assert await until_type(on_b, "second") == [{"type": "second"}]
                assert fan_a.sender_pid != killed

    run(scenario)


@needs_postgres
def test_stopping_closes_both_connections(conninfo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[PgFanout, psycopg.AsyncConnection[tuple[object, ...]]]] = []
    connect = PgFanout._connect

    async def recording(self: PgFanout) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await connect(self)
        opened.append((self, conn))
        return conn

    monkeypatch.setattr(PgFanout, "_connect", recording)

    async def scenario() -> None:
        async with replica(conninfo) as (b, _):
            with b.subscribe() as on_b:
                async with replica(conninfo) as (a, fan_a):
                    a.publish({"type": "opens-the-sender"})
                    await until_type(on_b, "opens-the-sender")  # A's sender is connected
                    mine = [conn for owner, conn in opened if owner is fan_a]
                    assert len(mine) == 2 and not any(conn.closed for conn in mine)
                assert all(conn.closed for conn in mine)
                assert not fan_a.listening.is_set()

    run(scenario)


def test_an_unreachable_database_does_not_hold_up_start_or_stop(
    logs: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        broadcaster = Broadcaster()
        broadcaster.bind(asyncio.get_running_loop())
        fanout = PgFanout(broadcaster, "postgresql://nobody@127.0.0.1:1/prism", retry_delays=(60,))
        await fanout.start()
        assert not fanout.listening.is_set()
        broadcaster.publish({"type": "lost"})  # queued, never sent; no error for the caller
        await fanout.stop()

    run(scenario)
    assert "not listening on PostgreSQL" in logs.text


def test_a_connection_that_never_closes_does_not_hold_up_stop(
    monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    """A close that hangs (the driver waiting on a connection nobody answers) is left behind."""
    never = asyncio.Event()

    async def hangs_on_cancel(self: PgFanout) -> None:
        self._first_attempt.set()
        try:
            await never.wait()
        finally:
            await asyncio.shield(never.wait())  # the close that never ends

    async def scenario() -> None:
        broadcaster = Broadcaster()
        broadcaster.bind(asyncio.get_running_loop())
        monkeypatch.setattr(PgFanout, "_listen_forever", hangs_on_cancel)
        fanout = PgFanout(broadcaster, "postgresql://nobody@127.0.0.1:1/prism", retry_delays=(60,))
        await fanout.start()
        await fanout.stop(grace_seconds=0.01)
        assert fanout._tasks == []
        never.set()  # let the abandoned task end before the loop closes

    run(scenario)
    assert "did not close within 0.01s at shutdown" in logs.text


def test_sqlite_keeps_delivery_in_process(logs: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        target = parse_database_url("sqlite:///unused.db")
        assert await start_fanout(Broadcaster(), target) is None

    run(scenario)
    assert "several worker processes" not in logs.text


def test_a_worker_process_on_sqlite_warns_that_updates_stay_in_the_worker(
    monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(live_pg.multiprocessing, "parent_process", lambda: object())

    async def scenario() -> None:
        target = parse_database_url("sqlite:///unused.db")
        assert await start_fanout(Broadcaster(), target) is None

    run(scenario)
    assert "several worker processes on SQLite" in logs.text
