"""Online backups: SQLite's backup API, or pg_dump for PostgreSQL; writers are never stopped.

The copy is written next to its destination under a temporary name and renamed when complete,
so a file at the chosen path is always a whole, consistent backup. Backups hold token hashes
and the session secret: they are created readable by their owner only.
"""

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL

from app.core.db import DatabaseTarget
from app.core.errors import PrismError

Progress = Callable[[str], None]
DEFAULT_DIRECTORY = Path("backups")


class BackupError(PrismError):
    """The backup could not be made; nothing was left at the destination."""

    status_code = 500


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int


def default_backup_path(target: DatabaseTarget, now: datetime) -> Path:
    """backups/prism-<UTC timestamp>.db for SQLite, .dump (pg_dump custom format) otherwise."""
    suffix = ".db" if target.is_sqlite else ".dump"
    return DEFAULT_DIRECTORY / f"prism-{now.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def backup_database(
    target: DatabaseTarget,
    out: Path,
    *,
    busy_timeout_seconds: float = 30,
    progress: Progress | None = None,
) -> BackupResult:
    """Copy the console database to `out` (which must not exist yet) while it stays online."""
    report = progress or (lambda _message: None)
    if out.exists():
        raise BackupError(f"{out} already exists; choose another --out path")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    # Created empty with owner-only permissions first; both writers below keep the mode.
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if target.is_sqlite:
            _backup_sqlite(target, partial, busy_timeout_seconds, report)
        else:
            _backup_postgres(target, partial, report)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=out, size_bytes=out.stat().st_size)


def _backup_sqlite(
    target: DatabaseTarget, partial: Path, busy_timeout_seconds: float, report: Progress
) -> None:
    database = target.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    source_path = Path(database)
    if not source_path.is_file():
        raise BackupError(f"no database file at {source_path}")
    report(f"copying {source_path} ({source_path.stat().st_size:,} bytes) with the backup API")
    source = sqlite3.connect(source_path, timeout=busy_timeout_seconds)
    try:
        copy = sqlite3.connect(partial)
        try:
            # One step (pages=-1) copies from a single read snapshot: in WAL mode writers go on
            # meanwhile, and nothing they commit can make the step restart.
            source.backup(copy, pages=-1)
            # A self-contained file: no -wal or -shm beside it to forget when copying it on.
            copy.execute("PRAGMA journal_mode = DELETE")
            report("verifying the copy")
            verdict = copy.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise BackupError(f"the copy failed its integrity check: {verdict}")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from None
    finally:
        source.close()


def _backup_postgres(target: DatabaseTarget, partial: Path, report: Progress) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump not found on PATH: install the PostgreSQL client tools")
    url = target.url
    environment = dict(os.environ)
    if url.password:
        # Through the environment: a command line is visible to every user of the machine.
        environment["PGPASSWORD"] = str(url.password)
    bare = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    dsn = bare.render_as_string(hide_password=False)
    report(f"running pg_dump on {target.display}")
    command = [pg_dump, "--format=custom", "--no-password", f"--file={partial}", f"--dbname={dsn}"]
    finished = subprocess.run(  # noqa: S603  (fixed program, no shell, arguments as a list)
        command, env=environment, capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        lines = [line.strip() for line in finished.stderr.splitlines() if line.strip()]
        reason = lines[0].removeprefix("pg_dump: ") if lines else f"exit {finished.returncode}"
        raise BackupError(f"pg_dump failed: {reason}")
