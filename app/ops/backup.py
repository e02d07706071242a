"""Online backups: SQLite's backup API, or pg_dump for PostgreSQL; writers are never stopped.

The copy is written next to its destination under a temporary name and renamed when complete,
so a file at the chosen path is always a whole, consistent backup. Backups hold token hashes
and the session secret: they are created readable by their owner only.

A backup directory (PRISM_BACKUP_DIR) holds `prism-<UTC time>.db|.dump` files, each with a
sidecar manifest `<file>.json` written once the copy passed its check (SQLite: PRAGMA
integrity_check; PostgreSQL: pg_restore --list). Only a backup whose manifest says so, and
whose size still matches it, counts as verified.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import URL

from app.core.db import DatabaseTarget
from app.core.errors import PrismError
from app.core.timeutil import isoformat

Progress = Callable[[str], None]
Engine = Literal["sqlite", "postgresql"]
SqliteCheck = Literal["quick_check", "integrity_check"]
DEFAULT_DIRECTORY = Path("backups")
NAME_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
BACKUP_NAME = re.compile(r"^prism-(?P<at>\d{8}T\d{6}Z)\.(?P<suffix>db|dump)$")
ENGINE_OF_SUFFIX: dict[str, Engine] = {"db": "sqlite", "dump": "postgresql"}
MANIFEST_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
MANIFEST_FORMAT = 1


class BackupError(PrismError):
    """The backup could not be made; nothing was left at the destination."""

    status_code = 500


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    # How the copy was checked before it was put in place ("integrity_check ok"...).
    verification: str


@dataclass(frozen=True)
class BackupInfo:
    """One backup of a backup directory, as `prism db backups` lists it."""

    path: Path
    engine: Engine
    size_bytes: int
    taken_at: datetime
    verified: bool
    revision: str | None


def backup_file_name(target: DatabaseTarget, now: datetime) -> str:
    """prism-<UTC timestamp>.db for SQLite, .dump (pg_dump custom format) otherwise."""
    suffix = ".db" if target.is_sqlite else ".dump"
    return f"prism-{now.astimezone(UTC).strftime(NAME_TIME_FORMAT)}{suffix}"


def default_backup_path(target: DatabaseTarget, now: datetime) -> Path:
    """backups/<backup_file_name>: where `prism db backup` writes without --out."""
    return DEFAULT_DIRECTORY / backup_file_name(target, now)


def backup_database(
    target: DatabaseTarget,
    out: Path,
    *,
    busy_timeout_seconds: float = 30,
    progress: Progress | None = None,
    verify: bool = False,
) -> BackupResult:
    """Copy the console database to `out` (which must not exist yet) while it stays online.

    verify: check the copy fully before it is renamed into place (SQLite integrity_check
    instead of quick_check; PostgreSQL pg_restore --list on the archive).
    """
    report = progress or (lambda _message: None)
    if out.exists():
        raise BackupError(f"{out} already exists; choose another --out path")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    # Created empty with owner-only permissions first; both writers below keep the mode.
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if target.is_sqlite:
            check: SqliteCheck = "integrity_check" if verify else "quick_check"
            verification = _backup_sqlite(target, partial, busy_timeout_seconds, report, check)
        else:
            _backup_postgres(target, partial, report)
            verification = "pg_dump exit 0"
            if verify:
                report("verifying the archive with pg_restore --list")
                verification = verify_backup(partial, "postgresql")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=out, size_bytes=out.stat().st_size, verification=verification)


def _backup_sqlite(
    target: DatabaseTarget,
    partial: Path,
    busy_timeout_seconds: float,
    report: Progress,
    check: SqliteCheck,
) -> str:
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
            report(f"verifying the copy (PRAGMA {check})")
            return _sqlite_check(copy, check)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from None
    finally:
        source.close()


def _sqlite_check(connection: sqlite3.Connection, check: str) -> str:
    verdict = connection.execute(f"PRAGMA {check}").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"the copy failed its integrity check: {verdict}")
    return f"{check} ok"


def pg_client_connection(target: DatabaseTarget) -> tuple[str, dict[str, str]]:
    """The --dbname for pg_dump / pg_restore / psql and their environment (password inside).

    The direct server when PRISM_API_DB_LISTEN_URL is set: pg_dump needs one session for its
    snapshot, which a transaction pooler does not keep.
    """
    url = target.server_session_url
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
    return bare.render_as_string(hide_password=False), environment


def client_tool(name: str) -> str:
    """The path of a PostgreSQL client program, or BackupError naming what to install."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client tools")
    return found


