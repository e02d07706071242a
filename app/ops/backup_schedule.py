"""Scheduled backups (PRISM_BACKUP_DIR): one verified backup per interval, on one replica.

A round runs on the PeriodicJob of app.ops.scheduler, so on PostgreSQL it runs under an
advisory lock of its own: of the replicas sharing the database one runs it at a time. Each
replica keeps its own timer, so a round first looks at the directory (which the replicas
share) and takes a backup only when the newest verified one is due for renewal: a restart or
another replica's timer never adds a backup. On SQLite a lock file in the directory keeps the
processes of `prism serve --workers N` from taking the same backup twice.

A round that fails (the directory cannot be written, pg_dump is missing, the copy fails its
check) is logged in one line, remembered for /api/health, and retried at the next round; it
never reaches the service. Old backups are pruned only after a round succeeded, and the newest
verified backup is never pruned, so failing rounds cannot eat the last good backups.
"""

import errno
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app.core.config import Settings
from app.core.db import DatabaseTarget
from app.core.telemetry import Metrics
from app.core.timeutil import utcnow
from app.live.pg_fanout import session_libpq_url
from app.ops import backup
from app.ops.backup import BackupInfo
from app.ops.scheduler import PeriodicJob

logger = logging.getLogger("prism.backup")

# pg_try_advisory_lock key of the backup round ("prism" + 0B01), apart from retention's.
BACKUP_LOCK_KEY = 0x7072_6973_6D00_0B01
# Start-up settles before a backup that is due; the due check makes early rounds harmless.
FIRST_ROUND_DELAY_SECONDS = 60.0
# A backup is renewed once it is this share of the interval old: replicas' timers and
# clocks differ a little, and a round that finds a fresh backup leaves it be.
DUE_FRACTION = 0.9
# A `.partial` untouched for this long (and at least two intervals) belongs to a copy that
# died with its process; a copy in progress keeps writing to its file.
STALE_PARTIAL_MIN_SECONDS = 3600.0
DIRECTORY_LOCK_NAME = ".prism-backup.lock"
METRIC_NAME = "prism_backup_last_success_timestamp_seconds"

Outcome = Literal["taken", "not due", "busy", "failed"]


@dataclass(frozen=True)
class RoundResult:
    """What one round did: took a backup, found none due, found another process at it, failed."""

    outcome: Outcome
    at: datetime
    backup: BackupInfo | None = None
    error: str | None = None
    pruned: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class BackupHealth:
    """What /api/health reports: the directory's newest verified backup, this replica's last
    round that took or tried to take one."""

    directory: Path
    interval_seconds: float
    newest: BackupInfo | None
    directory_error: str | None
    last_attempt: RoundResult | None


