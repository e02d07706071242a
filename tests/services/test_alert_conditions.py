"""Each rule kind's condition: what matches, what does not (at the boundary), its value and
its exact `since`, and the rule's target; on SQLite and PostgreSQL."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.core.config import Settings
from app.maindb import create_main_database
from tests.services.alert_fixtures import (
    OFFLINE_AFTER,
    add_agent,
    add_events,
    add_history,
    add_samples,
    at,
    emptied,
    hashrate,
    matches,
    set_expected,
)
from tests.support.maindb_fixtures import main_database
from tests.support.waits import WAIT_MS

MICRO = timedelta(microseconds=1)


@pytest.fixture
def empty(engine: Engine) -> Engine:
    return emptied(engine)


# --- agent_offline ---------------------------------------------------------------------------


def test_an_agent_silent_longer_than_after_seconds_is_offline_since_then(empty: Engine) -> None:
    add_agent(empty, "just-in-time", seen=at(-OFFLINE_AFTER))
    add_agent(empty, "just-late", seen=at(-OFFLINE_AFTER) - MICRO)
    found = matches(empty, "agent_offline", at())
    assert set(found) == {"just-late"}
    # Offline from the moment the silence passed the threshold, not when it was noticed.
    assert found["just-late"].since == at() - MICRO
    later = matches(empty, "agent_offline", at(minutes=10))
    assert later["just-late"].since == at() - MICRO
    assert later["just-late"].value is None


def test_after_seconds_of_the_rule_overrides_the_setting(empty: Engine) -> None:
    add_agent(empty, "quiet", seen=at(-120))
    assert matches(empty, "agent_offline", at()) == {}
    found = matches(empty, "agent_offline", at(), {"afterSeconds": 60})
    assert found["quiet"].since == at(-60)


def test_an_agent_reporting_offline_is_offline_since_its_report(empty: Engine) -> None:
    add_agent(empty, "leaving", seen=at(-10), status="offline")
    add_history(empty, "leaving", "offline", at(-12))
    found = matches(empty, "agent_offline", at())
    assert found["leaving"].since == at(-12)


def test_an_agent_never_seen_is_unknown_not_offline(empty: Engine) -> None:
    add_agent(empty, "never", seen=None, status="offline")
    assert matches(empty, "agent_offline", at(hours=5)) == {}


# --- agent_status ----------------------------------------------------------------------------


def test_a_degraded_agent_matches_since_it_reported_degraded(empty: Engine) -> None:
    add_agent(empty, "sick", seen=at(-5), status="degraded")
    add_history(empty, "sick", "degraded", at(-200))
    add_agent(empty, "fine", seen=at(-5))
    found = matches(empty, "agent_status", at())
    assert set(found) == {"sick"}
    assert found["sick"].since == at(-200)


def test_a_silent_agent_shows_offline_not_the_status_it_last_reported(empty: Engine) -> None:
    add_agent(empty, "gone", seen=at(-OFFLINE_AFTER) - MICRO, status="degraded")
    assert matches(empty, "agent_status", at()) == {}
    offline = matches(empty, "agent_status", at(), {"statuses": ["offline"]})
    assert offline["gone"].since == at() - MICRO


# --- agent_errors ----------------------------------------------------------------------------


def test_errors_match_from_the_count_th_oldest_error_of_the_window(empty: Engine) -> None:
    add_agent(empty, "noisy", seen=at())
    add_agent(empty, "calm", seen=at())
    # noisy: the first error sits exactly on the window's start, so it counts.
    add_events(empty, "noisy", "error", at(-600), at(-300), at(-100), at(-50), at(-10))
    add_events(empty, "noisy", "warn", at(-5))
    # calm: five errors, but the oldest a microsecond before the window.
    add_events(empty, "calm", "error", at(-600) - MICRO, at(-4), at(-3), at(-2), at(-1))
    found = matches(empty, "agent_errors", at())
    assert set(found) == {"noisy"}
    assert found["noisy"].value == 5
    assert found["noisy"].since == at(-10)  # the 5th error: the window held 5 from then on
    three = matches(empty, "agent_errors", at(), {"count": 3, "windowSeconds": 600})
    assert three["noisy"].since == at(-100)
    assert three["calm"].since == at(-2)


# --- miner_silent ----------------------------------------------------------------------------


def test_a_miner_without_a_sample_for_after_seconds_is_silent_since_then(empty: Engine) -> None:
    add_samples(empty, "on-time", (at(-OFFLINE_AFTER), hashrate(1000)))
    add_samples(empty, "late", (at(-OFFLINE_AFTER) - MICRO, hashrate(1000)))
    found = matches(empty, "miner_silent", at())
    assert set(found) == {"late"}
    assert found["late"].since == at() - MICRO


# --- miner_temperature -----------------------------------------------------------------------


def test_only_the_newest_sample_at_or_above_the_threshold_matches(empty: Engine) -> None:
    add_samples(empty, "at-threshold", (at(-10), {"temperature_c": 85.0}))
    add_samples(empty, "just-below", (at(-10), {"temperature_c": 84.99}))
    add_samples(
        empty, "cooled", (at(-20), {"temperature_c": 95.0}), (at(-10), {"temperature_c": 60.0})
    )
    add_samples(empty, "no-sensor", (at(-10), {"temperature_c": None}))
    found = matches(empty, "miner_temperature", at())
    assert set(found) == {"at-threshold"}
    assert found["at-threshold"].value == 85.0
    assert found["at-threshold"].since == at(-10)
    assert set(matches(empty, "miner_temperature", at(), {"aboveC": 80})) == {
        "at-threshold",
        "just-below",
    }


# --- miner_hashrate --------------------------------------------------------------------------


def test_below_percent_of_the_expected_hashrate_matches(empty: Engine) -> None:
    add_samples(empty, "slow", (at(-10), hashrate(7999)))
    add_samples(empty, "enough", (at(-10), hashrate(8000)))
    set_expected(empty, "slow", 10_000)
    set_expected(empty, "enough", 10_000)
    found = matches(empty, "miner_hashrate", at())
    assert set(found) == {"slow"}
    assert found["slow"].value == 7999
    assert found["slow"].since == at(-10)


def test_zero_hashrate_always_matches(empty: Engine) -> None:
    add_samples(empty, "zero", (at(-10), hashrate(0)))
    # A 1-minute 0 without a 15-minute rate: the compatible output says null, alerts say 0.
    add_samples(empty, "zero-1m", (at(-10), {"hashrate_1m": 0.0}))
    add_samples(empty, "unreported", (at(-10), {"temperature_c": 50.0}))
    found = matches(empty, "miner_hashrate", at())
    assert set(found) == {"zero", "zero-1m"}
    assert found["zero-1m"].value == 0


NOW = at(30)


def _minutes(engine: Engine, miner_id: str, means: list[float], newest: float) -> None:
    """One sample in each minute before T0 with these hashrates (oldest first), then the
    newest in the minute from T0 (the rule is judged at NOW)."""
    count = len(means)
    rows: list[tuple[Any, dict[str, Any]]] = [
        (at(minutes=index - count), hashrate(mean)) for index, mean in enumerate(means)
    ]
    rows.append((at(5), hashrate(newest)))
    add_samples(engine, miner_id, *rows)


def test_without_an_expected_hashrate_the_median_of_its_minutes_is_the_baseline(
    empty: Engine,
) -> None:
    # Minutes 10000, 9000, 11000 and the newest: sorted with 7500, the median is 9500 and
    # 80 % of it 7600; with 7700 the median is the same and 7700 is not below.
    _minutes(empty, "below", [10_000, 9_000, 11_000], newest=7_500)
    _minutes(empty, "above", [10_000, 9_000, 11_000], newest=7_700)
    found = matches(empty, "miner_hashrate", NOW)
    assert set(found) == {"below"}
    assert set(matches(empty, "miner_hashrate", NOW, {"belowPercent": 82})) == {
        "below",
        "above",
    }


def test_the_median_only_counts_the_baseline_hours(empty: Engine) -> None:
    old = [(at(hours=-30, minutes=index), hashrate(20_000)) for index in range(10)]
    add_samples(empty, "steady", *old)
    _minutes(empty, "steady", [5_000, 5_000, 5_000], newest=4_500)
    # The last 24 h: 5000 three times and 4500, median 5000, 80 % of it 4000.
    assert matches(empty, "miner_hashrate", NOW) == {}
    # Over 48 h the old fast minutes lift the median to 20000.
    assert set(matches(empty, "miner_hashrate", NOW, {"baselineHours": 48})) == {"steady"}


# --- miner_stale_rate ------------------------------------------------------------------------


def shares(accepted: int, stale: int) -> dict[str, Any]:
    return {"shares_accepted": accepted, "shares_rejected": stale, "shares_stale": stale}


def test_the_stale_rate_over_the_window_must_be_above_the_percentage(empty: Engine) -> None:
    add_samples(empty, "five", (at(-120), shares(50, 3)), (at(-60), shares(45, 2)))
    add_samples(empty, "six", (at(-120), shares(50, 3)), (at(-60), shares(44, 3)))
    add_samples(empty, "none", (at(-60), shares(0, 0)))
    found = matches(empty, "miner_stale_rate", at())
    assert set(found) == {"six"}  # 5 of 100 is not above 5 %; 6 of 100 is
    assert found["six"].value == pytest.approx(6.0)
    assert found["six"].since == at(-60)


def test_the_window_is_whole_minutes_from_the_one_holding_its_start(empty: Engine) -> None:
    now = at(30)  # the window of 900 s starts at T0 - 870 s, in the minute from T0 - 900 s
    add_samples(
        empty,
        "rig",
        (at(-900), shares(0, 10)),  # in the first minute of the window: counted
        (at(-900) - MICRO, shares(0, 1000)),  # the minute before: left out
        (at(-700), shares(60, 0)),  # before the window's first ten-minute boundary
        (at(-10), shares(30, 0)),  # after it: read from the ten-minute rollup
    )
    found = matches(empty, "miner_stale_rate", now)
    assert found["rig"].value == pytest.approx(10.0)  # 10 stale of 100


def test_a_miner_with_no_sample_in_the_window_does_not_match(empty: Engine) -> None:
    add_samples(empty, "quiet", (at(hours=-2), shares(0, 50)))
    assert matches(empty, "miner_stale_rate", at()) == {}


# --- targets ---------------------------------------------------------------------------------


def test_a_target_narrows_the_subjects(empty: Engine) -> None:
    for agent_id, domain in (("a1", "ops"), ("a2", "data"), ("a3", "ops")):
        add_agent(empty, agent_id, seen=at(hours=-1), domain=domain)
    for miner_id in ("m1", "m2"):
        add_samples(empty, miner_id, (at(-10), {"temperature_c": 90.0}))
    assert set(matches(empty, "agent_offline", at(), target={})) == {"a1", "a2", "a3"}
    assert set(matches(empty, "agent_offline", at(), target={"agents": ["a2", "x"]})) == {"a2"}
    assert set(matches(empty, "agent_offline", at(), target={"domains": ["ops"]})) == {
        "a1",
        "a3",
    }
    assert set(matches(empty, "miner_temperature", at(), target={"miners": ["m2"]})) == {"m2"}
    # A list for the other kind of subject names none of these.
    assert matches(empty, "agent_offline", at(), target={"miners": ["a1"]}) == {}
    assert matches(empty, "miner_temperature", at(), target={"domains": ["ops"]}) == {}


def test_the_hashrate_and_stale_rules_apply_their_target(empty: Engine) -> None:
    for miner_id in ("m1", "m2"):
        add_samples(empty, miner_id, (at(-10), {**hashrate(0), **shares(1, 1)}))
    for kind in ("miner_hashrate", "miner_stale_rate"):
        assert set(matches(empty, kind, at(), target={"miners": ["m1"]})) == {"m1"}


# --- fleet_drift -----------------------------------------------------------------------------


def test_fleet_drift_finds_what_the_two_registries_disagree_about(
    empty: Engine, tmp_path: Path
) -> None:
    # The main database's seed: agent-1 active (online), agent-2 error (degraded),
    # main-only idle, seven offline.
    add_agent(empty, "agent-1", seen=at())
    add_agent(empty, "agent-2", seen=at())
    add_agent(empty, "console-only", seen=at(), domain="data")
    with main_database("sqlite", tmp_path) as target:
        settings = Settings(main_db_url=target.url, main_db_timeout_ms=WAIT_MS, _env_file=None)  # type: ignore[call-arg]
        main_db = create_main_database(settings)
        assert main_db is not None
        try:
            found = matches(empty, "fleet_drift", at(), main_db=main_db)
            assert set(found) == {"agent-2", "console-only", "main-only", "seven"}
            only = matches(empty, "fleet_drift", at(), {"kinds": ["main_only"]}, main_db=main_db)
            assert set(only) == {"main-only", "seven"}
            by_domain = matches(
                empty, "fleet_drift", at(), target={"domains": ["data"]}, main_db=main_db
            )
            assert set(by_domain) == {"console-only"}
        finally:
            main_db.dispose()


def test_without_a_main_database_fleet_drift_matches_nothing(empty: Engine) -> None:
    add_agent(empty, "agent-1", seen=at())
    assert matches(empty, "fleet_drift", at(), main_db=None) == {}
