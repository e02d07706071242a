"""`prism db backups` and `prism db restore PATH` (registered on the `db` group in db.py)."""

import json
from pathlib import Path
from typing import Annotated

import typer

from app.audit import service as audit
from app.cli.support import (
    database_target,
    load_settings,
    one_line_errors,
    open_session,
    progress,
    say,
)
from app.core.timeutil import isoformat
from app.ops import backup, restore


def format_size(size: int) -> str:
    """1,234 bytes, 12.5 KiB, 3.0 MiB..."""
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


@one_line_errors
def list_command(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Directory to list (default: PRISM_BACKUP_DIR, else ./backups)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """List backups, newest first: taken at, engine, size, verified, path."""
    settings = load_settings()
    where = directory or settings.backup_dir or backup.DEFAULT_DIRECTORY
    found = backup.list_backups(where)
    if as_json:
        rows = [
            {
                "path": str(info.path),
                "engine": info.engine,
                "sizeBytes": info.size_bytes,
                "takenAt": isoformat(info.taken_at),
                "verified": info.verified,
                "revision": info.revision,
            }
            for info in found
        ]
        say(json.dumps({"directory": str(where), "backups": rows}, indent=2))
        return
    if not found:
        state = "" if where.is_dir() else " (the directory does not exist)"
        say(f"No backups in {where}{state}.")
        return
    table = [("TAKEN AT (UTC)", "ENGINE", "SIZE", "VERIFIED", "PATH")]
    table += [
        (
            isoformat(info.taken_at),
            info.engine,
            format_size(info.size_bytes),
            "yes" if info.verified else "no",
            str(info.path),
        )
        for info in found
    ]
    widths = [max(len(row[column]) for row in table) for column in range(4)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        say("  ".join([*cells, row[4]]))


@one_line_errors
def restore_command(
    path: Annotated[Path, typer.Argument(help="Backup file (.db for SQLite, .dump for pg_dump).")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Restore even while a server uses the database (restart it after)."
        ),
    ] = False,
) -> None:
    """Replace the console database with a backup, then migrate it to head.

    Refused while a Prism server is using the database, unless --force.
    """
    settings = load_settings()
    target = database_target(settings)
    result = restore.restore_database(
        target, path, force=force, busy_timeout_seconds=settings.db_timeout, progress=progress
    )
    # Written into the restored database, after the restore: the backup's own log is the
    # history up to the backup, and this row says when and from where it was brought back.
    with open_session(settings) as session:
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="db.restore",
            target_type="database",
            target_id=None,
            summary=f"Restored the database from {Path(result.source).name}",
            detail={"path": str(result.source), "revision": result.revision, "force": force},
        )
        session.commit()
    say(
        f"Restored {target.display} from {result.source} "
        f"(backup at {result.revision or 'no revision'}); now at {result.head}."
    )
    if result.users:
        say(f"Restart the server now: it was using the old database ({', '.join(result.users)}).")
