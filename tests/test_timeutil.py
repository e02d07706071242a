"""The one datetime-local formatter the runbook form, the events filter and the miner range use."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.core.timeutil import datetime_local

AT = datetime(2026, 1, 5, 10, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (AT, "2026-01-05T10:07"),
        (AT.replace(second=9), "2026-01-05T10:07:09"),
        (AT.replace(second=9, microsecond=250_000), "2026-01-05T10:07:09.250"),
        (AT.astimezone(timezone(timedelta(hours=2))), "2026-01-05T10:07"),
    ],
)
def test_it_shows_the_utc_time_with_the_precision_it_has(value: datetime, shown: str) -> None:
    assert datetime_local(value) == shown


def test_to_the_minute_drops_seconds() -> None:
    assert (
        datetime_local(AT.replace(second=59, microsecond=1), to_minute=True) == "2026-01-05T10:07"
    )
