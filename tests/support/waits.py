"""Generous limits for tests that wait: a busy machine may slow a test, never fail it.

No test waits a fixed time for something to happen: each waits for the event, barrier or
condition itself, and these limits only bound how long a test hangs when something is
really stuck. Clients talking to servers on this machine use HTTP_TIMEOUT, not httpx's
5-second default, which two CPU-bound processes beside the suite can exceed.
"""

import time
from collections.abc import Callable

import httpx

WAIT = 120.0  # seconds: events, barriers, joins, polling loops, a server's start
WAIT_MS = int(WAIT * 1000)  # the same, for settings in milliseconds (PRISM_MAIN_DB_TIMEOUT_MS)
HTTP_TIMEOUT = httpx.Timeout(WAIT)


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll `condition` until it is true; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.01)
