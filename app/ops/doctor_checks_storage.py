"""Storage checks: the SQLite file's size against free disk, and the newest backup's age.

Seed 000's backup strategy: hourly backups of the console database, kept seven days. A backup
directory is read as `prism db backups` reads it (app.ops.backup): only a verified backup of
this engine counts, and it is late past twice the interval, as /api/health's `backup:age`.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.db import DatabaseTarget
from app.core.timeutil import as_utc, isoformat
from app.ops import backup
from app.ops.doctor_checks import Check, age_text, failed, first_line, passed, size_text, warned

# Below this much free space a VACUUM, a backup or a migration copying a table can fail.
MIN_FREE_BYTES = 1024**3


def sqlite_disk_check(target: DatabaseTarget, disk_usage: Any) -> Check:
    path = Path(str(target.url.database))
    size = sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )
    try:
        free = int(disk_usage(path.resolve().parent).free)
    except OSError as exc:
        return warned("disk", f"cannot read the free space: {first_line(exc)}", "check the mount")
    detail = f"{path} takes {size_text(size)}; {size_text(free)} free on its disk"
    advice = (
        "free space or move the database (a backup, VACUUM or a table-copying migration needs "
        "room for a full copy); prune with `prism db prune`"
    )
    if free < size:
        return failed("disk", f"{detail}: not even one copy of the database fits", advice)
    if free < max(2 * size, MIN_FREE_BYTES):
        return warned("disk", f"{detail}: little room left", advice)
    return passed("disk", detail)


def backup_check(settings: Settings, target: DatabaseTarget, now: datetime) -> Check:
    engine: backup.Engine = "sqlite" if target.is_sqlite else "postgresql"
    interval = settings.backup_interval_minutes * 60
    directory = settings.backup_dir
    scheduled = directory is not None
    where = directory if directory is not None else backup.DEFAULT_DIRECTORY
    try:
        found = [info for info in backup.list_backups(where) if info.engine == engine]
    except OSError as exc:
        return warned(
            "backup_age",
            f"cannot list {where}: {first_line(exc)}",
            f"check that {where} exists and the service can read it",
        )
    verified = [info for info in found if info.verified]
    newest = verified[0] if verified else None
    schedule_advice = (
        "set PRISM_BACKUP_DIR to a directory on another disk: the service then backs up every "
        f"{settings.backup_interval_minutes:g} min (PRISM_BACKUP_INTERVAL_MINUTES) and keeps "
        f"{settings.backup_keep_days:g} days (PRISM_BACKUP_KEEP_DAYS)"
    )
    if not scheduled:
        seen = f"; newest by hand in {where}: {_described(newest, now)}" if newest else ""
        return warned(
            "backup_age",
            f"PRISM_BACKUP_DIR is not set: no scheduled backups{seen}",
            schedule_advice,
        )
    if newest is None:
        unverified = f" ({len(found)} not verified)" if found else ""
        return warned(
            "backup_age",
            f"no verified backup in {where} yet{unverified}",
            "start the service with PRISM_BACKUP_DIR set (it backs up at start, then on the "
            "interval) and look for `backup ... failed` in its log",
        )
    age = (as_utc(now) - newest.taken_at).total_seconds()
    if age > 2 * interval:
        return warned(
            "backup_age",
            f"the newest verified backup is {_described(newest, now)}: older than twice the "
            f"{settings.backup_interval_minutes:g} min interval",
            "scheduled backups have stopped: look for `backup ... failed` in the service log "
            "(full disk, pg_dump missing) and at /api/health backup:age",
        )
    return passed("backup_age", f"newest verified backup: {_described(newest, now)}")


def _described(info: backup.BackupInfo, now: datetime) -> str:
    age = max(0.0, (as_utc(now) - info.taken_at).total_seconds())
    taken = isoformat(info.taken_at)
    return f"{info.path.name}, {age_text(age)} old (taken {taken}, {size_text(info.size_bytes)})"
