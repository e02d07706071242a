"""Adoption: `prism db upgrade` takes over the earlier service's prism.db in place."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, select

from app.models import Agent, AgentEvent, Metric, Miner, MinerSample, Runbook, Setting, metadata
from app.ops import migrations
from tests.cli.runner import assert_one_line_error, engine_for, invoke, isolate_environment
from tests.migrations.legacy import SCHEMA, build_legacy_database, legacy_metadata
from tests.support.factories import make_agent

INDEXES = {
    "agentevent": "ix_agentevent_agent_id_at",
    "minersample": "ix_minersample_miner_id_recorded_at",
    "metric": "ix_metric_metric_id",
}


@pytest.fixture
def legacy_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_environment(monkeypatch, tmp_path)
    path = tmp_path / "prism.db"
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def adopted(legacy_path: Path) -> Iterator[tuple[Engine, dict[str, list[dict[str, Any]]]]]:
    """The complete legacy database, upgraded through the command line."""
    rows = build_legacy_database(legacy_path, legacy_metadata())
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "Adopted the earlier service's database" in result.stdout
    with engine_for(f"sqlite:///{legacy_path}") as engine:
        yield engine, rows


def _utc(naive: datetime | None) -> datetime | None:
    return None if naive is None else naive.replace(tzinfo=UTC)


def test_status_recognises_the_earlier_services_database(legacy_path: Path) -> None:
    build_legacy_database(legacy_path, legacy_metadata())
    result = invoke("db", "status")
    assert result.exit_code == 0, result.output
    assert "current:  none (tables of the earlier service" in result.stdout


def test_check_reports_an_unadopted_database(legacy_path: Path) -> None:
    build_legacy_database(legacy_path, legacy_metadata())
    result = invoke("db", "check")
    assert result.exit_code == 1
    assert "not at head" in result.stdout


def test_every_row_survives_with_its_values(adopted: tuple[Engine, Any]) -> None:
    engine, rows = adopted
    with Session(engine) as session:
        agents = {agent.id: agent for agent in session.exec(select(Agent)).all()}
        assert len(agents) == len(rows["agent"])
        for row in rows["agent"]:
            agent = agents[row["id"]]
            assert agent.model_dump() == {**row, "last_seen_at": _utc(row["last_seen_at"])}
        events = {event.id: event for event in session.exec(select(AgentEvent)).all()}
        assert {key: event.model_dump() for key, event in events.items()} == {
            row["id"]: {**row, "at": _utc(row["at"])} for row in rows["agentevent"]
        }
        samples = {sample.id: sample for sample in session.exec(select(MinerSample)).all()}
        assert {key: sample.model_dump() for key, sample in samples.items()} == {
            row["id"]: {
                **row,
                "recorded_at": _utc(row["recorded_at"]),
                "last_share_at": _utc(row["last_share_at"]),
                # Columns the earlier service never had (SPEC §14) are empty.
                "power_w": None,
                "fan_rpm": None,
            }
            for row in rows["minersample"]
        }
        metric = session.exec(select(Metric)).one()
        assert metric.model_dump() == rows["metric"][0]
        setting = session.exec(select(Setting)).one()
        assert setting.model_dump() == {
            **rows["setting"][0],
            "updated_at": _utc(rows["setting"][0]["updated_at"]),
        }


def test_timestamps_read_back_as_utc(adopted: tuple[Engine, Any]) -> None:
    engine, _ = adopted
    with Session(engine) as session:
        agent = session.get(Agent, "agent-1")
    assert agent is not None
    assert agent.last_seen_at == datetime(2025, 12, 31, 23, 59, 58, 123456, tzinfo=UTC)
    assert agent.last_seen_at.utcoffset() is not None


def test_tags_and_schemas_read_back_as_structures(adopted: tuple[Engine, Any]) -> None:
    engine, _ = adopted
    with Session(engine) as session:
        runbook = session.get(Runbook, "runbook-1")
    assert runbook is not None
    assert runbook.tags == ["ops", "standard"]
    assert runbook.inputs_schema == SCHEMA


def test_the_schema_becomes_the_current_one(adopted: tuple[Engine, Any]) -> None:
    engine, _ = adopted
    inspector = inspect(engine)
    assert set(metadata.tables) | {"alembic_version"} == set(inspector.get_table_names())
    for table, index in INDEXES.items():
        assert index in {found["name"] for found in inspector.get_indexes(table)}
    assert migrations.status(engine).at_head
    assert migrations.differences(engine) == []
    assert invoke("db", "check").exit_code == 0


def test_the_miner_table_is_backfilled_from_the_samples(adopted: tuple[Engine, Any]) -> None:
    engine, _ = adopted
    with Session(engine) as session:
        miners = {miner.miner_id: miner for miner in session.exec(select(Miner)).all()}
    assert set(miners) == {"xmrig", "rig-2"}
    xmrig = miners["xmrig"]
    assert xmrig.last_sample_id == 2
    assert xmrig.first_seen_at == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert xmrig.last_recorded_at == datetime(2025, 12, 31, 23, 59, 58, 123456, tzinfo=UTC)
    assert miners["rig-2"].last_sample_id == 3


def test_the_adopted_tables_accept_what_the_service_writes(adopted: tuple[Engine, Any]) -> None:
    engine, _ = adopted
    with Session(engine) as session:
        # last_seen_at was NOT NULL in the earlier schema; an agent created by an admin has none.
        session.add(make_agent("fresh", name="Fresh", domain="ops"))
        session.add(Runbook(id="runbook-2", title="T", tags=["a", "b"]))
        session.commit()
        runbook = session.get(Runbook, "runbook-2")
        assert runbook is not None and runbook.tags == ["a", "b"]
        # agentevent gained its foreign key: deleting an agent removes its events.
        session.delete(session.get(Agent, "agent-1"))
        session.commit()
        remaining = set(session.exec(select(AgentEvent.id)).all())
    assert remaining == {"evt-orphan"}  # an orphan the earlier service wrote is kept as it was


def test_upgrading_again_changes_nothing(adopted: tuple[Engine, Any]) -> None:
    again = invoke("db", "upgrade")
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout


@pytest.mark.parametrize(
    ("missing", "kwargs"),
    [
        ("setting", {"without_table": "setting"}),
        ("agent.version", {"without_column": "agent.version"}),
        ("minersample.shares_stale", {"without_column": "minersample.shares_stale"}),
    ],
)
def test_a_missing_table_or_column_is_added(
    legacy_path: Path, missing: str, kwargs: dict[str, str]
) -> None:
    rows = build_legacy_database(legacy_path, legacy_metadata(**kwargs))
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    with engine_for(f"sqlite:///{legacy_path}") as engine:
        table, _, column = missing.partition(".")
        assert table in inspect(engine).get_table_names()
        if column:
            assert column in {found["name"] for found in inspect(engine).get_columns(table)}
        assert migrations.differences(engine) == []
        with engine.connect() as connection:
            count = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    expected = 0 if not column else len(rows[table])
    assert count == expected
    assert invoke("db", "check").exit_code == 0


def test_a_missing_column_gets_its_default_in_old_rows(legacy_path: Path) -> None:
    build_legacy_database(legacy_path, legacy_metadata(without_column="agent.version"))
    assert invoke("db", "upgrade").exit_code == 0
    with engine_for(f"sqlite:///{legacy_path}") as engine, Session(engine) as session:
        agent = session.get(Agent, "agent-1")
    assert agent is not None
    assert agent.version == ""
    assert agent.name == "Ops Agent 1"


def test_indexes_the_earlier_models_declared_are_replaced(legacy_path: Path) -> None:
    # SQLModel's index=True made ix_metric_metric_id (the very name a migration creates).
    build_legacy_database(legacy_path, legacy_metadata(with_indexes=True))
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    with engine_for(f"sqlite:///{legacy_path}") as engine:
        names = {found["name"] for found in inspect(engine).get_indexes("agentevent")}
        assert "ix_agentevent_agent_id" not in names  # not one of ours
        assert migrations.differences(engine) == []


def test_a_failed_adoption_changes_nothing(legacy_path: Path) -> None:
    build_legacy_database(legacy_path, legacy_metadata())
    with engine_for(f"sqlite:///{legacy_path}") as engine, engine.begin() as connection:
        # Two tiles with one id cannot get the unique index.
        connection.execute(
            text(
                "INSERT INTO metric (id, metric_id, title, value, caption, icon, status) "
                "VALUES (8, 'uptime', 'Again', '', '', '', 'good')"
            )
        )
    line = assert_one_line_error(invoke("db", "upgrade"))
    assert "metric" in line
    with engine_for(f"sqlite:///{legacy_path}") as engine:
        assert "alembic_version" not in inspect(engine).get_table_names()
