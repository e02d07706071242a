"""prism db upgrade --sql prints the migration SQL and touches no database."""

from pathlib import Path

import pytest
from sqlalchemy import inspect

from app.ops import migrations
from tests.cli.runner import engine_for, invoke, isolate_environment

HEAD = migrations.head_revision()


def test_sql_for_sqlite_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_environment(monkeypatch, tmp_path)
    database = tmp_path / "never.db"
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{database}")
    result = invoke("db", "upgrade", "--sql")
    assert result.exit_code == 0, result.output
    for statement in (
        "CREATE TABLE agent (",
        "CREATE TABLE agentevent (",
        "CREATE TABLE minersample (",
        "CREATE TABLE apitoken (",
        "CREATE INDEX ix_agentevent_agent_id_at ON agentevent (agent_id, at)",
        "CREATE UNIQUE INDEX ix_metric_metric_id ON metric (metric_id)",
        "CREATE TABLE alembic_version (",
    ):
        assert statement in result.stdout
    assert f"'{HEAD}'" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_sql_leaves_an_existing_database_unchanged(database_url: str) -> None:
    assert invoke("db", "upgrade", "0001_baseline").exit_code == 0
    with engine_for(database_url) as engine:
        before = (sorted(inspect(engine).get_table_names()), migrations.status(engine).current)
    result = invoke("db", "upgrade", "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE" in result.stdout
    with engine_for(database_url) as engine:
        after = (sorted(inspect(engine).get_table_names()), migrations.status(engine).current)
    assert after == before == (before[0], "0001_baseline")


def test_sql_for_postgresql_uses_its_dialect(database_url: str) -> None:
    result = invoke("db", "upgrade", "--sql")
    assert result.exit_code == 0, result.output
    if database_url.startswith("postgresql"):
        assert "TIMESTAMP WITH TIME ZONE" in result.stdout
        assert "BIGSERIAL" in result.stdout or "BIGINT" in result.stdout
        with engine_for(database_url) as engine:
            assert inspect(engine).get_table_names() == []
    else:
        assert "DATETIME" in result.stdout


def test_sql_between_two_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = invoke("db", "upgrade", "0001_baseline:0002_console_tables", "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE apitoken" in result.stdout
    assert "CREATE TABLE agent (" not in result.stdout