def first_error_line(program: str, stderr: str, returncode: int) -> str:
    """`<program> failed: <its first stderr line>`, without the program's own prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = lines[0].removeprefix(f"{program}: ").removeprefix("error: ") if lines else ""
    return f"{program} failed: {reason or f'exit {returncode}'}"


def _backup_postgres(target: DatabaseTarget, partial: Path, report: Progress) -> None:
    pg_dump = client_tool("pg_dump")
    dsn, environment = pg_client_connection(target)
    report(f"running pg_dump on {target.display}")
    command = [pg_dump, "--format=custom", "--no-password", f"--file={partial}", f"--dbname={dsn}"]
    finished = subprocess.run(  # noqa: S603  (fixed program, no shell, arguments as a list)
        command, env=environment, capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise BackupError(first_error_line("pg_dump", finished.stderr, finished.returncode))


def file_engine(path: Path) -> Engine:
    """Which engine a backup file belongs to, from its first bytes."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump archive")


def verify_backup(path: Path, engine: Engine) -> str:
    """Check a backup file whole; BackupError when it fails, else how it was checked."""
    if engine == "sqlite":
        try:
            with sqlite_read_only(path) as connection:
                return _sqlite_check(connection, "integrity_check")
        except sqlite3.Error as exc:
            raise BackupError(f"{path} is not a usable SQLite database: {exc}") from None
    finished = _pg_restore("--list", str(path))
    entries = sum(1 for line in finished.splitlines() if line and not line.startswith(";"))
    return f"pg_restore --list ok ({entries} entries)"


def backup_revision(path: Path, engine: Engine) -> str | None:
    """The migration revision the backed-up database was at (None: no version table)."""
    if engine == "sqlite":
        try:
            with sqlite_read_only(path) as connection:
                found = connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                    ("alembic_version",),
                ).fetchone()
                if found is None:
                    return None
                rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot read {path}: {exc}") from None
        return ",".join(sorted(str(row[0]) for row in rows)) or None
    # The version table's data section of the archive, as the COPY block pg_restore prints.
    script = _pg_restore("--data-only", "--table=alembic_version", "--file=-", str(path))
    lines = script.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("COPY public.alembic_version")]
    if not starts:
        return None
    values = []
    for line in lines[starts[0] + 1 :]:
        if line == "\\.":
            break
        values.append(line.strip())
    return ",".join(sorted(values)) or None


def _pg_restore(*arguments: str) -> str:
    command = [client_tool("pg_restore"), *arguments]
    finished = subprocess.run(  # noqa: S603  (fixed program, no shell, arguments as a list)
        command, capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise BackupError(first_error_line("pg_restore", finished.stderr, finished.returncode))
    return finished.stdout


@contextmanager
def sqlite_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a SQLite file: it creates and changes nothing."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def write_manifest(
    result: BackupResult, *, engine: Engine, taken_at: datetime, revision: str | None
) -> Path:
    """Record a verified backup beside it (written whole, then renamed into place)."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "engine": engine,
        "takenAt": isoformat(taken_at),
        "sizeBytes": result.size_bytes,
        "sha256": sha256_of(result.path),
        "revision": revision,
        "verified": True,
        "verification": result.verification,
    }
    path = manifest_path(result.path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(manifest, file, indent=2)
        file.write("\n")
    partial.replace(path)
    return path


def read_manifest(backup: Path) -> dict[str, Any] | None:
    """The manifest beside a backup, or None when it is missing or unreadable."""
    try:
        loaded = json.loads(manifest_path(backup).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def name_time(name: str) -> datetime | None:
    """The UTC time in a backup's file name (also of its manifest), else None."""
    match = BACKUP_NAME.match(name.removesuffix(MANIFEST_SUFFIX))
    if match is None:
        return None
    return datetime.strptime(match["at"], NAME_TIME_FORMAT).replace(tzinfo=UTC)


def list_backups(directory: Path) -> list[BackupInfo]:
    """The backups in `directory`, newest first; none when it does not exist.

    Other files (an operator's, a copy in progress) are not backups and are left out.
    """
    if not directory.exists():
        return []
    found = []
    for path in directory.iterdir():
        match = BACKUP_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        size = path.stat().st_size
        manifest = read_manifest(path) or {}
        # The name's time is the backup's: it survives copies that reset file times.
        taken_at = name_time(path.name)
        assert taken_at is not None  # the name matched BACKUP_NAME
        revision = manifest.get("revision")
        found.append(
            BackupInfo(
                path=path,
                engine=ENGINE_OF_SUFFIX[match["suffix"]],
                size_bytes=size,
                taken_at=taken_at,
                # A copy cut short or changed since it was checked no longer counts.
                verified=manifest.get("verified") is True and manifest.get("sizeBytes") == size,
                revision=revision if isinstance(revision, str) else None,
            )
        )
    found.sort(key=lambda info: (info.taken_at, info.path.name), reverse=True)
    return found


def newest_verified_backup(directory: Path) -> BackupInfo | None:
    return next((info for info in list_backups(directory) if info.verified), None)
