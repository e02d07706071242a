"""SharedTasks: one task per key on the event loop, shared by every caller awaiting it."""

import asyncio
import logging

import pytest

from app.core.single_flight import SharedTasks


def test_callers_of_one_key_share_one_task_and_the_key_is_freed_after() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        shared: SharedTasks[int] = SharedTasks("test")
        started: list[int] = []

        async def work() -> int:
            started.append(1)
            await asyncio.sleep(0.01)
            return 42

        answers = await asyncio.gather(*(shared.join("k", work) for _ in range(5)))
        return list(answers), len(started), shared.in_flight()

    assert asyncio.run(scenario()) == ([42] * 5, 1, 0)


def test_a_caller_that_stops_waiting_does_not_cancel_the_others() -> None:
    async def scenario() -> int:
        shared: SharedTasks[int] = SharedTasks("test")
        release = asyncio.Event()

        async def work() -> int:
            await release.wait()
            return 7

        leaving = asyncio.ensure_future(shared.join("k", work))
        staying = asyncio.ensure_future(shared.join("k", work))
        await asyncio.sleep(0)
        leaving.cancel()
        release.set()
        return await staying

    assert asyncio.run(scenario()) == 7


def test_a_failure_reaches_every_caller_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[BaseException | int]:
        shared: SharedTasks[int] = SharedTasks("lookup")

        async def work() -> int:
            await asyncio.sleep(0)
            raise RuntimeError("database gone")

        return list(
            await asyncio.gather(
                *(shared.join("k", work) for _ in range(3)), return_exceptions=True
            )
        )

    with caplog.at_level(logging.WARNING, logger="prism.flight"):
        outcomes = asyncio.run(scenario())
    assert [str(outcome) for outcome in outcomes] == ["database gone"] * 3
    assert [record.getMessage() for record in caplog.records] == [
        "lookup failed: RuntimeError('database gone')"
    ]
