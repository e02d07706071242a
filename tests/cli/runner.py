"""Running `prism` in-process, and fresh console databases for command-line tests."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli.prism import cli
from tests.support.db import engine_for as engine_for  # re-exported for the CLI tests
from tests.support.db import migrate as migrate
from tests.support.db import temporary_pg_database

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ prism\.")
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def invoke(*args: str) -> Result:
    """Run `prism ARGS…`; stdout and stderr are kept apart (result.stdout, result.stderr)."""
    return CliRunner().invoke(cli, list(args), prog_name="prism")


def assert_one_line_error(result: Result) -> str:
    """A failed command: non-zero exit, one `error: …` line last on stderr.

    Lines before it may only be progress (`… `) or log records (`<date> <time> LEVEL …`).
    """
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    *before, last = result.stderr.splitlines()
    assert last.startswith("error: "), result.stderr
    assert all(line.startswith("… ") or _LOG_RECORD.match(line) for line in before), result.stderr
    return last


def isolate_environment(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    """No PRISM_ variable or .env file of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("PRISM_") and name != "PRISM_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(workdir)


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty database of that kind, dropped afterwards (PostgreSQL)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'console.db'}"
    else:
        with temporary_pg_database("prism_cli") as url:
            yield url


# Fixtures, registered by the conftest.py of tests/cli and tests/migrations.


@pytest.fixture(params=ENGINES)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database (nothing migrated) that PRISM_API_DB_URL points at."""
    isolate_environment(monkeypatch, tmp_path)
    with fresh_database(request.param, tmp_path) as url:
        monkeypatch.setenv("PRISM_API_DB_URL", url)
        yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """The same database, migrated to head."""
    migrate(database_url)
    return database_url


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file that PRISM_API_DB_URL points at (for SQLite-only behaviour)."""
    isolate_environment(monkeypatch, tmp_path)
    url = f"sqlite:///{tmp_path / 'console.db'}"
    monkeypatch.setenv("PRISM_API_DB_URL", url)
    migrate(url)
    return url
