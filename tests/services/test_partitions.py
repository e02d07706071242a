"""Day partitions on PostgreSQL (SPEC §15): created ahead, filled from DEFAULT, dropped by
retention; the conversion of a populated database by migration 0009; SQLite untouched."""

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, inspect
from sqlmodel import Session, col, select

from app.core.config import Settings
from app.core.timeutil import utcnow
from app.miners.fold import fold_all
from app.models import AgentEvent, Miner, MinerSample
from app.ops import migrations, partitions, retention, scheduler
from tests.support.db import engine_for, migrate, temporary_pg_database, wipe
from tests.support.factories import make_agent

TABLES = [table.name for table in partitions.PARTITIONED_TABLES]
# Just before midnight UTC: the next day must already be there.
NOW = datetime(2026, 12, 3, 23, 59, 58, tzinfo=UTC)
SKEW = 300


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    with temporary_pg_database("prism_parts") as url:
        migrate(url)
        with engine_for(url) as engine:
            yield engine


@pytest.fixture
def engine(pg_engine: Engine) -> Engine:
    """The module's database with no rows and no day partition (DEFAULT ones only)."""
    wipe(pg_engine)
    with pg_engine.begin() as connection:
        for table in TABLES:
            for name in partitions.day_partitions(connection, table).values():
                connection.exec_driver_sql(f'DROP TABLE "{name}"')
    return pg_engine


def _home(connection: Connection, table: str, where: str) -> list[str]:
    """The partitions holding `table`'s rows matching `where`."""
    rows = connection.exec_driver_sql(
        f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {where} ORDER BY 1"
    )
    return [row[0] for row in rows]


def _sample_row(miner_id: str, at: datetime) -> dict[str, Any]:
    return {
        "miner_id": miner_id,
        "recorded_at": at,
        "hashrate_1m": 100.0,
        "shares_accepted": 1,
        "shares_rejected": 0,
    }


def _add_samples(engine: Engine, rows: list[dict[str, Any]]) -> list[int]:
    with Session(engine, expire_on_commit=False) as session:
        samples = [MinerSample(**row) for row in rows]
        session.add_all(samples)
        session.commit()
    fold_all(engine)
    return [sample.id for sample in samples if sample.id is not None]


@pytest.mark.postgres
def test_the_migration_partitions_the_three_tables_with_a_default(engine: Engine) -> None:
    with engine.connect() as connection:
        for table in TABLES:
            assert partitions.is_partitioned(connection, table)
            default = connection.exec_driver_sql(
                "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = "
                f"'{table}_default'"
            ).scalar_one()
            assert default == "DEFAULT"
        assert not partitions.is_partitioned(connection, "agentstatuschange")


@pytest.mark.postgres
def test_partitions_cover_the_skew_around_now_and_the_days_ahead(engine: Engine) -> None:
    with engine.begin() as connection:
        created = partitions.ensure_partitions(connection, now=NOW, skew_seconds=SKEW)
    # 23:59:58 + 300 s is already 4 December: three days ahead of that, and 3 December.
    days = [date(2026, 12, 3) + timedelta(days=offset) for offset in range(5)]
    assert created == [partitions.partition_name(t, day) for t in TABLES for day in days]
    with engine.begin() as connection:
        assert partitions.ensure_partitions(connection, now=NOW, skew_seconds=SKEW) == []
        assert sorted(partitions.day_partitions(connection, "minersample")) == days


def test_a_lagging_clock_just_after_midnight_keeps_yesterday() -> None:
    just_after = datetime(2026, 12, 4, 0, 0, 30, tzinfo=UTC)
    assert partitions.days_to_cover(just_after, skew_seconds=SKEW, days_ahead=1) == [
        date(2026, 12, 3),
        date(2026, 12, 4),
        date(2026, 12, 5),
    ]


