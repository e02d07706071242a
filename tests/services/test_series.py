"""Series windows and bucket plans: never more than N buckets, aligned, stable over time."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from app.core.downsampling import DEFAULT_WINDOW, plan_buckets, resolve_window
from app.core.errors import UnprocessableError

NOW = datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)


def _buckets_touched(since: datetime, until: datetime, points: int) -> int:
    plan = plan_buckets(since, until, points)
    first = math.floor((since.timestamp() - plan.origin) / plan.seconds)
    last = math.floor((until.timestamp() - 1e-6 - plan.origin) / plan.seconds)
    assert first == 0, "the first bucket starts at or before since"
    return last - first + 1


@pytest.mark.parametrize("points", [1, 2, 3, 7, 100, 500, 999, 1000, 5000])
@pytest.mark.parametrize(
    "span",
    [
        timedelta(seconds=1),
        timedelta(seconds=59.5),
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(days=30),
        timedelta(days=365),
    ],
)
def test_a_window_never_spans_more_buckets_than_points(points: int, span: timedelta) -> None:
    for offset in (0, 0.3, 17, 4999.999):
        since = NOW + timedelta(seconds=offset)
        assert _buckets_touched(since, since + span, points) <= points


def test_thirty_days_in_a_thousand_points_uses_buckets_of_about_43_minutes() -> None:
    plan = plan_buckets(NOW - timedelta(days=30), NOW, 1000)
    assert 2590 <= plan.seconds <= 2600
    assert plan.origin % plan.seconds == 0


def test_buckets_stay_put_as_the_window_slides() -> None:
    # A chart refreshing a few seconds later must see the same bucket boundaries.
    first = plan_buckets(NOW - timedelta(hours=24), NOW, 500)
    later = plan_buckets(
        NOW - timedelta(hours=24) + timedelta(seconds=7), NOW + timedelta(seconds=7), 500
    )
    assert first.seconds == later.seconds
    assert (later.origin - first.origin) % first.seconds == 0


def test_a_single_point_covers_the_whole_window() -> None:
    since, until = NOW - timedelta(hours=3), NOW
    assert _buckets_touched(since, until, 1) == 1


def test_the_default_window_is_the_last_24_hours() -> None:
    assert resolve_window(None, None, NOW) == (NOW - DEFAULT_WINDOW, NOW)
    until = NOW - timedelta(days=2)
    assert resolve_window(None, until, NOW) == (until - DEFAULT_WINDOW, until)
    since = NOW - timedelta(hours=1)
    assert resolve_window(since, None, NOW) == (since, NOW)


@pytest.mark.parametrize("since_offset", [timedelta(0), timedelta(seconds=1)])
def test_since_must_be_before_until(since_offset: timedelta) -> None:
    with pytest.raises(UnprocessableError, match="since"):
        resolve_window(NOW + since_offset, NOW, NOW)
