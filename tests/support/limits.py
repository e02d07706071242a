"""Sign-in limits on a clock that stands still, so no test depends on how fast it runs.

With the real clock an allowance refills while a slow test runs (one request back every
60/limit seconds), and a run of failures is forgotten after a quiet while: a busy machine
would then see a 401 where a test expects a 429. On a fake clock only what a test does
counts.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.core.ratelimit import FailureDelay, RateLimiter

LOGIN_LIMITERS = ("login", "login-token")  # per address, per token (app/auth/pages.py)


class FakeClock:
    """A clock that moves only when a test moves it (`clock.now += seconds`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def still_login_limits(app: Any) -> FakeClock:
    """Give `app` fresh sign-in limiters and failure delays on one FakeClock (returned).

    The allowance is the app's PRISM_LOGIN_RATE_LIMIT; other limiters (ingest) are kept.
    """
    clock = FakeClock()
    per_minute = app.state.settings.login_rate_limit
    limiters: dict[str, RateLimiter] = dict(getattr(app.state, "rate_limiters", None) or {})
    for name in LOGIN_LIMITERS:
        limiters[name] = RateLimiter(per_minute, clock=clock)
    app.state.rate_limiters = limiters
    app.state.failure_delay = FailureDelay(clock=clock)
    return clock


@contextmanager
def login_limits_standing_still(app: Any) -> Iterator[FakeClock]:
    """still_login_limits() for the block, then the app's own limiters again (shared apps)."""
    missing = object()
    previous = {
        name: getattr(app.state, name, missing) for name in ("rate_limiters", "failure_delay")
    }
    try:
        yield still_login_limits(app)
    finally:
        for name, value in previous.items():
            if value is missing:
                delattr(app.state, name)
            else:
                setattr(app.state, name, value)