@pytest.mark.postgres
def test_samples_at_midnight_and_within_the_skew_land_in_their_day(engine: Engine) -> None:
    with engine.begin() as connection:
        partitions.ensure_partitions(connection, now=NOW, skew_seconds=SKEW)
    midnight = datetime(2026, 12, 4, tzinfo=UTC)
    _add_samples(
        engine,
        [
            _sample_row("rig", NOW),
            _sample_row("rig", midnight),
            _sample_row("rig", NOW + timedelta(seconds=SKEW)),
        ],
    )
    with engine.connect() as connection:
        assert _home(connection, "minersample", "true") == [
            "minersample_p20261203",
            "minersample_p20261204",
        ]
        assert _home(connection, "minersamplerollup", "true") == [
            "minersamplerollup_p20261203",
            "minersamplerollup_p20261204",
        ]


@pytest.mark.postgres
def test_a_day_without_partition_goes_to_default_and_moves_when_its_day_is_made(
    engine: Engine,
) -> None:
    long_ago = datetime(1999, 6, 1, 8, 0, tzinfo=UTC)
    ids = _add_samples(engine, [_sample_row("rig", long_ago), _sample_row("rig", NOW)])
    with engine.connect() as connection:
        assert _home(connection, "minersample", "true") == ["minersample_default"]
    with engine.begin() as connection:
        partitions.ensure_partitions(connection, now=long_ago, skew_seconds=0, days_ahead=0)
    with engine.connect() as connection:
        assert _home(connection, "minersample", f"id = {ids[0]}") == ["minersample_p19990601"]
        assert _home(connection, "minersample", f"id = {ids[1]}") == ["minersample_default"]
        assert _home(connection, "minersamplerollup", "bucket_start < 1000000000") == [
            "minersamplerollup_p19990601"
        ]
    with Session(engine) as session:
        assert sorted(session.exec(select(col(MinerSample.id))).all()) == sorted(ids)


@pytest.mark.postgres
def test_retention_drops_whole_days_and_deletes_only_around_the_cutoff(engine: Engine) -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    with engine.begin() as connection:
        for back in range(10):
            partitions.ensure_partitions(
                connection, now=now - timedelta(days=back), skew_seconds=0, days_ahead=0
            )
    # Every six hours over ten days, on the hour: 40 samples; the cutoff is 7 days back,
    # 26 November 12:00, so 26 November keeps its 12:00 and 18:00 samples.
    times = [now - timedelta(hours=6 * step) for step in range(40)]
    ids = _add_samples(engine, [_sample_row("rig", at) for at in times])
    with Session(engine) as session:
        session.add(make_agent("a1"))
        session.commit()
        session.add_all(
            AgentEvent(id=f"e{step}", agent_id="a1", kind="warn", at=at)
            for step, at in enumerate(times)
        )
        newest_old = max(
            (sample_id, at) for sample_id, at in zip(ids, times, strict=True) if at.day == 24
        )
        session.add(
            Miner(
                miner_id="rig",
                first_seen_at=times[-1],
                last_recorded_at=newest_old[1],
                last_sample_id=newest_old[0],
            )
        )
        session.commit()
        result = retention.prune(session=session, now=now, samples_days=7, events_days=8)
    cutoff = now - timedelta(days=7)
    kept = [at for at in times if at >= cutoff]
    assert result.samples == len(times) - len(kept)
    assert result.events == len([at for at in times if at < now - timedelta(days=8)])
    with engine.connect() as connection:
        days = sorted(partitions.day_partitions(connection, "minersample"))
        assert days[0] == date(2026, 11, 26)  # the boundary day stays, its old rows deleted
        assert sorted(partitions.day_partitions(connection, "agentevent"))[0] == date(2026, 11, 25)
        remaining = connection.exec_driver_sql("SELECT recorded_at FROM minersample").scalars()
        assert sorted(remaining) == sorted(kept)
        rollup_days = sorted(partitions.day_partitions(connection, "minersamplerollup"))
        assert rollup_days[0] == date(2026, 11, 26)
    with Session(engine) as session:
        miner = session.get(Miner, "rig")
        assert miner is not None and miner.last_sample_id == ids[0]  # re-pointed to the newest


