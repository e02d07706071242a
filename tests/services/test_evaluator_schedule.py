"""The evaluator on its schedule: one replica (or process) at a time, failures logged and
the next cycle run, off at an interval of 0, started and stopped by the app."""

import asyncio
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.alerts.schedule import ALERTS_LOCK_KEY, alert_schedule, sqlite_lock_file
from app.core.db import DatabaseTarget, parse_database_url
from app.live.pg_fanout import libpq_url
from app.ops.scheduler import RETENTION_LOCK_KEY, PeriodicJob
from tests.services.alert_fixtures import SETTINGS, add_rule, add_samples, at, emptied, states
from tests.support.db import migrated_engine, temporary_pg_database
from tests.support.waits import WAIT


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG and up from the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    prism.setLevel(logging.DEBUG)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database of this module's own (advisory locks are per server)."""
    with temporary_pg_database("prism_alerts_sched") as url, migrated_engine(url) as engine:
        yield engine


def target_of(engine: Engine) -> DatabaseTarget:
    return parse_database_url(engine.url.render_as_string(hide_password=False))


def hot_rig(engine: Engine) -> None:
    emptied(engine)
    add_rule(engine, "hot", "miner_temperature", params={"aboveC": 80})
    add_samples(engine, "rig", (at(-10), {"temperature_c": 90.0}))


def schedule(engine: Engine, clock: Callable[[], datetime], **options: float) -> PeriodicJob:
    job = alert_schedule(engine, target_of(engine), SETTINGS, clock=clock, **options)
    assert job is not None
    return job


def test_an_interval_of_zero_turns_the_evaluator_off(engine: Engine) -> None:
    off = SETTINGS.model_copy(update={"alert_interval_seconds": 0})
    assert alert_schedule(engine, target_of(engine), off) is None
    assert alert_schedule(engine, target_of(engine), SETTINGS) is not None


def test_a_failing_cycle_is_logged_and_the_next_one_runs(
    engine: Engine, logs: pytest.LogCaptureFixture
) -> None:
    hot_rig(engine)
    calls: list[int] = []

    def flaky_clock() -> datetime:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first cycle breaks")
        return at()

    job = schedule(engine, flaky_clock, interval=0.01, first_delay=0)

    async def scenario() -> None:
        job.start()
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        await job.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=WAIT))
    assert "alerts failed; next run in 0.01s" in logs.text
    assert "the first cycle breaks" in logs.text
    assert set(states(engine)) == {"rig"}  # a later cycle ran


@pytest.mark.postgres
def test_two_replicas_never_evaluate_at_the_same_time(pg_engine: Engine) -> None:
    hot_rig(pg_engine)
    inside, release = threading.Event(), threading.Event()
    second_clock_calls: list[int] = []

    def held_clock() -> datetime:
        # Called inside the first replica's cycle, under its lock: hold the cycle open.
        inside.set()
        assert release.wait(timeout=WAIT)
        return at()

    def second_clock() -> datetime:
        second_clock_calls.append(1)
        return at(15)

    first = schedule(pg_engine, held_clock)
    second = schedule(pg_engine, second_clock)
    outcome: list[bool] = []
    runner = threading.Thread(target=lambda: outcome.append(first.run_once()))
    runner.start()
    try:
        assert inside.wait(timeout=WAIT)
        assert second.run_once() is False  # skipped: the first is mid-cycle
        assert second_clock_calls == []
    finally:
        release.set()
        runner.join(timeout=WAIT)
    assert outcome == [True]
    assert second.run_once() is True
    assert second_clock_calls == [1]
    assert set(states(pg_engine)) == {"rig"}


@pytest.mark.postgres
def test_the_evaluators_lock_is_its_own(pg_engine: Engine) -> None:
    hot_rig(pg_engine)
    job = schedule(pg_engine, lambda: at())
    with psycopg.connect(libpq_url(target_of(pg_engine)), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK_KEY,))
        assert job.run_once() is True  # retention running elsewhere does not stop it
        other.execute("SELECT pg_advisory_lock(%s)", (ALERTS_LOCK_KEY,))
        assert job.run_once() is False


def test_on_sqlite_one_process_evaluates_at_a_time(
    tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    with migrated_engine(f"sqlite:///{tmp_path / 'console.db'}") as engine:
        target = target_of(engine)
        lock_file = sqlite_lock_file(target)
        assert lock_file == tmp_path / "console.db.alerts-lock"
        calls: list[int] = []

        def clock() -> datetime:
            calls.append(1)
            return at()

        job = schedule(engine, clock)
        with lock_file.open("a") as other_process:
            fcntl.flock(other_process, fcntl.LOCK_EX)
            job.run_once()
            assert calls == []
            fcntl.flock(other_process, fcntl.LOCK_UN)
        job.run_once()
        assert calls == [1]
    [skipped] = [
        record
        for record in logs.records
        if record.getMessage() == "alerts skipped this round: another process is evaluating"
    ]
    assert skipped.levelno == logging.DEBUG  # every interval on every process but one


def test_the_app_starts_and_stops_the_evaluator(make_client: Callable[..., TestClient]) -> None:
    running = make_client(alert_interval_seconds=3600)
    app: FastAPI = running.app  # type: ignore[assignment]
    assert isinstance(app.state.alerts, PeriodicJob)
    off = make_client(alert_interval_seconds=0)
    assert off.app.state.alerts is None  # type: ignore[attr-defined]
