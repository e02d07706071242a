"""Abuse limits kept in memory: token buckets per key, and growing delays after failures.

Both structures hold at most `max_keys` keys: the least recently used key is forgotten first,
so memory stays bounded however many distinct tokens or addresses show up. A forgotten key
starts again with a full allowance, which is what it would have had after a quiet minute.

The counts are per process: every replica (and every `prism serve --workers` process) counts
its own requests, so N processes let through up to N times a limit in total. Set the limits
with that in mind, or enforce a global one at the proxy in front.
"""

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

Clock = Callable[[], float]

DEFAULT_MAX_KEYS = 10_000
RATE_LIMITED_BODY = {
    "type": "about:blank",
    "title": "Too Many Requests",
    "status": 429,
    "detail": "Rate limit exceeded.",
}


class RateLimitedError(Exception):
    """Raised by a dependency; the request middleware answers 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


def rate_limited_response(retry_after: int) -> JSONResponse:
    """The compatible 429 body (SPEC appendix A) with its Retry-After header."""
    return JSONResponse(
        RATE_LIMITED_BODY, status_code=429, headers={"Retry-After": str(retry_after)}
    )


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests per key: bursts up to that many, then refills evenly."""

    def __init__(
        self, per_minute: int, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Clock = time.monotonic
    ) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str) -> int:
        """Spend one request of `key`: 0 when allowed, else the seconds to wait (≥ 1)."""
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0
            return max(1, math.ceil((1 - bucket.tokens) / self.refill_per_second))

    def refund(self, key: str) -> None:
        """Give back one request (an attempt that turned out legitimate)."""
        with self._lock:
            bucket = self._refilled(key)
            bucket.tokens = min(self.capacity, bucket.tokens + 1)

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_second)
            bucket.updated = now
        return bucket


class FailureDelay:
    """How long to hold a failed attempt: doubles per consecutive failure, up to `cap`."""

    def __init__(
        self,
        *,
        base: float = 0.1,
        cap: float = 1.0,
        forget_after: float = 900.0,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def failed(self, key: str) -> tuple[int, float]:
        """Record a failure of `key`: (consecutive failures, seconds to delay the answer)."""
        with self._lock:
            now = self._clock()
            count, last = self._failures.pop(key, (0, now))
            if now - last > self.forget_after:
                count = 0
            count += 1
            self._failures[key] = (count, now)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        return count, min(self.cap, self.base * 2 ** (count - 1))

    def succeeded(self, key: str) -> None:
        """A success ends the run of failures."""
        with self._lock:
            self._failures.pop(key, None)


_create_lock = threading.Lock()


def app_limiter(app: Any, name: str, per_minute: int) -> RateLimiter:
    """The app's limiter called `name`, created on first use (one per app, hence per process)."""
    limiters: dict[str, RateLimiter] | None = getattr(app.state, "rate_limiters", None)
    if limiters is None or name not in limiters:
        with _create_lock:
            limiters = getattr(app.state, "rate_limiters", None)
            if limiters is None:
                limiters = {}
                app.state.rate_limiters = limiters
            if name not in limiters:
                limiters[name] = RateLimiter(per_minute)
    return limiters[name]


def app_failure_delay(app: Any) -> FailureDelay:
    """The app's failed-sign-in delays, created on first use."""
    delay: FailureDelay | None = getattr(app.state, "failure_delay", None)
    if delay is None:
        with _create_lock:
            delay = getattr(app.state, "failure_delay", None)
            if delay is None:
                delay = FailureDelay()
                app.state.failure_delay = delay
    return delay