@pytest.mark.postgres
def test_the_retention_job_creates_the_coming_days_from_its_clock(engine: Engine) -> None:
    settings = Settings(api_db_url=str(engine.url), max_clock_skew_seconds=SKEW)
    job = scheduler.retention_job(engine, settings, clock=lambda: NOW)
    job(threading.Event())
    with engine.connect() as connection:
        days = sorted(partitions.day_partitions(connection, "agentevent"))
    assert days == [date(2026, 12, 3) + timedelta(days=offset) for offset in range(5)]


@pytest.mark.postgres
def test_an_upgrade_at_start_up_makes_the_days_partitions(engine: Engine) -> None:
    today = utcnow().date()  # the upgrade reads the clock itself; covered if midnight passes
    migrations.upgrade(engine)  # already at head: only the partitions are made
    with engine.connect() as connection:
        days = partitions.day_partitions(connection, "agentevent")
    assert {today, today + timedelta(days=1)} <= set(days)


@pytest.mark.postgres
def test_the_schema_comparison_ignores_the_partitions(engine: Engine) -> None:
    with engine.begin() as connection:
        partitions.ensure_partitions(connection, now=NOW, skew_seconds=SKEW)
    assert migrations.differences(engine) == []


def test_upgrade_sql_prints_the_partitioning() -> None:
    sql = migrations.upgrade_sql(
        "postgresql://nobody@127.0.0.1:1/none", start="0008_audit", revision="head"
    )
    for statement in (
        "ALTER TABLE minersample RENAME TO minersample_unpartitioned",
        "PARTITION BY RANGE (recorded_at)",
        "PARTITION BY RANGE (bucket_start)",
        "PARTITION BY RANGE (at)",
        "CREATE TABLE agentevent_default PARTITION OF agentevent DEFAULT",
        "INSERT INTO minersample SELECT * FROM minersample_unpartitioned",
        "ADD CONSTRAINT minersample_pkey PRIMARY KEY (id, recorded_at)",
        "CREATE INDEX ix_minersample_miner_id_recorded_at ON minersample (miner_id, recorded_at)",
        "FOREIGN KEY (agent_id) REFERENCES agent (id) ON DELETE CASCADE",
    ):
        assert statement in sql


def test_sqlite_keeps_plain_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    migrate(url)
    with engine_for(url) as engine, engine.begin() as connection:
        assert not any(
            partitions.is_partition_name(t) for t in inspect(connection).get_table_names()
        )
        assert partitions.ensure_partitions(connection, now=NOW, skew_seconds=SKEW) == []
        assert partitions.expired_partitions(connection, "minersample", NOW) == []
        assert inspect(connection).get_pk_constraint("minersample")["constrained_columns"] == ["id"]


# --- the conversion of a populated database (migration 0009) --------------------------------

_FINGERPRINTS = {
    "minersample": "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)) FROM minersample t",
    "minersamplerollup": "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY miner_id, "
    "width, bucket_start)) FROM minersamplerollup t",
    "agentevent": "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)) FROM agentevent t",
    "miner": "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY miner_id)) FROM miner t",
}


