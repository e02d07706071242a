"""`prism db doctor`: one line per check with its advice, `--json`, and the exit status."""

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.miners.fold import fold_all
from app.miners.ingest import record_samples
from app.ops import doctor_checks_fold
from tests.cli.runner import assert_one_line_error, engine_for, invoke, isolate_environment

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _drop_an_index(url: str) -> None:
    with engine_for(url) as engine, engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_agentevent_agent_id_at"))


def test_each_check_is_one_line_and_warnings_exit_0(migrated_url: str) -> None:
    result = invoke("db", "doctor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    checks = [line for line in lines[:-1] if not line.startswith(" ")]
    assert all(line[:4] in ("ok  ", "WARN", "FAIL") for line in checks), lines
    assert any(line.startswith("ok    migrations ") for line in checks), lines
    # No PRISM_BACKUP_DIR here: a warning, with its advice on the next line.
    backup = next(index for index, line in enumerate(lines) if " backup_age " in line)
    assert lines[backup].startswith("WARN  backup_age")
    assert lines[backup + 1].lstrip().startswith("→ set PRISM_BACKUP_DIR")
    assert lines[-1].startswith("doctor: ok (")
    assert " 0 failing)" in lines[-1]


def test_json_lists_every_check_for_machines(migrated_url: str) -> None:
    result = invoke("db", "doctor", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"checks", "ok"}
    assert document["ok"] is True
    for check in document["checks"]:
        assert set(check) == {"name", "status", "detail", "advice"}
        assert check["status"] in ("pass", "warn", "fail")
        assert (check["advice"] is None) == (check["status"] == "pass")
    names = [check["name"] for check in document["checks"]]
    assert {"legacy_tables", "migrations", "schema_drift", "indexes", "backup_age"} <= set(names)


def test_a_growing_fold_backlog_warns(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with engine_for(migrated_url) as engine, Session(engine) as session:
        record_samples(session=session, rows=[{"miner_id": "rig", "recorded_at": NOW}] * 3)
    monkeypatch.setattr(doctor_checks_fold, "BACKLOG_WARNING", 2)
    result = invoke("db", "doctor")
    assert result.exit_code == 0, result.output
    assert _line_of("rollup_fold", result.stdout).startswith("WARN")
    assert "3 samples not yet folded" in _line_of("rollup_fold", result.stdout)
    with engine_for(migrated_url) as engine:
        fold_all(engine)
    folded = _line_of("rollup_fold", invoke("db", "doctor").stdout)
    assert folded.startswith("ok") and "0 samples not yet folded" in folded


def _line_of(check: str, output: str) -> str:
    return next(line for line in output.splitlines() if line.split()[1:2] == [check])


def test_a_failing_check_exits_1_in_text_and_json(migrated_url: str) -> None:
    _drop_an_index(migrated_url)
    result = invoke("db", "doctor")
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("FAIL  indexes ")
    assert "→ recreate it: CREATE INDEX ix_agentevent_agent_id_at ON agentevent" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("doctor: failing (")
    as_json = invoke("db", "doctor", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["ok"] is False


def test_a_missing_sqlite_file_fails_and_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{tmp_path / 'prism.db'}")
    result = invoke("db", "doctor")
    assert result.exit_code == 1
    assert f"FAIL  console_db  no database at {tmp_path / 'prism.db'}" in result.stdout
    assert not (tmp_path / "prism.db").exists()


def test_the_doctor_changes_nothing(sqlite_url: str) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    for _ in range(2):  # still out of WAL the second time: the first run only looked
        result = invoke("db", "doctor")
        assert result.exit_code == 0, result.output
        assert "WARN  journal_mode   journal mode is delete, not WAL" in result.stdout


def test_a_bad_url_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", "mysql://u@h/db")
    line = assert_one_line_error(invoke("db", "doctor"))
    assert line.startswith("error: PRISM_API_DB_URL: unsupported database 'mysql'")


def test_help_describes_the_exit_status() -> None:
    result = invoke("db", "doctor", "--help")
    assert result.exit_code == 0
    assert "--json" in result.stdout
    assert "Exit status 1 when any check fails" in result.stdout
