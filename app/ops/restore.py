"""Restore the console database from a backup, then migrate it to this version's head.

Refused while a Prism server is using the database, unless forced:
- SQLite: every server holds a shared lock (flock) on `<database>.inuse.lock` for as long as
  it runs (`hold_serving_lock`, taken in the lifespan before migrations); a restore takes it
  exclusively, so it sees any server and no server starts in the middle of a restore.
- PostgreSQL: every connection of a Prism process is named `prism-…` (application_name); a
  restore looks for such sessions on the database in pg_stat_activity (a server always holds
  its live fan-out connection, `prism-live`).

SQLite: the backup is copied with the backup API next to the database, checked, and renamed
over it (one atomic step; the old database's -wal and -shm go first, since a stale WAL
replayed into the restored file would corrupt it). PostgreSQL: the console's tables are
dropped and the archive restored (pg_restore --clean into psql) in ONE transaction, committed
only when pg_restore finished cleanly: a failure leaves the database as it was.
"""

import fcntl
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

import app.models  # noqa: F401  (every table in the metadata)
from app.core.db import DatabaseTarget, create_db_engine
from app.core.errors import ConflictError, PrismError
from app.live.pg_fanout import libpq_url
from app.models import metadata
from app.ops import backup, migrations
from app.ops.backup import BackupError, Progress

logger = logging.getLogger("prism.restore")

LOCK_SUFFIX = ".inuse.lock"
APPLICATION_NAME = "prism-restore"
CONNECT_TIMEOUT_SECONDS = 10


class RestoreError(PrismError):
    """The restore did not happen; the database is as it was."""

    status_code = 500


class DatabaseInUseError(ConflictError):
    """A Prism server is using the database: stop it first, or force the restore."""


@dataclass(frozen=True)
class RestoreResult:
    source: Path
    engine: backup.Engine
    revision: str | None  # the backup's
    head: str  # the database's now
    # Servers that were using the database when the restore was forced.
    users: list[str] = field(default_factory=list)


def serving_lock_path(target: DatabaseTarget) -> Path | None:
    """The lock file of a file-backed SQLite database; None for PostgreSQL or in-memory."""
    database = target.url.database
    if not target.is_sqlite or database in (None, "", ":memory:"):
        return None
    return Path(f"{database}{LOCK_SUFFIX}")