class Backups:
    """The scheduled backups of one service process."""

    def __init__(
        self,
        target: DatabaseTarget,
        *,
        directory: Path,
        interval_seconds: float,
        keep_days: float,
        busy_timeout_seconds: float = 30,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.target = target
        self.directory = directory
        self.interval_seconds = interval_seconds
        self.keep_days = keep_days
        self._busy_timeout_seconds = busy_timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_attempt: RoundResult | None = None
        self._job: PeriodicJob | None = None

    @classmethod
    def from_settings(cls, target: DatabaseTarget, settings: Settings) -> "Backups | None":
        """The configured backups, or None when PRISM_BACKUP_DIR is not set."""
        if settings.backup_dir is None:
            return None
        return cls(
            target,
            directory=settings.backup_dir,
            interval_seconds=settings.backup_interval_minutes * 60,
            keep_days=settings.backup_keep_days,
            busy_timeout_seconds=settings.db_timeout,
        )

    @property
    def last_attempt(self) -> RoundResult | None:
        with self._lock:
            return self._last_attempt

    def run_round(self, *, now: datetime | None = None) -> RoundResult:
        """One round, in this thread: a backup when one is due, then pruning. Never raises."""
        # Whole seconds: the time in the file name is the backup's time.
        at = (now or self._clock()).replace(microsecond=0)
        try:
            result = self._round(at)
        except (backup.BackupError, OSError) as exc:
            result = RoundResult("failed", at, error=_one_line(exc))
            logger.warning(
                "backup to %s failed (%s); next attempt in %s",
                self.directory,
                result.error,
                duration(self.interval_seconds),
            )
        except Exception as exc:  # a defect: logged with its traceback, still never fatal
            result = RoundResult("failed", at, error=f"{type(exc).__name__}: {_one_line(exc)}")
            logger.exception("backup to %s failed unexpectedly", self.directory)
        if result.outcome in ("taken", "failed"):
            with self._lock:
                self._last_attempt = result
        return result

    def _round(self, at: datetime) -> RoundResult:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._directory_lock() as held:
            if not held:
                return RoundResult("busy", at)
            newest = backup.newest_verified_backup(self.directory)
            if newest is not None and at - newest.taken_at < timedelta(
                seconds=self.interval_seconds * DUE_FRACTION
            ):
                return RoundResult("not due", at, backup=newest)
            taken = self._take(at)
            pruned = prune_backups(
                self.directory,
                now=at,
                keep_days=self.keep_days,
                stale_partial_seconds=max(STALE_PARTIAL_MIN_SECONDS, 2 * self.interval_seconds),
            )
        logger.info(
            "backup %s taken and verified (%s bytes); %d old file(s) pruned",
            taken.path,
            f"{taken.size_bytes:,}",
            len(pruned),
        )
        return RoundResult("taken", at, backup=taken, pruned=pruned)

    def _take(self, at: datetime) -> BackupInfo:
        path = self.directory / backup.backup_file_name(self.target, at)
        engine: backup.Engine = "sqlite" if self.target.is_sqlite else "postgresql"
        result = backup.backup_database(
            self.target, path, busy_timeout_seconds=self._busy_timeout_seconds, verify=True
        )
        revision = backup.backup_revision(path, engine)
        backup.write_manifest(result, engine=engine, taken_at=at, revision=revision)
        return BackupInfo(
            path=path,
            engine=engine,
            size_bytes=result.size_bytes,
            taken_at=at,
            verified=True,
            revision=revision,
        )

    @contextmanager
    def _directory_lock(self) -> Iterator[bool]:
        """On SQLite, an exclusive lock file in the directory; PostgreSQL has its advisory lock."""
        if not self.target.is_sqlite:
            yield True
            return
        descriptor = os.open(self.directory / DIRECTORY_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            except OSError as exc:
                if exc.errno != errno.ENOLCK:
                    raise
                # A file system without locks (some network mounts): go on unguarded.
            yield True
        finally:
            os.close(descriptor)  # releases the lock

    def health(self) -> BackupHealth:
        """The directory's newest verified backup and this replica's last attempt."""
        newest, error = None, None
        try:
            newest = backup.newest_verified_backup(self.directory)
        except OSError as exc:
            error = _one_line(exc)
        return BackupHealth(self.directory, self.interval_seconds, newest, error, self.last_attempt)

    def job(self, *, first_delay: float) -> PeriodicJob:
        """The rounds as a PeriodicJob: on PostgreSQL, each under the backup advisory lock."""
        return PeriodicJob(
            "backup",
            lambda _stopping: self.run_round(),
            interval=self.interval_seconds,
            first_delay=first_delay,
            lock_url=None if self.target.is_sqlite else session_libpq_url(self.target),
            lock_key=BACKUP_LOCK_KEY,
        )

    def start(self, *, first_delay: float | None = None) -> None:
        """Schedule the rounds on the running event loop."""
        if first_delay is None:
            first_delay = self.first_delay()
        self._job = self.job(first_delay=first_delay)
        self._job.start()
        logger.info(
            "backups to %s every %s, kept %g days; first round in %s",
            self.directory,
            duration(self.interval_seconds),
            self.keep_days,
            duration(first_delay),
        )

    async def stop(self) -> None:
        if self._job is not None:
            await self._job.stop()
            self._job = None

    def first_delay(self) -> float:
        """Soon when a backup is due (or none exists), else when the newest one falls due."""
        settle = min(FIRST_ROUND_DELAY_SECONDS, self.interval_seconds)
        try:
            newest = backup.newest_verified_backup(self.directory)
        except OSError:
            return settle  # the round will say what is wrong with the directory
        if newest is None:
            return settle
        age = (self._clock() - newest.taken_at).total_seconds()
        return max(settle, min(self.interval_seconds, self.interval_seconds - age))


def prune_backups(
    directory: Path, *, now: datetime, keep_days: float, stale_partial_seconds: float
) -> list[Path]:
    """Delete backups (with their manifests) older than keep_days, and abandoned `.partial`s.

    Backups are aged by the time in their name, `.partial` files by their modification time.
    The newest verified backup is kept whatever its age; files not named like a backup (an
    operator's, the lock file) are never touched.
    """
    keep_after = now - timedelta(days=keep_days)
    newest = backup.newest_verified_backup(directory)
    deleted = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.endswith(backup.PARTIAL_SUFFIX):
            base = name.removesuffix(backup.PARTIAL_SUFFIX)
            if backup.name_time(base) is None:
                continue
            idle = now.timestamp() - path.stat().st_mtime
            if idle <= stale_partial_seconds:
                continue
        else:
            taken_at = backup.name_time(name)
            if taken_at is None or taken_at >= keep_after:
                continue
            if newest is not None and name in (newest.path.name, _manifest_name(newest.path)):
                continue
        path.unlink(missing_ok=True)
        deleted.append(path)
    return deleted


def _manifest_name(path: Path) -> str:
    return backup.manifest_path(path).name


class BackupGauge(Collector):
    """prism_backup_last_success_timestamp_seconds, read from the directory at each scrape.

    The directory is shared by the replicas, so each reports the same newest backup; 0 while
    there is none (or the directory cannot be read), which any age alert treats as overdue.
    """

    def __init__(self, backups: Callable[[], Backups | None]) -> None:
        self._backups = backups

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(METRIC_NAME, _GAUGE_HELP)

    def collect(self) -> Iterator[Metric]:
        backups = self._backups()
        if backups is None:
            return
        status = backups.health()
        value = status.newest.taken_at.timestamp() if status.newest is not None else 0.0
        yield GaugeMetricFamily(METRIC_NAME, _GAUGE_HELP, value=value)


_GAUGE_HELP = "Unix time of the newest verified backup in PRISM_BACKUP_DIR (0: none)."


def install_backup_gauge(metrics: Metrics, backups: Callable[[], Backups | None]) -> None:
    """Export the backup gauge (once per app); nothing while PRISM_BACKUP_DIR is unset."""
    metrics.install_once("backup", lambda: BackupGauge(backups))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, backup.BackupError):
        return exc.detail
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def duration(seconds: float) -> str:
    """A span for people: 45 s, 12 min, 1.5 h, 2 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds:.0f} s"
