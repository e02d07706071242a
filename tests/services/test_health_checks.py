"""SingleFlight: a hung check is shared, not repeated, and callers stop waiting on time."""

import asyncio
import threading

import pytest

from app.core.single_flight import SingleFlight
from tests.support.waits import WAIT, wait_until


def test_callers_share_the_call_in_flight() -> None:
    flight = SingleFlight()
    release = threading.Event()
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        release.wait(WAIT)
        return 42

    first = flight.submit("db", slow)
    second = flight.submit("db", slow)
    assert first is second
    release.set()
    assert first.result(WAIT) == 42
    assert calls == [1]


def test_a_caller_gives_up_after_its_timeout_while_the_call_goes_on() -> None:
    flight = SingleFlight()
    release = threading.Event()
    with pytest.raises(TimeoutError):
        flight.call("db", lambda: release.wait(WAIT), timeout=0.01)
    assert flight.in_flight("db")
    release.set()
    wait_until(lambda: not flight.in_flight("db"), "the released call returning")
    # Once the hung call has returned, the next caller starts a fresh one.
    assert flight.call("db", lambda: "fresh", timeout=WAIT) == "fresh"


def test_an_async_caller_that_times_out_does_not_cancel_the_shared_call() -> None:
    flight = SingleFlight()
    release = threading.Event()

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await flight.acall("db", lambda: release.wait(WAIT) and "done", timeout=0.01)
        waiting = flight.submit("db", lambda: "other")
        release.set()
        assert await asyncio.wrap_future(waiting) == "done"

    asyncio.run(scenario())


def test_errors_reach_every_caller_and_do_not_stick() -> None:
    flight = SingleFlight()

    def broken() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        flight.call("db", broken, timeout=WAIT)
    assert flight.call("db", lambda: "ok", timeout=WAIT) == "ok"