class ServingLock:
    """A running server's shared lock on its SQLite database (released at shutdown)."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def hold_serving_lock(target: DatabaseTarget) -> ServingLock | None:
    """Take the serving lock (waiting while a restore runs); None when there is nothing to lock.

    Blocking: call it from a worker thread.
    """
    path = serving_lock_path(target)
    if path is None:
        return None
    if not path.parent.is_dir():
        return None  # no database either: the probes say why; nothing to guard
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        logger.warning("serving lock %s not taken (%s): restores cannot see this server", path, exc)
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        logger.warning("a restore of %s is running; waiting for it to finish", target.display)
        fcntl.flock(descriptor, fcntl.LOCK_SH)
    except OSError as exc:
        logger.warning("serving lock %s not taken (%s): restores cannot see this server", path, exc)
        os.close(descriptor)
        return None
    return ServingLock(descriptor)


def restore_database(
    target: DatabaseTarget,
    source: Path,
    *,
    force: bool = False,
    busy_timeout_seconds: float = 30,
    progress: Progress | None = None,
) -> RestoreResult:
    """Replace the console database with the backup at `source`, then migrate it to head."""
    report = progress or (lambda _message: None)
    if not source.is_file():
        raise RestoreError(f"no backup file at {source}")
    engine = backup.file_engine(source)
    wanted: backup.Engine = "sqlite" if target.is_sqlite else "postgresql"
    if engine != wanted:
        raise RestoreError(
            f"{source} is a {_ENGINE_NAMES[engine]} backup; the console database "
            f"({target.display}) is {_ENGINE_NAMES[wanted]}"
        )
    _check_manifest(source, report)
    if target.is_sqlite:
        revision, users = _restore_sqlite(target, source, force, busy_timeout_seconds, report)
    else:
        revision, users = _restore_postgres(target, source, force, report)
    report("migrating the restored database to this version's head")
    head = _upgrade(target, busy_timeout_seconds)
    return RestoreResult(source=source, engine=engine, revision=revision, head=head, users=users)


_ENGINE_NAMES: dict[backup.Engine, str] = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _check_manifest(source: Path, report: Progress) -> None:
    """A backup with a manifest must still be the file that was verified."""
    manifest = backup.read_manifest(source)
    if manifest is None or not isinstance(manifest.get("sha256"), str):
        return
    report("comparing the backup with its manifest")
    if backup.sha256_of(source) != manifest["sha256"]:
        raise RestoreError(
            f"{source} differs from its manifest (sha256): the file changed since it was "
            "verified; not restoring it"
        )


def _known_revision(revision: str | None, source: Path) -> None:
    if revision is None:
        return  # no version table: an earlier service's database, adopted by the upgrade
    scripts = migrations.script_directory()
    for part in revision.split(","):
        try:
            scripts.get_revision(part)
        except CommandError:
            raise RestoreError(
                f"{source} is at migration {part}, which this version of Prism does not know: "
                "restore it with the version that made it"
            ) from None


def _refuse_or_warn(users: list[str], force: bool, target: DatabaseTarget) -> None:
    if not users:
        return
    if not force:
        raise DatabaseInUseError(
            f"{target.display} is in use by {', '.join(users)}: stop the server first "
            "(or pass --force and restart it right after)"
        )
    logger.warning("restoring %s while it is in use by %s", target.display, ", ".join(users))


def _restore_sqlite(
    target: DatabaseTarget, source: Path, force: bool, busy_timeout: float, report: Progress
) -> tuple[str | None, list[str]]:
    database = Path(str(target.url.database))
    lock_path = serving_lock_path(target)
    if lock_path is None:
        raise RestoreError("an in-memory database cannot be restored")
    database.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        users = []
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            users = [f"a Prism server (it holds {lock_path})"]
        _refuse_or_warn(users, force, target)
        partial = database.with_name(database.name + ".restoring")
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            report(f"copying {source} ({source.stat().st_size:,} bytes)")
            revision = _copy_sqlite(source, partial, busy_timeout)
            _known_revision(revision, source)
            _keep_owner_and_mode(database, partial)
            report(f"replacing {database}")
            _retire_old_journal(database, busy_timeout)
            partial.replace(database)
            _sync_directory(database.parent)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        os.close(descriptor)  # releases the lock
    return revision, users


def _copy_sqlite(source: Path, partial: Path, busy_timeout: float) -> str | None:
    """Copy with the backup API (a WAL source is read whole), check the copy, read its revision."""
    try:
        with backup.sqlite_read_only(source) as origin:
            copy = sqlite3.connect(partial, timeout=busy_timeout)
            try:
                origin.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode = DELETE")
                verdict = copy.execute("PRAGMA integrity_check").fetchone()
                if verdict is None or verdict[0] != "ok":
                    raise RestoreError(f"{source} failed its integrity check: {verdict}")
            finally:
                copy.close()
    except sqlite3.Error as exc:
        raise RestoreError(f"{source} is not a usable SQLite database: {exc}") from None
    try:
        return backup.backup_revision(partial, "sqlite")
    except BackupError as exc:
        raise RestoreError(exc.detail) from None


def _keep_owner_and_mode(database: Path, partial: Path) -> None:
    """The restored file keeps the old one's mode and owner: the service must still open it."""
    try:
        old = database.stat()
    except FileNotFoundError:
        return
    os.chmod(partial, old.st_mode & 0o777)
    # Not root: chown is refused, and the file is ours as the old one was.
    with suppress(PermissionError):
        os.chown(partial, old.st_uid, old.st_gid)


def _retire_old_journal(database: Path, busy_timeout: float) -> None:
    """Fold the old database's WAL into it, then remove its -wal, -shm and -journal."""
    if database.exists():
        try:
            with closing(sqlite3.connect(database, timeout=busy_timeout)) as old:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            logger.warning("old database not checkpointed before the restore: %s", exc)
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def prism_sessions(target: DatabaseTarget) -> list[str]:
    """Other sessions of Prism processes on the console's PostgreSQL database."""
    query = (
        "SELECT application_name, pid, coalesce(host(client_addr), 'local') "
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND application_name LIKE 'prism%' ORDER BY pid"
    )
    try:
        with psycopg.connect(
            libpq_url(target),
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=f"{APPLICATION_NAME}-check",
        ) as conn:
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise RestoreError(f"cannot reach {target.display}: {_first_line(exc)}") from None
    return [f"{name} (pid {pid}, {client})" for name, pid, client in rows]


