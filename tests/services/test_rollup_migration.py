"""Migration 0004 backfills the rollup from the samples already stored, as ingest would."""

import random
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select

from app.models import MINER_SAMPLE_ROLLUP, MinerSample
from app.models.rollup import ROLLUP_WIDTHS
from app.ops import migrations
from tests.services.rollup_oracle import assert_aggregates_match, expected_rollup, random_samples
from tests.support.db import migrated_engine, temporary_pg_database

BEFORE = "0003_agent_memory_samples"
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database migrated to the revision before the rollup."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'console.db'}"
        else:
            url = stack.enter_context(temporary_pg_database())
        yield stack.enter_context(migrated_engine(url, BEFORE))


# The columns minersample had at revision 0003 (power and fans came with 0010).
_COLUMNS_AT_0003 = [
    column
    for column in MinerSample.__table__.columns  # type: ignore[attr-defined]
    if column.name not in ("power_w", "fan_rpm")
]


def _store_as_at_0003(engine: Engine, rows: list[dict[str, Any]]) -> None:
    names = {column.name for column in _COLUMNS_AT_0003}
    with engine.begin() as connection:
        connection.execute(
            insert(MinerSample.__table__),  # type: ignore[attr-defined]
            [{key: value for key, value in row.items() if key in names} for row in rows],
        )


def _stored(engine: Engine) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(MINER_SAMPLE_ROLLUP)).all()
    return {(row[0], row[1], row[2]): tuple(row[3:]) for row in rows}


def test_the_upgrade_rolls_up_the_stored_samples_as_ingest_does(engine_at_0003: Engine) -> None:
    rows = random_samples(random.Random(3), miner_ids=("rig-a", "rig-b"), start=T0, count=800)
    for row in rows:
        # Stored as the earlier service and older versions did: no rollup, no power yet.
        if row["shares_stale"] is None:
            row["shares_stale"] = row["shares_rejected"]
        row.pop("power_w")
        row.pop("fan_rpm")
    _store_as_at_0003(engine_at_0003, rows)
    migrations.upgrade(engine_at_0003)
    stored = _stored(engine_at_0003)
    expected = expected_rollup(rows, ROLLUP_WIDTHS)
    assert sorted(stored) == sorted(expected)
    for key, aggregates in expected.items():
        assert_aggregates_match(stored[key], aggregates)
    assert migrations.differences(engine_at_0003) == []


def test_the_downgrade_drops_the_rollup_and_keeps_the_samples(engine_at_0003: Engine) -> None:
    _store_as_at_0003(
        engine_at_0003, [{"miner_id": "rig-a", "recorded_at": T0, "hashrate_1m": 1.0}]
    )
    migrations.upgrade(engine_at_0003)
    assert len(_stored(engine_at_0003)) == 2  # one bucket of each width
    migrations.downgrade(engine_at_0003, BEFORE)
    tables = set(inspect(engine_at_0003).get_table_names())
    assert "minersamplerollup" not in tables and "minersample" in tables
