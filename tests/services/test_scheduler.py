"""Scheduled jobs: retention runs on schedule, one replica at a time, and survives errors."""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from app.core.config import Settings
from app.core.db import DatabaseTarget, parse_database_url
from app.core.timeutil import utcnow
from app.live.pg_fanout import libpq_url
from app.models import Miner, MinerSample
from app.ops.scheduler import (
    RETENTION_LOCK_KEY,
    JobStoppedError,
    PeriodicJob,
    retention_job,
    retention_schedule,
)
from tests.support.db import migrated_engine, temporary_pg_database, wipe
from tests.support.waits import WAIT

SETTINGS = Settings(retention_samples_days=7, _env_file=None)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO and up from the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    prism.setLevel(logging.INFO)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database of this module's own (advisory locks are per server)."""
    with temporary_pg_database("prism_sched") as url, migrated_engine(url) as engine:
        yield engine


def target_of(engine: Engine) -> DatabaseTarget:
    return parse_database_url(engine.url.render_as_string(hide_password=False))


def arrange_samples(engine: Engine, *, old: int, recent: int) -> None:
    """`old` samples of ten days ago and `recent` of one day ago, for one miner."""
    wipe(engine)
    now = utcnow()
    with Session(engine) as session:
        rows = [
            MinerSample(miner_id="rig", recorded_at=now - timedelta(days=10, minutes=n))
            for n in range(old)
        ] + [
            MinerSample(miner_id="rig", recorded_at=now - timedelta(days=1, minutes=n))
            for n in range(recent)
        ]
        session.add_all(rows)
        session.commit()
        newest = rows[-1]
        session.add(
            Miner(
                miner_id="rig",
                first_seen_at=rows[0].recorded_at,
                last_recorded_at=newest.recorded_at,
                last_sample_id=newest.id,
            )
        )
        session.commit()


def sample_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(MinerSample)).one()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=WAIT))


async def until(condition: Callable[[], bool]) -> None:
    while not await asyncio.to_thread(condition):
        await asyncio.sleep(0.01)


def test_the_scheduled_run_prunes_old_rows(engine: Engine, logs: pytest.LogCaptureFixture) -> None:
    arrange_samples(engine, old=3, recent=2)
    schedule = retention_schedule(engine, target_of(engine), SETTINGS, interval=0.05, first_delay=0)
    assert schedule is not None

    async def scenario() -> None:
        schedule.start()
        # Until a run has ended and said so: the old rows are gone a moment before that, and
        # stopping then would cut the run short ("ended early") on a busy machine.
        await until(lambda: "retention deleted" in logs.text)
        await schedule.stop()

    run(scenario)
    assert sample_count(engine) == 2
    assert "retention deleted 3 samples" in logs.text


def test_a_failing_run_is_logged_and_the_schedule_goes_on(logs: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def job(_stopping: threading.Event) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("boom in the first run")

    schedule = PeriodicJob("flaky", job, interval=0.01, first_delay=0)

    async def scenario() -> None:
        schedule.start()
        await until(lambda: len(calls) >= 3)
        await schedule.stop()

    run(scenario)
    assert "flaky failed; next run in 0.01s" in logs.text
    assert "boom in the first run" in logs.text


def test_stopping_asks_a_run_in_progress_to_end_and_waits_for_it() -> None:
    started = threading.Event()
    finished: list[bool] = []

    def job(stopping: threading.Event) -> None:
        started.set()
        finished.append(stopping.wait(timeout=WAIT))

    schedule = PeriodicJob("long", job, interval=3600, first_delay=0)

    async def scenario() -> None:
        schedule.start()
        assert await asyncio.to_thread(started.wait, WAIT)
        await schedule.stop()
        # stop() returned only once the run had ended, and the run ended because of it.
        assert finished == [True]

    run(scenario)


def test_the_retention_job_ends_between_batches_when_the_service_stops(engine: Engine) -> None:
    arrange_samples(engine, old=3, recent=1)
    stopping = threading.Event()
    stopping.set()
    job = retention_job(engine, SETTINGS, batch_size=1)
    with pytest.raises(JobStoppedError):
        job(stopping)
    assert sample_count(engine) == 3  # one batch of one went; the rest waits for the next run


def test_an_interval_of_zero_turns_the_scheduled_run_off(engine: Engine) -> None:
    off = SETTINGS.model_copy(update={"retention_interval_minutes": 0})
    assert retention_schedule(engine, target_of(engine), off) is None
    hourly = retention_schedule(engine, target_of(engine), SETTINGS)
    assert hourly is not None


@pytest.mark.postgres
def test_a_replica_skips_the_round_while_another_holds_the_lock(
    pg_engine: Engine, logs: pytest.LogCaptureFixture
) -> None:
    arrange_samples(pg_engine, old=2, recent=1)
    schedule = retention_schedule(pg_engine, target_of(pg_engine), SETTINGS)
    assert schedule is not None
    with psycopg.connect(libpq_url(target_of(pg_engine)), autocommit=True) as other_replica:
        other_replica.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK_KEY,))
        assert schedule.run_once() is False
        assert sample_count(pg_engine) == 3
        other_replica.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK_KEY,))
        assert schedule.run_once() is True
    assert sample_count(pg_engine) == 1
    assert "retention skipped this round: another replica is running it" in logs.text


@pytest.mark.postgres
def test_two_replicas_never_run_the_job_at_the_same_time(pg_engine: Engine) -> None:
    lock_url = libpq_url(target_of(pg_engine))
    inside = threading.Event()
    release = threading.Event()
    runs: list[str] = []

    def slow_job(_stopping: threading.Event) -> None:
        runs.append("a")
        inside.set()
        assert release.wait(timeout=WAIT)

    def quick_job(_stopping: threading.Event) -> None:
        runs.append("b")

    replica_a = PeriodicJob("job", slow_job, interval=60, first_delay=0, lock_url=lock_url)
    replica_b = PeriodicJob("job", quick_job, interval=60, first_delay=0, lock_url=lock_url)
    outcome: list[bool] = []
    first = threading.Thread(target=lambda: outcome.append(replica_a.run_once()))
    first.start()
    try:
        assert inside.wait(timeout=WAIT)
        assert replica_b.run_once() is False
    finally:
        release.set()
        first.join(timeout=WAIT)
    assert outcome == [True]
    # A's connection closed with its run, which released the lock.
    assert replica_b.run_once() is True
    assert runs == ["a", "b"]


def test_an_unreachable_database_fails_the_round_with_one_line(
    logs: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    schedule = PeriodicJob(
        "retention",
        lambda _stopping: calls.append(1),
        interval=3600,
        first_delay=0,
        lock_url="postgresql://nobody@127.0.0.1:1/prism",
    )

    async def scenario() -> None:
        schedule.start()
        await until(lambda: "retention failed" in logs.text)
        await schedule.stop()

    run(scenario)
    assert calls == []
    assert "Traceback" not in logs.text
