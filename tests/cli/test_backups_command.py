"""prism db backups: the backups of a directory, newest first, and which ones are verified."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.db import parse_database_url
from app.ops import backup
from app.ops.backup_schedule import Backups
from tests.cli.runner import invoke

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def take(url: str, directory: Path, at: datetime) -> Path:
    """A scheduled round's backup at `at` (verified, with its manifest)."""
    rounds = Backups(
        parse_database_url(url), directory=directory, interval_seconds=3600, keep_days=365
    )
    result = rounds.run_round(now=at)
    assert result.outcome == "taken", result.error
    assert result.backup is not None
    return result.backup.path


def test_backups_are_listed_newest_first_with_engine_size_and_verification(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "backups"
    monkeypatch.setenv("PRISM_BACKUP_DIR", str(directory))
    older = take(migrated_url, directory, T0)
    newer = take(migrated_url, directory, T0 + timedelta(hours=2))
    # A hand-made copy in the directory: listed, but never verified.
    target = parse_database_url(migrated_url)
    manual = backup.backup_database(
        target, directory / backup.backup_file_name(target, T0 + timedelta(hours=1))
    ).path
    (directory / "notes.txt").write_text("not a backup")

    result = invoke("db", "backups")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["TAKEN", "AT", "(UTC)", "ENGINE", "SIZE", "VERIFIED", "PATH"]
    engine = "sqlite" if migrated_url.startswith("sqlite") else "postgresql"
    assert [row.split()[0] for row in rows] == [
        "2026-03-01T14:00:00Z",
        "2026-03-01T13:00:00Z",
        "2026-03-01T12:00:00Z",
    ]
    assert [row.split()[-1] for row in rows] == [str(newer), str(manual), str(older)]
    assert [row.split()[1] for row in rows] == [engine] * 3
    assert [row.split()[-2] for row in rows] == ["yes", "no", "yes"]
    assert all(("KiB" in row or "MiB" in row or "bytes" in row) for row in rows)
    assert "notes.txt" not in result.stdout


def test_json_lists_the_same_backups_for_machines(sqlite_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "elsewhere"
    made = take(sqlite_url, directory, T0)

    result = invoke("db", "backups", "--dir", str(directory), "--json")

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["directory"] == str(directory)
    [entry] = body["backups"]
    assert entry == {
        "path": str(made),
        "engine": "sqlite",
        "sizeBytes": made.stat().st_size,
        "takenAt": "2026-03-01T12:00:00Z",
        "verified": True,
        "revision": backup.backup_revision(made, "sqlite"),
    }
    assert entry["revision"] is not None


def test_an_empty_or_missing_directory_says_so(sqlite_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("db", "backups", "--dir", str(empty))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"No backups in {empty}."

    missing = tmp_path / "missing"
    result = invoke("db", "backups", "--dir", str(missing))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"No backups in {missing} (the directory does not exist)."
    assert not missing.exists()


def test_without_a_directory_the_default_backups_folder_is_listed(sqlite_url: str) -> None:
    # Where `prism db backup` writes without --out (the test runs in its own directory).
    made = take(sqlite_url, Path("backups"), T0)
    result = invoke("db", "backups")
    assert result.exit_code == 0, result.output
    assert str(made) in result.stdout
