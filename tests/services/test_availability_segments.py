"""The status bar's segments read only the intervals near each one: they must equal the
figures of each segment computed from every interval."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.availability.compute import availability, segments
from app.availability.intervals import Interval

T0 = datetime(2026, 9, 1, tzinfo=UTC)
WINDOW = Interval(T0, T0 + timedelta(days=90))


def _random_intervals(rng: random.Random, count: int) -> list[Interval]:
    """Unsorted, overlapping, some empty, some reaching past the window's edges."""
    found = []
    for _ in range(count):
        start = T0 + timedelta(seconds=rng.uniform(-5 * 86400, 95 * 86400))
        length = timedelta(seconds=rng.choice((0, 1, 59.5, 3600, 86400, 3 * 86400, 20 * 86400)))
        found.append(Interval(start, start + length))
    return found


@pytest.mark.parametrize("seed", range(40))
def test_each_segment_equals_its_window_computed_from_every_interval(seed: int) -> None:
    rng = random.Random(seed)
    down = _random_intervals(rng, rng.randrange(0, 30))
    maintenance = _random_intervals(rng, rng.randrange(0, 5))
    known = _random_intervals(rng, rng.randrange(0, 4)) or [WINDOW]
    parts = segments(WINDOW, down=down, maintenance=maintenance, known=known)
    assert len(parts) == 90
    for part in parts:
        assert part == availability(part.window, down=down, maintenance=maintenance, known=known)


@pytest.mark.parametrize("known_from_day", [0, 0.5, 30.25, 89.9, 95])
def test_a_subject_never_down_nor_in_maintenance_is_known_from_its_first_moment(
    known_from_day: float,
) -> None:
    known = [Interval(T0 + timedelta(days=known_from_day), WINDOW.end + timedelta(days=1))]
    parts = segments(WINDOW, down=[], maintenance=[], known=known)
    assert len(parts) == 90
    for part in parts:
        assert part == availability(part.window, down=[], maintenance=[], known=known)
    assert parts[-1].uptime_percent == (100.0 if known_from_day < 90 else None)


@pytest.mark.parametrize("seed", range(20))
def test_a_subject_known_from_one_moment_and_never_in_maintenance(seed: int) -> None:
    """The one-pass path of segments(): outages of every length, known from some day on."""
    rng = random.Random(1000 + seed)
    down = _random_intervals(rng, rng.randrange(1, 25))
    known = [Interval(T0 + timedelta(days=rng.uniform(-3, 60)), WINDOW.end)]
    parts = segments(WINDOW, down=down, maintenance=[], known=known)
    assert len(parts) == 90
    for part in parts:
        assert part == availability(part.window, down=down, maintenance=[], known=known)


def test_days_before_the_subject_was_known_count_nothing_whatever_their_outages() -> None:
    known = [Interval(T0 + timedelta(days=80, hours=3), WINDOW.end)]
    down = [Interval(T0 + timedelta(days=10), T0 + timedelta(days=81))]
    parts = segments(WINDOW, down=down, maintenance=[], known=known)
    for part in parts:
        assert part == availability(part.window, down=down, maintenance=[], known=known)
    assert [part.uptime_percent for part in parts[:80]] == [None] * 80
    assert parts[80].downtime_seconds == 21 * 3600  # from 03:00, when it became known