def _restore_postgres(
    target: DatabaseTarget, source: Path, force: bool, report: Progress
) -> tuple[str | None, list[str]]:
    try:
        report(f"checking {source} with pg_restore --list")
        backup.verify_backup(source, "postgresql")
        revision = backup.backup_revision(source, "postgresql")
    except BackupError as exc:
        raise RestoreError(exc.detail) from None
    _known_revision(revision, source)
    users = prism_sessions(target)
    _refuse_or_warn(users, force, target)
    report(f"restoring {source} into {target.display} in one transaction")
    _pg_restore_in_one_transaction(target, source)
    return revision, users


def _pg_restore_in_one_transaction(target: DatabaseTarget, source: Path) -> None:
    """pg_restore's script into psql between BEGIN and a COMMIT sent only if it ended well."""
    try:
        pg_restore, psql = backup.client_tool("pg_restore"), backup.client_tool("psql")
    except BackupError as exc:
        raise RestoreError(exc.detail) from None
    dsn, environment = backup.pg_client_connection(target)
    environment["PGAPPNAME"] = APPLICATION_NAME
    # Tables of later migrations are not in an older archive: dropped too, so that the
    # upgrade afterwards creates them as it would on that older database.
    tables = [table.name for table in metadata.sorted_tables] + ["alembic_version"]
    prelude = "BEGIN;\n" + "".join(f'DROP TABLE IF EXISTS "{name}" CASCADE;\n' for name in tables)
    with tempfile.TemporaryFile() as psql_errors, tempfile.TemporaryFile() as dump_errors:
        loader = subprocess.Popen(  # noqa: S603  (fixed program, no shell, arguments as a list)
            [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={dsn}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
            env=environment,
        )
        dumper = subprocess.Popen(  # noqa: S603  (fixed program, no shell, arguments as a list)
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-acl", "--file=-", source],
            stdout=subprocess.PIPE,
            stderr=dump_errors,
        )
        assert loader.stdin is not None and dumper.stdout is not None
        committed = _feed(loader.stdin, dumper, prelude)
        loader.wait()
        if dumper.returncode != 0:
            raise RestoreError(_tool_error("pg_restore", dump_errors, dumper.returncode))
        if loader.returncode != 0 or not committed:
            raise RestoreError(_tool_error("psql", psql_errors, loader.returncode))


def _feed(stdin: IO[bytes], dumper: subprocess.Popen[bytes], prelude: str) -> bool:
    """Send the prelude and the script; COMMIT only when pg_restore exited 0. True if sent."""
    assert dumper.stdout is not None
    committed = False
    try:
        stdin.write(prelude.encode())
        shutil.copyfileobj(dumper.stdout, stdin)
        if dumper.wait() == 0:
            stdin.write(b"COMMIT;\n")
            committed = True
    except BrokenPipeError:
        pass  # psql stopped at an error: it says which below, and nothing was committed
    finally:
        if dumper.poll() is None:
            dumper.kill()
        dumper.wait()
        dumper.stdout.close()
        try:
            stdin.close()  # psql reaches the end: without COMMIT its transaction rolls back
        except BrokenPipeError:
            committed = False
    return committed


def _tool_error(program: str, errors: IO[bytes], returncode: int | None) -> str:
    """The tool's first error, without psql's `psql:<stdin>:LINE: ERROR:` preamble."""
    errors.seek(0)
    text = errors.read().decode("utf-8", "replace")
    found = [line.split("ERROR:", 1)[1].strip() for line in text.splitlines() if "ERROR:" in line]
    if found:
        return f"{program} failed: {found[0]}"
    return backup.first_error_line(program, text, returncode or 0)


def _upgrade(target: DatabaseTarget, busy_timeout: float) -> str:
    engine = create_db_engine(target, busy_timeout_seconds=busy_timeout)
    try:
        migrations.upgrade(engine)
        state = migrations.status(engine)
    except (SQLAlchemyError, CommandError) as exc:
        raise RestoreError(
            f"restored, but the migration to head failed: {_first_line(exc)}; "
            "run `prism db upgrade`"
        ) from None
    finally:
        engine.dispose()
    return state.current or state.head


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
