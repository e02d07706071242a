"""Times that ingest refuses: too far in the future for any clock drift to explain.

A sample or event dated ahead of the server would sit on top of every "latest" view and
chart until real time caught up with it; PRISM_MAX_CLOCK_SKEW_SECONDS says how much drift
between a reporter's clock and ours is still believed.
"""

from datetime import datetime, timedelta

from app.core.errors import UnprocessableError
from app.core.timeutil import isoformat


def check_not_future(
    value: datetime | None, *, field: str, now: datetime, max_skew_seconds: float
) -> None:
    """UnprocessableError naming `field` when `value` is beyond now + the allowed skew."""
    if value is not None and value - now > timedelta(seconds=max_skew_seconds):
        raise UnprocessableError(
            f"{field}: {isoformat(value)} is more than {max_skew_seconds:g} s in the future "
            f"(server time {isoformat(now)})"
        )
