"""`prism main check`: what the console can read, its latency, and proof it cannot write."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner, Result

from app.cli import maindb as cli_main
from app.cli.maindb import main_app
from app.maindb import MainDatabase
from tests.cli.runner import assert_one_line_error, isolate_environment
from tests.support.maindb_fixtures import MainTarget


def _check(*args: str) -> Result:
    return CliRunner().invoke(main_app, ["check", *args], prog_name="prism main")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    isolate_environment(monkeypatch, tmp_path)
    return monkeypatch


def test_check_lists_tables_latency_and_proves_writes_are_refused(
    environment: pytest.MonkeyPatch, main_target: MainTarget
) -> None:
    environment.setenv("PRISM_MAIN_DB_URL", main_target.url)
    result = _check()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("main database: ") and main_target.dialect in lines[0]
    assert "reader-pw" not in result.stdout
    assert lines[1].startswith("latency: ")
    assert "  users: id, email, password_hash, name, role" in result.stdout
    assert "  roadchain_receipts: " in result.stdout
    refusal = {
        "sqlite": "attempt to write a readonly database",
        "postgresql": "cannot execute CREATE TABLE in a read-only transaction",
    }[main_target.dialect]
    assert f"write probe: CREATE TABLE refused by the database ({refusal})" in lines
    assert lines[-1] == "ok: the console can read the main database and cannot write to it"


def test_check_without_columns_lists_table_names_only(
    environment: pytest.MonkeyPatch, main_target: MainTarget
) -> None:
    environment.setenv("PRISM_MAIN_DB_URL", main_target.url)
    result = _check("--no-columns")
    assert result.exit_code == 0, result.output
    assert "  users\n" in result.stdout


def test_check_fails_in_one_line_when_the_url_is_unset(environment: pytest.MonkeyPatch) -> None:
    assert assert_one_line_error(_check()) == "error: PRISM_MAIN_DB_URL is not configured"


def test_check_fails_in_one_line_when_the_url_is_bad(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("PRISM_MAIN_DB_URL", "mysql://u@h/db")
    line = assert_one_line_error(_check())
    assert line.startswith("error: PRISM_MAIN_DB_URL: unsupported database 'mysql'")


def test_check_fails_in_one_line_when_the_server_cannot_be_reached(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("PRISM_MAIN_DB_URL", "postgresql://u:secret-pw@127.0.0.1:1/main")
    line = assert_one_line_error(_check())
    assert line.startswith(
        "error: cannot read the main database (postgresql+psycopg://u:***@127.0.0.1:1/main): "
        "cannot connect to the main database: "
    )
    assert "secret-pw" not in line


def test_check_fails_when_the_database_accepts_a_write(
    environment: pytest.MonkeyPatch, main_target: MainTarget, tmp_path: Path
) -> None:
    # A writable engine dressed as the main database: the probe must catch it.
    environment.setenv("PRISM_MAIN_DB_URL", main_target.url)
    url = f"sqlite:///{tmp_path / 'writable.db'}"
    writable = MainDatabase(create_engine(url), timeout_ms=2000, display=url)
    environment.setattr(cli_main, "create_main_database", lambda _settings: writable)
    line = assert_one_line_error(_check())
    assert line == (
        "error: the main database ACCEPTED a write (the database accepted CREATE TABLE): "
        "it must be read-only"
    )
