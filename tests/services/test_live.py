"""Broadcaster: fan-out, bounded queues, overflow disconnects, thread-safe publishing."""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.live.broadcaster import Broadcaster
from tests.support.waits import WAIT


def run(scenario: Callable[[Broadcaster], Awaitable[None]], queue_size: int = 10) -> None:
    async def main() -> None:
        broadcaster = Broadcaster(queue_size)
        broadcaster.bind(asyncio.get_running_loop())
        await asyncio.wait_for(scenario(broadcaster), timeout=WAIT)

    asyncio.run(main())


def test_every_subscriber_receives_every_message_in_order() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as first, broadcaster.subscribe() as second:
            for number in range(3):
                broadcaster.publish({"type": "tick", "n": number})
            for subscription in (first, second):
                got = [await subscription.next(WAIT) for _ in range(3)]
                assert got == [{"type": "tick", "n": n} for n in range(3)]

    run(scenario)


def test_next_returns_none_after_the_timeout_when_nothing_is_published() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            assert await subscription.next(0.01) is None
            assert not subscription.closed.is_set()

    run(scenario)


def test_a_subscriber_that_falls_behind_is_closed_and_dropped() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as slow, broadcaster.subscribe() as fast:
            for number in range(5):
                broadcaster.publish({"type": "tick", "n": number})
                assert await fast.next(WAIT) == {"type": "tick", "n": number}
            assert slow.overflowed
            assert slow.closed.is_set()
            assert await slow.next(1) is None
            assert broadcaster.subscriber_count == 1
            # The subscriber that kept up is untouched.
            broadcaster.publish({"type": "tick", "n": 5})
            assert await fast.next(WAIT) == {"type": "tick", "n": 5}
            assert not fast.overflowed

    run(scenario, queue_size=2)


def test_a_waiting_subscriber_wakes_up_when_closed() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            waiter = asyncio.ensure_future(subscription.next(60))
            await asyncio.sleep(0)
            subscription.closed.set()
            assert await asyncio.wait_for(waiter, WAIT) is None

    run(scenario)


def test_leaving_the_block_unsubscribes() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            assert broadcaster.subscriber_count == 1
        assert broadcaster.subscriber_count == 0
        assert subscription.closed.is_set()
        broadcaster.publish({"type": "tick"})
        assert subscription.queue.empty()

    run(scenario)


def test_messages_published_from_another_thread_are_delivered() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            thread = threading.Thread(target=broadcaster.publish, args=({"type": "x"},))
            thread.start()
            thread.join()
            assert await subscription.next(WAIT) == {"type": "x"}

    run(scenario)


def test_messages_are_copied_as_json_when_published() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
            data: dict[str, object] = {"at": at, "tags": ("a", "b")}
            broadcaster.publish({"type": "agent_event", "data": data})
            data["at"] = "changed by the publisher afterwards"
            assert await subscription.next(WAIT) == {
                "type": "agent_event",
                "data": {"at": "2026-01-05T10:00:00Z", "tags": ["a", "b"]},
            }

    run(scenario)


def test_a_message_that_is_not_json_is_dropped_without_raising() -> None:
    async def scenario(broadcaster: Broadcaster) -> None:
        with broadcaster.subscribe() as subscription:
            broadcaster.publish({"type": "bad", "value": object()})
            broadcaster.publish({"type": "nan", "value": float("nan")})
            broadcaster.publish({"type": "good"})
            assert await subscription.next(WAIT) == {"type": "good"}
            assert subscription.queue.empty()

    run(scenario)


def test_publishing_before_the_loop_is_bound_or_after_it_closed_is_a_no_op() -> None:
    broadcaster = Broadcaster()
    with broadcaster.subscribe() as subscription:
        broadcaster.publish({"type": "early"})
        loop = asyncio.new_event_loop()
        broadcaster.bind(loop)
        loop.close()
        broadcaster.publish({"type": "late"})
        assert subscription.queue.empty()
