"""Failures are one clear line on stderr and a non-zero exit, never a traceback."""

from pathlib import Path

import pytest

from tests.cli.runner import assert_one_line_error, invoke, isolate_environment, migrate

COMMANDS_USING_THE_DATABASE = [
    ("db", "upgrade"),
    ("db", "status"),
    ("db", "check"),
    ("db", "seed"),
    ("db", "prune"),
    ("db", "backup"),
    ("token", "list"),
    ("token", "create", "--name", "ci", "--scope", "read"),
    ("serve", "--announce"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setattr("app.cli.prism.uvicorn.run", _must_not_serve)
    return tmp_path


def _must_not_serve(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a failing `prism serve` must stop before starting uvicorn")


@pytest.mark.parametrize("command", COMMANDS_USING_THE_DATABASE, ids=" ".join)
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/prism", "unsupported database 'mysql'"),
        ("::not a url::", "cannot parse"),
        ("postgresql://user@localhost:5432", "names no database"),
    ],
)
def test_a_bad_url_fails_with_one_line(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    url: str,
    expected: str,
) -> None:
    monkeypatch.setenv("PRISM_API_DB_URL", url)
    line = assert_one_line_error(invoke(*command))
    assert "PRISM_API_DB_URL" in line
    assert expected in line


@pytest.mark.parametrize(
    "command", [("db", "status"), ("db", "upgrade"), ("token", "list")], ids=" ".join
)
def test_an_unreachable_postgresql_fails_with_one_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("PRISM_API_DB_URL", "postgresql://prism:secret@127.0.0.1:1/prism")
    line = assert_one_line_error(invoke(*command))
    assert "cannot use the console database" in line
    assert "port 1" in line
    assert "secret" not in line


def test_an_invalid_setting_names_its_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_RETENTION_SAMPLES_DAYS", "a week")
    line = assert_one_line_error(invoke("db", "prune"))
    assert "PRISM_RETENTION_SAMPLES_DAYS" in line


def test_a_missing_sqlite_file_is_not_created_by_commands_that_need_data(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "absent.db"
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{path}")
    for command in (("token", "list"), ("db", "seed"), ("db", "prune"), ("db", "check")):
        line = assert_one_line_error(invoke(*command))
        assert "prism db upgrade" in line
    assert not path.exists()


def test_a_database_behind_the_code_is_refused_until_upgraded(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{workdir / 'old.db'}"
    monkeypatch.setenv("PRISM_API_DB_URL", url)
    migrate(url)
    assert invoke("db", "downgrade", "0001_baseline").exit_code == 0
    line = assert_one_line_error(invoke("token", "list"))
    assert "0001_baseline" in line
    assert "prism db upgrade" in line


def test_an_unknown_revision_is_one_line(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{workdir / 'console.db'}"
    monkeypatch.setenv("PRISM_API_DB_URL", url)
    migrate(url)
    line = assert_one_line_error(invoke("db", "downgrade", "no-such-revision"))
    assert "no-such-revision" in line
