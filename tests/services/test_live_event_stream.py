"""EventStreamResponse at the ASGI level: a client stuck on a send, or gone, ends the stream."""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.live.broadcaster import Broadcaster, Message
from app.live.sse import EventStreamResponse
from tests.support.waits import WAIT

SCOPE = {"type": "http", "asgi": {"spec_version": "2.3"}}


def heartbeat() -> Message:
    return {"type": "heartbeat"}


def run(scenario: Callable[[Broadcaster], Awaitable[None]], queue_size: int = 4) -> None:
    async def main() -> None:
        broadcaster = Broadcaster(queue_size)
        broadcaster.bind(asyncio.get_running_loop())
        await asyncio.wait_for(scenario(broadcaster), timeout=WAIT)

    asyncio.run(main())


async def never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def body_of(sent: list[MutableMapping[str, Any]]) -> str:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def test_the_stream_sends_a_heartbeat_first_then_each_message_as_data() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        response = EventStreamResponse(broadcaster, heartbeat=heartbeat, heartbeat_seconds=3600)
        task = asyncio.ensure_future(response(SCOPE, never_disconnects, send))
        await until(lambda: len(sent) >= 2)
        broadcaster.publish({"type": "metric_update", "data": {"metricId": "uptime"}})
        await until(lambda: len(sent) >= 3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert broadcaster.subscriber_count == 0

        assert sent[0]["type"] == "http.response.start"
        headers = dict(sent[0]["headers"])
        assert headers[b"content-type"].startswith(b"text/event-stream")
        assert headers[b"cache-control"] == b"no-cache"
        assert headers[b"x-accel-buffering"] == b"no"
        assert body_of(sent) == (
            'retry: 3000\ndata: {"type":"heartbeat"}\n\n'
            'data: {"type":"metric_update","data":{"metricId":"uptime"}}\n\n'
        )

    run(scenario)


def test_overflow_ends_a_stream_stuck_on_a_send() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        sent: list[MutableMapping[str, Any]] = []
        window_open = asyncio.Event()  # never set: the client's TCP window stays shut

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if len(sent) > 2:
                await window_open.wait()

        response = EventStreamResponse(
            broadcaster, heartbeat=heartbeat, heartbeat_seconds=3600, stall_seconds=600
        )
        task = asyncio.ensure_future(response(SCOPE, never_disconnects, send))
        await until(lambda: len(sent) == 2)
        for number in range(10):
            broadcaster.publish({"type": "tick", "n": number})
        await asyncio.wait_for(task, WAIT)  # returned: the stuck send was abandoned
        assert broadcaster.subscriber_count == 0

    run(scenario)


def test_a_send_blocked_past_the_stall_limit_ends_the_stream() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if len(sent) > 2:
                await asyncio.Event().wait()

        response = EventStreamResponse(
            broadcaster, heartbeat=heartbeat, heartbeat_seconds=3600, stall_seconds=0.05
        )
        task = asyncio.ensure_future(response(SCOPE, never_disconnects, send))
        await until(lambda: len(sent) == 2)
        broadcaster.publish({"type": "tick"})  # one message: far from overflowing
        await asyncio.wait_for(task, WAIT)
        assert broadcaster.subscriber_count == 0

    run(scenario)


def test_a_client_disconnect_ends_the_stream_at_once() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        sent: list[MutableMapping[str, Any]] = []
        gone = asyncio.Event()

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        response = EventStreamResponse(broadcaster, heartbeat=heartbeat, heartbeat_seconds=3600)
        task = asyncio.ensure_future(response(SCOPE, receive, send))
        await until(lambda: broadcaster.subscriber_count == 1 and len(sent) == 2)
        gone.set()
        await asyncio.wait_for(task, WAIT)
        assert broadcaster.subscriber_count == 0
        # Nothing is sent after the client left.
        assert len(sent) == 2

    run(scenario)


def test_a_client_that_falls_behind_gets_a_clean_end_when_the_connection_allows() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        sent: list[MutableMapping[str, Any]] = []
        release = asyncio.Event()

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if len(sent) == 3:
                await release.wait()  # busy with one message while the others pile up

        response = EventStreamResponse(
            broadcaster, heartbeat=heartbeat, heartbeat_seconds=3600, stall_seconds=600
        )
        task = asyncio.ensure_future(response(SCOPE, never_disconnects, send))
        await until(lambda: len(sent) == 2)
        for number in range(10):
            broadcaster.publish({"type": "tick", "n": number})
        await asyncio.wait_for(task, WAIT)
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        delivered = [
            json.loads(line.removeprefix("data: "))
            for line in body_of(sent).splitlines()
            if line.startswith("data: ")
        ]
        assert {"type": "tick", "n": 9} not in delivered

    run(scenario)
