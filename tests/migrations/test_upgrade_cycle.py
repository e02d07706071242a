"""Upgrade, downgrade, status and check through `prism db`, on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from app.models import metadata
from app.ops import migrations, partitions
from tests.cli.runner import (
    assert_one_line_error,
    engine_for,
    fresh_database,
    invoke,
    isolate_environment,
)

HEAD = migrations.head_revision()
# Oldest first; the baseline holds the earlier service's six tables, the next one the rest.
REVISIONS = [script.revision for script in migrations.script_directory().walk_revisions()][::-1]
BASELINE, CONSOLE_TABLES = "0001_baseline", "0002_console_tables"


def _tables(url: str) -> set[str]:
    """The tables, but PostgreSQL's day partitions (made at run time, not by the models)."""
    with engine_for(url) as engine:
        names = inspect(engine).get_table_names()
    return {name for name in names if not partitions.is_partition_name(name)}


def test_the_revisions_are_a_single_line_from_the_baseline_to_head() -> None:
    assert migrations.script_directory().get_heads() == [HEAD]
    assert REVISIONS[:2] == [BASELINE, CONSOLE_TABLES]
    assert REVISIONS[-1] == HEAD


def test_an_empty_database_upgrades_to_head_matching_the_models(database_url: str) -> None:
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert HEAD in result.stdout
    assert _tables(database_url) == set(metadata.tables) | {"alembic_version"}
    with engine_for(database_url) as engine:
        assert migrations.status(engine).at_head
        assert migrations.differences(engine) == []
    again = invoke("db", "upgrade")
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout


def test_downgrade_to_base_leaves_only_the_version_table_and_upgrade_restores(
    database_url: str,
) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    result = invoke("db", "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert _tables(database_url) == {"alembic_version"}
    with engine_for(database_url) as engine:
        assert migrations.status(engine).current is None
    assert invoke("db", "upgrade").exit_code == 0
    with engine_for(database_url) as engine:
        assert migrations.status(engine).at_head
        assert migrations.differences(engine) == []
    assert invoke("db", "check").exit_code == 0


def test_down_to_the_baseline_and_up_again(database_url: str) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("db", "downgrade", BASELINE).exit_code == 0
    assert "apitoken" not in _tables(database_url)
    assert "agent" in _tables(database_url)
    assert invoke("db", "upgrade", CONSOLE_TABLES).exit_code == 0
    assert "apitoken" in _tables(database_url)


def test_relative_revisions_work(database_url: str) -> None:
    assert invoke("db", "upgrade", "+1").exit_code == 0
    with engine_for(database_url) as engine:
        assert migrations.status(engine).current == BASELINE
    assert invoke("db", "downgrade", "-1").exit_code == 0
    assert _tables(database_url) == {"alembic_version"}


def test_status_lists_pending_revisions_before_and_none_after(database_url: str) -> None:
    before = invoke("db", "status")
    assert before.exit_code == 0, before.output
    lines = dict(line.split(":", 1) for line in before.stdout.splitlines())
    assert lines["current"].strip().startswith("none")
    assert lines["head"].strip() == HEAD
    assert lines["pending"].strip() == ", ".join(REVISIONS)
    assert invoke("db", "upgrade", BASELINE).exit_code == 0
    middle = invoke("db", "status").stdout
    assert f"current:  {BASELINE}" in middle
    assert f"pending:  {', '.join(REVISIONS[1:])}" in middle
    assert invoke("db", "upgrade").exit_code == 0
    after = invoke("db", "status").stdout
    assert f"current:  {HEAD}" in after
    assert "pending:  none" in after


@pytest.mark.postgres
def test_status_never_shows_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_environment(monkeypatch, tmp_path)
    with fresh_database("postgresql", tmp_path) as url:
        # The test server trusts local connections, so any password is accepted.
        with_password = make_url(url).set(password="hunter2").render_as_string(False)
        monkeypatch.setenv("PRISM_API_DB_URL", with_password)
        result = invoke("db", "status")
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert ":***@" in result.stdout


def test_check_passes_at_head(migrated_url: str) -> None:
    result = invoke("db", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK")


def test_check_fails_behind_head_and_names_what_differs(migrated_url: str) -> None:
    assert invoke("db", "downgrade", BASELINE).exit_code == 0
    result = invoke("db", "check")
    assert result.exit_code == 1
    assert "not at head" in result.stdout
    assert "table apitoken: missing from the database" in result.stdout
    assert "index ix_agentevent_agent_id_at on agentevent(agent_id, at)" in result.stdout


def test_check_fails_when_an_index_was_dropped_by_hand(migrated_url: str) -> None:
    with engine_for(migrated_url) as engine, engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_agentevent_at"))
    result = invoke("db", "check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "differs: index ix_agentevent_at on agentevent(at): missing from the database"
    ]


def test_check_fails_on_a_column_the_models_do_not_know(migrated_url: str) -> None:
    with engine_for(migrated_url) as engine, engine.begin() as connection:
        connection.execute(text("ALTER TABLE agent ADD COLUMN nickname VARCHAR(20)"))
    result = invoke("db", "check")
    assert result.exit_code == 1
    assert "column agent.nickname: not in the models" in result.stdout


def test_downgrade_needs_a_revision(migrated_url: str) -> None:
    result = invoke("db", "downgrade")
    assert result.exit_code == 2
    assert "REVISION" in result.stderr or "Missing argument" in result.stderr


def test_upgrading_to_an_unknown_revision_is_one_line(migrated_url: str) -> None:
    assert "zzz" in assert_one_line_error(invoke("db", "upgrade", "zzz"))


def test_foreign_keys_are_enforced_again_after_migrating(sqlite_url: str) -> None:
    with engine_for(sqlite_url) as engine:
        migrations.downgrade(engine, BASELINE)
        migrations.upgrade(engine)
        # The pool hands back the very connection the migration used.
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
