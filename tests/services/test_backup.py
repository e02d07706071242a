"""Backup service: destination names, refusals, and a copy that opens as a console database."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.db import create_db_engine, parse_database_url
from app.ops import migrations
from app.ops.backup import BackupError, backup_database, default_backup_path
from tests.support.db import migrate

MOMENT = datetime(2026, 1, 5, 10, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///prism.db", "backups/prism-20260105T100007Z.db"),
        ("postgresql://u@h/db", "backups/prism-20260105T100007Z.dump"),
    ],
)
def test_the_default_name_says_when_and_what(url: str, name: str) -> None:
    assert default_backup_path(parse_database_url(url), MOMENT) == Path(name)


def test_an_in_memory_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="in-memory"):
        backup_database(parse_database_url("sqlite://"), tmp_path / "b.db")
    assert not list(tmp_path.iterdir())


def test_the_copy_is_a_migrated_console_database(tmp_path: Path) -> None:
    source = tmp_path / "console.db"
    migrate(f"sqlite:///{source}")
    messages: list[str] = []
    result = backup_database(
        parse_database_url(f"sqlite:///{source}"),
        tmp_path / "nested" / "dir" / "copy.db",
        progress=messages.append,
    )
    assert result.path.exists()
    assert result.size_bytes == result.path.stat().st_size > 0
    assert messages  # progress was reported
    copy = create_db_engine(parse_database_url(f"sqlite:///{result.path}"))
    try:
        assert migrations.status(copy).at_head
        assert migrations.differences(copy) == []
    finally:
        copy.dispose()