def _populate_at_0008(engine: Engine, samples: int) -> None:
    """`samples` rows over 30 days, 100 miners, with their rollup, events and pointers:
    generated by the server in one statement each (no Python loop over rows)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO minersample (miner_id, recorded_at, hashrate_1m, shares_accepted, "
            "shares_rejected, shares_stale) "
            "SELECT 'rig-' || mod(g, 100), TIMESTAMPTZ '2026-11-03 00:00:00+00' "
            f"+ (g * (2592000.0 / {samples})) * interval '1 second', "
            "mod(g, 977), mod(g, 13), mod(g, 3), 0 "
            f"FROM generate_series(1, {samples}) g"
        )
        connection.exec_driver_sql(
            "INSERT INTO minersamplerollup (miner_id, width, bucket_start, "
            + ", ".join(
                f"{m}_count, {m}_min, {m}_max, {m}_sum"
                for m in (
                    "hashrate_1m",
                    "hashrate_15m",
                    "effective_hashrate",
                    "temperature_c",
                    "shares_accepted",
                    "shares_rejected",
                    "shares_stale",
                    "latency_ms",
                )
            )
            + ") SELECT miner_id, 600, floor(extract(epoch FROM recorded_at) / 600)::bigint * 600, "
            + ", ".join(["count(*), min(hashrate_1m), max(hashrate_1m), sum(hashrate_1m)"] * 3)
            + ", 0, NULL, NULL, 0"
            + ", ".join([""] + ["count(*), min(shares_accepted), max(shares_accepted), 0"] * 3)
            + ", 0, NULL, NULL, 0 FROM minersample GROUP BY 1, 2, 3"
        )
        connection.exec_driver_sql("INSERT INTO agent (id) VALUES ('a1')")
        connection.exec_driver_sql(
            "INSERT INTO agentevent (id, agent_id, kind, at) SELECT 'e' || g, 'a1', 'warn', "
            "TIMESTAMPTZ '2026-11-03 00:00:00+00' + g * interval '1 minute' "
            "FROM generate_series(1, 20000) g"
        )
        connection.exec_driver_sql(
            "INSERT INTO miner (miner_id, first_seen_at, last_recorded_at, last_sample_id) "
            "SELECT miner_id, min(recorded_at), max(recorded_at), max(id) FROM minersample "
            "GROUP BY miner_id"
        )


def _fingerprints(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        return {
            table: tuple(connection.exec_driver_sql(sql).one())
            for table, sql in _FINGERPRINTS.items()
        }


# Fingerprints are of whole rows: compared at the conversion, before later revisions add
# columns.
CONVERSION = "0009_partition_by_day"


def _check_converted(engine: Engine, before: dict[str, tuple[Any, ...]]) -> None:
    assert _fingerprints(engine) == before
    migrations.upgrade(engine)
    with engine.connect() as connection:
        for table in TABLES:
            assert partitions.is_partitioned(connection, table)
        assert _home(connection, "minersample", "true")[:2] == [
            "minersample_p20261103",
            "minersample_p20261104",
        ]
        dangling = connection.exec_driver_sql(
            "SELECT count(*) FROM miner m WHERE NOT EXISTS "
            "(SELECT 1 FROM minersample s WHERE s.id = m.last_sample_id)"
        ).scalar_one()
        assert dangling == 0
        indexes = {
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename IN "
                "('minersample', 'agentevent', 'minersamplerollup')"
            )
        }
        assert indexes == {
            "minersample_pkey",
            "ix_minersample_miner_id_recorded_at",
            "ix_minersample_miner_id_id",
            "agentevent_pkey",
            "ix_agentevent_agent_id_at",
            "ix_agentevent_at",
            "minersamplerollup_pkey",
        }
    assert migrations.differences(engine) == []
    # The id sequence carried over: a new sample gets the next id, no collision.
    with Session(engine) as session:
        sample = MinerSample(miner_id="rig-new", recorded_at=NOW)
        session.add(sample)
        session.commit()
        assert sample.id == before["minersample"][0] + 1


@pytest.fixture
def pg_url_at_0008() -> Iterator[str]:
    with temporary_pg_database("prism_parts_conv") as url:
        migrate(url, "0008_audit")
        yield url


@pytest.mark.postgres
def test_the_conversion_keeps_rows_indexes_pointers_and_downgrades(pg_url_at_0008: str) -> None:
    with engine_for(pg_url_at_0008) as engine:
        _populate_at_0008(engine, samples=20_000)
        before = _fingerprints(engine)
        migrations.upgrade(engine, CONVERSION)
        _check_converted(engine, before)
        migrations.downgrade(engine, "0008_audit")
        with engine.connect() as connection:
            assert not any(partitions.is_partitioned(connection, table) for table in TABLES)
        after = _fingerprints(engine)
    assert after["minersample"][0] == before["minersample"][0] + 1  # with the new sample
    assert {key: after[key] for key in ("minersamplerollup", "agentevent")} == {
        key: before[key] for key in ("minersamplerollup", "agentevent")
    }


@pytest.mark.postgres
def test_the_conversion_of_a_million_samples(pg_url_at_0008: str) -> None:
    with engine_for(pg_url_at_0008) as engine:
        _populate_at_0008(engine, samples=1_000_000)
        before = _fingerprints(engine)
        migrations.upgrade(engine, CONVERSION)
        _check_converted(engine, before)
